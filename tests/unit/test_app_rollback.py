"""Release switch, rollback and dependency install: the shell tasks/app.py runs on a host,
run for real in a temporary directory (fake `systemctl` and `npm` on PATH)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tasks.app import AppPaths, install_command, rollback_command, switch_command
from wsready.app_release import Switch

NAME = "demo-app"


def fake_tools(bin_dir: Path, log: Path, npm_seconds: float = 0.0, npm_fails: bool = False):
    """`systemctl` and `npm` that append their arguments to `log`; npm creates node_modules
    in its working directory after `npm_seconds`, or fails."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "systemctl $*" >> {log}\n')
    npm_body = f'echo "npm $* in $(basename "$PWD")" >> {log}\nsleep {npm_seconds}\n' + (
        "echo 'npm ERR! EINTEGRITY' >&2; exit 1\n" if npm_fails else "mkdir node_modules\n"
    )
    (bin_dir / "npm").write_text("#!/bin/sh\n" + npm_body)
    for tool in ("systemctl", "npm"):
        (bin_dir / tool).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def sh(command: str, env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", "-c", command], env=env, capture_output=True, text=True, timeout=30, **kwargs
    )


@pytest.fixture
def host_tree(tmp_path: Path):
    """app_dir with releases old and new, `current` -> old, environment file, the template
    unit and the target."""
    paths = AppPaths(NAME, str(tmp_path / "opt" / NAME), etc=str(tmp_path / "etc"))
    for release in ("old", "new"):
        (Path(paths.app_dir) / "releases" / release).mkdir(parents=True)
    os.symlink("releases/old", f"{paths.app_dir}/current")
    Path(paths.env_dir).mkdir(parents=True)
    Path(paths.env_file).write_text('APP_VERSION="old"\n')
    Path(paths.env_file).chmod(0o600)
    Path(paths.unit_file).parent.mkdir(parents=True)
    Path(paths.unit_file).write_text("ExecStart=node server.js\n")
    Path(paths.target_file).write_text(f"Wants={NAME}@0.service\n")
    log = tmp_path / "calls.log"
    return paths, fake_tools(tmp_path / "bin", log), log


def test_switch_keeps_the_previous_state_and_rollback_restores_it(host_tree) -> None:
    paths, env, log = host_tree
    keep = (paths.env_file, paths.unit_file, paths.target_file)  # what deploy_app keeps
    switched = sh(switch_command(paths.app_dir, "releases/new", "releases/old",
                                 paths.snapshot_dir, keep), env)  # fmt: skip
    assert switched.returncode == 0, switched.stderr
    snapshot = Path(paths.snapshot_dir)
    assert sorted(p.name for p in snapshot.iterdir()) == [
        "demo-app.target", "demo-app@.service", "env", "release",
    ]  # fmt: skip
    assert (snapshot / "release").read_text() == "releases/old\n"
    assert oct(snapshot.stat().st_mode & 0o777) == "0o700"
    assert oct((snapshot / "env").stat().st_mode & 0o777) == "0o600"
    # What the new release's deploy then writes:
    Path(paths.env_file).write_text('APP_VERSION="new"\n')
    Path(paths.unit_file).write_text("ExecStart=node main.js\n")
    Path(paths.target_file).write_text(f"Wants={NAME}@0.service {NAME}@1.service\n")
    assert os.readlink(f"{paths.app_dir}/current") == "releases/new"

    rolled = sh(rollback_command(paths, "old"), env)
    assert rolled.returncode == 0, rolled.stderr
    assert os.readlink(f"{paths.app_dir}/current") == "releases/old"
    assert Path(paths.env_file).read_text() == 'APP_VERSION="old"\n'
    assert Path(paths.unit_file).read_text() == "ExecStart=node server.js\n"
    assert Path(paths.target_file).read_text() == f"Wants={NAME}@0.service\n"
    # The target restarts every worker (they are PartOf it).
    assert log.read_text().splitlines() == [
        "systemctl daemon-reload",
        "systemctl restart demo-app.target",
    ]
    assert (Path(paths.app_dir) / "releases" / "new").is_dir()  # kept for inspection


def test_first_switch_takes_no_snapshot(host_tree) -> None:
    paths, env, _log = host_tree
    os.unlink(f"{paths.app_dir}/current")
    command = switch_command(paths.app_dir, "releases/new", None, paths.snapshot_dir, ())
    assert sh(command, env).returncode == 0
    assert not Path(paths.snapshot_dir).exists()


def test_rollback_to_a_release_no_longer_on_the_host_changes_nothing(host_tree) -> None:
    paths, env, log = host_tree
    os.replace(f"{paths.app_dir}/current", f"{paths.app_dir}/current.bak")
    os.symlink("releases/new", f"{paths.app_dir}/current")
    rolled = sh(rollback_command(paths, "gone"), env)
    assert rolled.returncode == 1
    assert "releases/gone is no longer on the host" in rolled.stderr
    assert os.readlink(f"{paths.app_dir}/current") == "releases/new"
    assert not log.exists()


def test_switch_plan_says_when_there_is_nothing_to_roll_back() -> None:
    assert Switch.from_link("abc", "releases/old1").previous == "old1"
    assert Switch.from_link("abc", "releases/old1").why_no_rollback() is None
    fresh = Switch.from_link("abc", None)
    assert fresh.changes and fresh.previous is None
    assert fresh.why_no_rollback() == "release abc is the first on this host: nothing to roll back"
    same = Switch.from_link("abc", "releases/abc")
    assert not same.changes
    assert "already current before this run: nothing to roll back" in same.why_no_rollback()


@pytest.fixture
def deps_tree(tmp_path: Path):
    app_dir = tmp_path / "app"
    release = app_dir / "releases" / "r1"
    release.mkdir(parents=True)
    (release / "package.json").write_text("{}")
    (release / "package-lock.json").write_text("{}")
    (app_dir / "deps").mkdir()
    return app_dir, str(release), str(app_dir / "deps" / "d1"), tmp_path


def test_install_renames_into_place_only_after_npm_succeeds(deps_tree) -> None:
    app_dir, release, deps, tmp = deps_tree
    (app_dir / "deps" / ".tmp-d1-999").mkdir()  # left by an install that was killed
    log = tmp / "npm.log"
    failing = fake_tools(tmp / "bad", log, npm_fails=True)
    failed = sh(install_command(release, deps, has_npmrc=False), failing)
    assert failed.returncode != 0 and "EINTEGRITY" in failed.stderr
    assert not Path(deps).exists()  # never half-written

    env = fake_tools(tmp / "bin", log)
    done = sh(install_command(release, deps, has_npmrc=False), env)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in Path(deps).iterdir()) == [
        ".installed", "node_modules", "package-lock.json", "package.json",
    ]  # fmt: skip
    assert [p.name for p in (app_dir / "deps").iterdir()] == ["d1"]  # leftovers removed
    assert (app_dir / ".install.lock").exists()


def test_a_second_install_waits_for_the_first_and_does_not_run_npm_again(deps_tree) -> None:
    app_dir, release, deps, tmp = deps_tree
    log = tmp / "npm.log"
    env = fake_tools(tmp / "bin", log, npm_seconds=1.5)
    command = install_command(release, deps, has_npmrc=False)
    first = subprocess.Popen(["sh", "-c", command], env=env, stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    started = time.monotonic()
    second = sh(command, env)
    waited = time.monotonic() - started
    assert first.wait(timeout=30) == 0
    first.stdout.close()
    assert second.returncode == 0, second.stderr
    assert "dependencies d1 were installed by another run" in second.stdout
    assert waited >= 0.5
    assert len(log.read_text().splitlines()) == 1  # npm ran once
    assert (Path(deps) / "node_modules").is_dir()
