"""Release switch (recorded in the run's transaction, put back by wsready-rollback) and
dependency install: the shell tasks/app.py runs on a host, run for real in a temporary
directory (fake `systemctl` and `npm` on PATH)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tasks.transaction import ROLLBACK_SCRIPT
from tests.waiting import wait_for
from wsready.deploy import transaction
from wsready.deploy.app_config import AppPaths
from wsready.deploy.operations.release import install_command, switch_command
from wsready.deploy.proxy_conf import NPMRC

NAME = "demo-app"


def fake_tools(bin_dir: Path, log: Path, npm_gate: Path | None = None, npm_fails: bool = False):
    """`systemctl` and `npm` that append their arguments to `log`; npm creates node_modules
    in its working directory, or fails; with `npm_gate`, only once that file exists (a slow
    npm the test releases; it gives up after 30 s)."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "systemctl $*" >> {log}\n')
    gate = f"timeout 30 sh -c 'until [ -e {npm_gate} ]; do sleep 0.05; done'\n" if npm_gate else ""
    npm_body = f'echo "npm $* in $(basename "$PWD") as $(id -un)" >> {log}\n{gate}' + (
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
def host_tree(tmp_path: Path, monkeypatch):
    """app_dir with releases old and new, `current` -> old; the run's transaction under
    tmp_path; fake `systemctl` that answers list-units with two running workers."""
    monkeypatch.setattr(transaction, "TRANSACTIONS", str(tmp_path / "transaction"))
    paths = AppPaths(NAME, str(tmp_path / "opt" / NAME), etc=str(tmp_path / "etc"))
    for release in ("old", "new"):
        (Path(paths.app_dir) / "releases" / release).mkdir(parents=True)
    os.symlink("releases/old", f"{paths.app_dir}/current")
    log = tmp_path / "calls.log"
    env = fake_tools(tmp_path / "bin", log)
    (tmp_path / "bin" / "systemctl").write_text(
        f'#!/bin/sh\necho "systemctl $*" >> {log}\n'
        f'case "$1" in list-units) printf "%s\\n" "{NAME}@0.service loaded active running w"'
        f' "{NAME}@1.service loaded active running w" ;; esac\n'
    )
    run = tmp_path / "transaction" / transaction.RUN_ID
    return paths, env, log, run


def test_switch_records_current_and_the_units_then_switches_atomically(host_tree) -> None:
    paths, env, log, run = host_tree
    switched = sh(switch_command(paths.app_dir, "releases/new", NAME), env)
    assert switched.returncode == 0, switched.stderr
    assert os.readlink(f"{paths.app_dir}/current") == "releases/new"
    assert not Path(f"{paths.app_dir}/.current.new").exists()  # renamed, not copied
    saved = run / f"files{paths.app_dir}" / "current"
    assert saved.is_symlink() and os.readlink(saved) == "releases/old"
    assert (run / "units").read_text().split() == [f"{NAME}@0.service", f"{NAME}@1.service"]
    assert (run / "actions").read_text().split() == ["app"]
    assert oct(run.stat().st_mode & 0o777) == "0o700"
    # A second switch in the same run (e.g. a retry) keeps what was live before the run.
    again = sh(switch_command(paths.app_dir, "releases/old", NAME), env)
    assert again.returncode == 0, again.stderr
    assert os.readlink(saved) == "releases/old" and os.readlink(f"{paths.app_dir}/current") == (
        "releases/old"
    )
    assert log.read_text().count("list-units") == 1  # the units are noted once per run


def test_rollback_script_puts_the_release_link_back(host_tree) -> None:
    paths, env, log, run = host_tree
    assert sh(switch_command(paths.app_dir, "releases/new", NAME), env).returncode == 0
    rolled = subprocess.run(
        ["sh", str(ROLLBACK_SCRIPT), str(run.parent), NAME],
        env={**env, "WSREADY_ROLLBACK_ROOT": ""},  # the recorded paths are in tmp already
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert rolled.returncode == 0, rolled.stderr
    assert os.readlink(f"{paths.app_dir}/current") == "releases/old"
    assert f"systemctl restart {NAME}@0.service {NAME}@1.service" in log.read_text()
    assert (Path(paths.app_dir) / "releases" / "new").is_dir()  # kept for inspection
    assert not run.parent.exists()


def test_first_switch_records_current_as_absent(host_tree) -> None:
    paths, env, _log, run = host_tree
    os.unlink(f"{paths.app_dir}/current")
    switched = sh(switch_command(paths.app_dir, "releases/new", NAME), env)
    assert switched.returncode == 0, switched.stderr
    assert (run / f"absent{paths.app_dir}" / "current").is_file()
    assert not (run / "files").exists()
    assert os.readlink(f"{paths.app_dir}/current") == "releases/new"


APP_USER = "nobody"  # npm runs as the app's user: any unprivileged user of this machine


@pytest.fixture
def deps_tree(tmp_path: Path):
    # The app's user must reach the tree and the fake npm's log (pytest's tmp is 0700).
    for directory in (tmp_path, tmp_path.parent, tmp_path.parent.parent):
        directory.chmod(0o755)
    (tmp_path / "npm.log").touch(mode=0o666)
    (tmp_path / "npm.log").chmod(0o666)
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
    command = install_command(release, deps, has_npmrc=False, npm_config=NPMRC, user=APP_USER)
    failed = sh(command, failing)
    assert failed.returncode != 0 and "EINTEGRITY" in failed.stderr
    assert not Path(deps).exists()  # never half-written

    env = fake_tools(tmp / "bin", log)
    done = sh(command, env)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in Path(deps).iterdir()) == [
        ".installed", "node_modules", "package-lock.json", "package.json",
    ]  # fmt: skip
    assert [p.name for p in (app_dir / "deps").iterdir()] == ["d1"]  # leftovers removed
    assert (app_dir / ".install.lock").exists()
    # npm ran as the app's user, never root; the tree it wrote now belongs to root and
    # nobody else may write it.
    assert [line.rsplit(" as ", 1)[1] for line in log.read_text().splitlines()] == [APP_USER] * 2
    for path in [Path(deps), *Path(deps).rglob("*")]:
        assert path.stat().st_uid == 0 and not path.stat().st_mode & 0o022, path


def flock_waiters(path: Path) -> int:
    """How many processes wait for an flock on `path` (/proc/locks: `N: -> FLOCK ...`)."""
    inode = f":{path.stat().st_ino} "
    locks = Path("/proc/locks").read_text().splitlines()
    return sum("-> FLOCK" in line and inode in line for line in locks)


def test_a_second_install_waits_for_the_first_and_does_not_run_npm_again(deps_tree) -> None:
    app_dir, release, deps, tmp = deps_tree
    log, gate = tmp / "npm.log", tmp / "npm-may-finish"
    env = fake_tools(tmp / "bin", log, npm_gate=gate)
    command = install_command(release, deps, has_npmrc=False, npm_config=NPMRC, user=APP_USER)
    first = subprocess.Popen(["sh", "-c", command], env=env, stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: log.exists() and log.read_text(), 10, "the first install's npm ci")
        second = subprocess.Popen(["sh", "-c", command], env=env, stdout=subprocess.PIPE, text=True)
        lock = app_dir / ".install.lock"
        wait_for(lambda: flock_waiters(lock), 10, f"the second install waiting for {lock}")
        assert second.poll() is None  # held by the lock, not finished
    finally:
        gate.touch()
    assert first.wait(timeout=30) == 0
    second_out, _ = second.communicate(timeout=30)
    first.stdout.close()
    assert second.returncode == 0
    assert "dependencies d1 were installed by another run" in second_out
    assert len(log.read_text().splitlines()) == 1  # npm ran once
    assert (Path(deps) / "node_modules").is_dir()
