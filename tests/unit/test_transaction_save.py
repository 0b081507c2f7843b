"""tasks.transaction's shell, run for real with `sh` in a temporary directory: what a deploy
records before it changes a live file, and the app's units before it restarts them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from wsready.deploy import transaction

RUN = "20261130T120000Z-1"


def sh(command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, timeout=30, env=env
    )


@pytest.fixture
def tx(tmp_path: Path, monkeypatch) -> Path:
    """TRANSACTIONS under tmp_path; returns this run's directory."""
    monkeypatch.setattr(transaction, "TRANSACTIONS", str(tmp_path / "transaction"))
    return tmp_path / "transaction" / RUN


def test_a_file_is_saved_once_per_run_even_when_changed_twice(tmp_path: Path, tx: Path) -> None:
    live = tmp_path / "etc" / "app" / "env"
    live.parent.mkdir(parents=True)
    live.write_text("BEFORE=1\n")
    live.chmod(0o600)
    command = transaction.save_command([str(live)], "app", run_id=RUN)
    assert sh(command).returncode == 0
    live.write_text("FIRST_CHANGE=1\n")
    assert sh(command).returncode == 0  # the second change of the same run
    saved = tx / f"files{live}"
    assert saved.read_text() == "BEFORE=1\n"
    assert oct(saved.stat().st_mode & 0o777) == "0o600"  # cp -a keeps the mode
    assert oct(tx.stat().st_mode & 0o777) == "0o700"
    assert (tx / "actions").read_text().split() == ["app", "app"]
    assert not (tx / "absent").exists()


def test_an_absent_file_is_recorded_as_absent_and_stays_so(tmp_path: Path, tx: Path) -> None:
    live = tmp_path / "etc" / "nginx" / "conf.d" / "wsready.conf"
    command = transaction.save_command([str(live)], "nginx", run_id=RUN)
    assert sh(command).returncode == 0
    assert (tx / f"absent{live}").is_file()
    live.parent.mkdir(parents=True)
    live.write_text("server {}\n")  # what the run then writes
    assert sh(command).returncode == 0
    assert not (tx / f"files{live}").exists()  # still "absent before this run"
    assert (tx / "actions").read_text().split() == ["nginx", "nginx"]


def test_a_symlink_is_saved_as_the_link_not_its_target(tmp_path: Path, tx: Path) -> None:
    app_dir = tmp_path / "opt" / "app"
    (app_dir / "releases" / "old").mkdir(parents=True)
    os.symlink("releases/old", app_dir / "current")
    dangling = tmp_path / "dangling"
    os.symlink("/nonexistent/target", dangling)
    command = transaction.save_command([str(app_dir / "current"), str(dangling)], "app", RUN)
    assert sh(command).returncode == 0, sh(command).stderr
    saved = tx / f"files{app_dir}" / "current"
    assert saved.is_symlink() and os.readlink(saved) == "releases/old"
    saved_dangling = tx / f"files{dangling}"
    assert saved_dangling.is_symlink() and os.readlink(saved_dangling) == "/nonexistent/target"
    # A second save of a dangling link keeps the first copy (-L, not only -e).
    os.unlink(dangling)
    os.symlink("/other", dangling)
    assert sh(command).returncode == 0
    assert os.readlink(saved_dangling) == "/nonexistent/target"


@pytest.mark.parametrize(
    "path", ["/etc/with space/env", "/etc/new\nline", "/etc/tab\there", "relative/path", ""]
)
def test_paths_with_whitespace_or_relative_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="not an absolute path without whitespace"):
        transaction.save_command(["/etc/fine", path], "app", RUN)


def test_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown transaction action 'redis'"):
        transaction.save_command(["/etc/fine"], "redis", RUN)


def test_units_are_noted_once_per_run(tmp_path: Path, tx: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    active = tmp_path / "active"
    active.write_text(
        "app@0.service loaded active running w0\napp@1.service loaded active running w1\n"
    )
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\ncat {active}\n')
    (bin_dir / "systemctl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    command = transaction.units_command("app", run_id=RUN)
    assert sh(command, env).returncode == 0
    active.write_text("app@0.service loaded active running w0\n")
    assert sh(command, env).returncode == 0
    assert (tx / "units").read_text().split() == ["app@0.service", "app@1.service"]
    assert (tmp_path / "calls").read_text().splitlines() == [
        "list-units --plain --no-legend --state=active app@*.service app.service"
    ]


def test_commit_and_rollback_commands() -> None:
    assert transaction.commit_command() == "rm -rf /etc/wsready/transaction"
    assert transaction.rollback_command("wsready-app") == (
        "/usr/local/sbin/wsready-rollback /etc/wsready/transaction wsready-app"
    )
    assert transaction.run_dir("r1") == "/etc/wsready/transaction/r1"
