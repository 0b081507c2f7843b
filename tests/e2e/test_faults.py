"""Faults on a sandbox host, each with its recovery time measured and printed.

The node process killed with SIGKILL, the host powered off and on, a deploy killed in the
middle of the app step, and a release that does not start (rolled back automatically). Every
test leaves the fleet host on the bundled release and healthy again ("healthy" = every probe
that runs passes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import DEPLOY_FILE, ROOT, Fleet, host_ssh, redeploy
from tests.e2e.variants import (
    app_variant,
    crash_at_start,
    served_version,
    upgrade_status,
)
from tests.waiting import wait_for
from wsready import sandbox
from wsready.deploy import app_release, generations
from wsready.fleet import targets
from wsready.inventory import host_data
from wsready.probes import Target, run_probes

pytestmark = pytest.mark.e2e

APP = "wsready-app"
RECOVERY_LIMIT_S = 5.0
REBOOT_LIMIT_S = 60.0


def target_of(fleet: Fleet, host: sandbox.SandboxHost) -> Target:
    data = host_data(fleet.inventory)[host.name]
    return targets.target_for_host(host.name, data)


def healthy(target: Target) -> bool:
    results = run_probes(target, timeout_s=2)
    return all(result.ok or result.skipped for result in results)


def failed_probes(target: Target) -> list[str]:
    return [str(r) for r in run_probes(target, timeout_s=2) if not r.ok and not r.skipped]


def npm_ci_processes(host: sandbox.SandboxHost) -> int:
    return int(host_ssh(host, "pgrep -c -f '[n]pm ci' || true").strip())


def current_release(host: sandbox.SandboxHost) -> str:
    return host_ssh(host, "readlink /opt/wsready-app/current").strip()


def serving_units(host: sandbox.SandboxHost, workers: int = 2) -> list[str]:
    """The worker units of the generation nginx serves (slot a or b, app_restart
    "generations")."""
    slot = generations.serving(host_ssh(host, f"cat {generations.ACTIVE_FILE}", check=False))
    return generations.units(APP, slot, workers)


def unit_show(host: sandbox.SandboxHost, unit: str, *properties: str) -> list[str]:
    names = ",".join(properties)
    return host_ssh(host, f"systemctl show -p {names} --value {unit}").split()


@pytest.fixture
def host(fleet: Fleet) -> sandbox.SandboxHost:
    """The last fleet host (test_auth uses the first): healthy before each fault."""
    chosen = fleet.hosts[-1]
    assert healthy(target_of(fleet, chosen)), failed_probes(target_of(fleet, chosen))
    return chosen


def test_node_killed_with_sigkill_is_healthy_again_within_5_s(fleet: Fleet, host):
    target = target_of(fleet, host)
    unit = serving_units(host)[0]  # the first worker
    pid_before, restarts_before = unit_show(host, unit, "MainPID", "NRestarts")
    started = time.monotonic()
    host_ssh(host, f"kill -KILL {pid_before}")
    # The other worker serves meanwhile; recovered = this worker is back and the probes pass.
    wait_for(
        lambda: (failed_probes(target), unit_show(host, unit, "MainPID", "NRestarts")),
        30,
        f"{unit} restarted by systemd and every probe passing",
        until=lambda seen: (
            seen[0] == []
            and seen[1][1] == str(int(restarts_before) + 1)
            and seen[1][0] not in ("0", pid_before)
        ),
    )
    recovered = time.monotonic() - started
    pid_after, restarts_after = unit_show(host, unit, "MainPID", "NRestarts")
    print(
        f"\nSIGKILL to node (pid {pid_before}) on {host.name}: probes pass again after "
        f"{recovered:.2f} s (new pid {pid_after}, systemd restarts {restarts_before} -> "
        f"{restarts_after})"
    )
    assert pid_after != pid_before
    assert int(restarts_after) == int(restarts_before) + 1
    assert recovered <= RECOVERY_LIMIT_S


def test_rebooted_host_serves_again_by_itself(fleet: Fleet, host):
    """Power off and on (same disk): nginx, the app and the firewall start at boot."""
    target = target_of(fleet, host)
    version = served_version(host.address)
    started = time.monotonic()
    sandbox.power_off(host.name)
    off_s = time.monotonic() - started
    assert failed_probes(target), "the host still answers while powered off"
    boot_started = time.monotonic()
    sandbox.power_on(host.name)
    booted_s = time.monotonic() - boot_started
    wait_for(
        lambda: failed_probes(target),
        REBOOT_LIMIT_S,
        f"{host.name} passing every probe after power on",
        until=lambda failed: failed == [],
        interval_s=0.5,
    )
    serving_s = time.monotonic() - boot_started
    print(
        f"\nreboot of {host.name}: powered off in {off_s:.1f} s; systemd up {booted_s:.1f} s "
        f"after power on; probes pass {serving_s:.1f} s after power on"
    )
    workers = " ".join(serving_units(host))
    units = f"nginx {APP}.target {workers}"
    assert host_ssh(host, f"systemctl is-enabled {units}").split() == ["enabled"] * 4
    assert host_ssh(host, f"systemctl is-active nginx {workers}").split() == ["active"] * 3
    assert host_ssh(host, "ufw status").startswith("Status: active")  # the firewall, too
    assert served_version(host.address) == version


def test_deploy_killed_during_the_app_step_converges_on_the_next_run(
    fleet: Fleet, host, tmp_path: Path
):
    """A new release with a new lock hash (an .npmrc), so the app step runs `npm ci`: pyinfra
    is killed once `npm ci` runs on the host. The old release must keep serving; the next run
    converges."""
    source = app_variant(tmp_path / "app", "interrupted deploy")
    (source / ".npmrc").write_text("fund=false\n")
    old_version = served_version(host.address)
    argv = ["pyinfra", "-y", str(fleet.inventory), str(DEPLOY_FILE), "--limit", host.name,
            "--data", f"app_source={source}"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    started = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if "Starting operation" in line and "Install dependencies" in line:
                wait_for(
                    lambda: npm_ci_processes(host),
                    60,
                    f"npm ci running on {host.name}",
                    until=lambda count: count > 0,
                )
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait(timeout=30)
    killed_at = time.monotonic() - started
    assert process.returncode == -signal.SIGKILL, "".join(seen)
    npm_left = npm_ci_processes(host)
    serving_meanwhile = served_version(host.address)
    failed_meanwhile = failed_probes(target_of(fleet, host))

    rerun = redeploy(fleet, "--limit", host.name, "--data", f"app_source={source}")
    new_version = served_version(host.address)
    # The rerun's install waited for the orphaned npm ci (it holds the install lock) and
    # left no temporary tree behind.
    npm_after = npm_ci_processes(host)
    deps_after = host_ssh(host, "ls -A /opt/wsready-app/deps").split()
    print(
        f"\ndeploy killed {killed_at:.1f} s in (npm ci running) on {host.name}: meanwhile "
        f"serving {serving_meanwhile} (old {old_version}), failed probes {failed_meanwhile}, "
        f"npm ci processes left running on the host: {npm_left}; "
        f"next run exit {rerun.returncode} in {rerun.seconds:.1f} s, now serving {new_version}; "
        f"npm ci left after it: {npm_after}; deps: {deps_after}"
    )
    assert serving_meanwhile == old_version
    assert failed_meanwhile == []
    assert npm_after == 0
    assert not [name for name in deps_after if name.startswith(".tmp-")], deps_after
    assert rerun.returncode == 0, str(rerun)
    assert "all probes passed" in rerun.output
    assert new_version not in (None, old_version)
    assert healthy(target_of(fleet, host))

    restored = redeploy(fleet, "--limit", host.name)
    assert restored.returncode == 0, str(restored)
    assert served_version(host.address) == old_version


def watch_versions(address: str, stop: threading.Event, seen: list) -> None:
    """Append (monotonic time, served version or None) every 0.2 s until `stop` (bounded by
    the deploy's own timeout)."""
    while not stop.is_set():
        seen.append((time.monotonic(), served_version(address, timeout_s=1.0)))
        stop.wait(0.2)


def outage(seen: list, old_version: str) -> float | None:
    """Seconds from the first answer that is not the old release to the old release serving
    again, from `watch_versions` samples; None when it never stopped serving."""
    down = next((k for k, (_t, version) in enumerate(seen) if version != old_version), None)
    if down is None:
        return None
    back = next((t for t, version in seen[down:] if version == old_version), None)
    if back is None:
        raise AssertionError(f"old release never served again: {seen[down:][-5:]}")
    return back - seen[down][0]


def test_release_that_crashes_at_start_is_rolled_back(fleet: Fleet, host, tmp_path: Path):
    """The deploy starts a release that exits at start as the new generation of workers
    (app_restart "generations", the default): it never listens, so nginx is never switched
    and the old generation keeps serving without a break; the run's files are put back and
    the deploy still exits non-zero."""
    source = app_variant(tmp_path / "app", "crashes at start", crash_at_start)
    broken_hash = app_release.scan(source).hash
    old_version = served_version(host.address)
    target = target_of(fleet, host)
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=watch_versions, args=(host.address, stop, seen))
    watcher.start()
    try:
        broken = redeploy(fleet, "--limit", host.name, "--data", f"app_source={source}")
    finally:
        stop.set()
        watcher.join(timeout=10)
    down_s = outage(seen, old_version) or 0.0
    serving_after = served_version(host.address)
    failed_after = failed_probes(target)
    upgrade_after = upgrade_status(host.address)
    message = next(line for line in broken.output.splitlines() if "VerifyError: " in line)
    print(
        f"\nbroken release {broken_hash} on {host.name}: deploy exit {broken.returncode} in "
        f"{broken.seconds:.1f} s; the old release was not served for {down_s:.1f} s (from the "
        f"first failed /api/health to the old release answering again, sampled every 0.2 s); "
        f"afterwards version {serving_after} (old {old_version}), /ws {upgrade_after}, "
        f"failing probes {failed_after}\n  {message.strip()}"
    )
    assert broken.returncode != 0
    # The new generation never listened: nginx still sends every client to the old one.
    assert "GenerationError: slot " in broken.output and "keeps serving" in broken.output
    # The new generation was refused for never listening; the verify step then rolls back
    # the files at once instead of waiting for a config that will never be served.
    assert "the new generation was refused" in message and "did not listen" in message
    assert f"rolled back to release {old_version}: it passes the probes again" in message
    assert serving_after == old_version
    assert upgrade_after == 101
    assert failed_after == []
    assert current_release(host) == f"releases/{old_version}"
    # The failed release stays on the host for inspection.
    assert (
        host_ssh(host, f"test -d /opt/wsready-app/releases/{broken_hash} && echo kept") == "kept\n"
    )
    assert down_s == 0, "the old generation served throughout"

    restored = redeploy(fleet, "--limit", host.name)
    assert restored.returncode == 0, str(restored)
    assert served_version(host.address) == old_version


def test_failure_of_a_run_that_changed_nothing_has_nothing_to_roll_back(fleet: Fleet, host):
    """Nothing changes on the host, the probes fail for another reason (here: verify_address
    points them at this machine's own loopback, where nothing serves port 80): the deploy
    fails and says there was nothing to roll back."""
    old_version = served_version(host.address)
    result = redeploy(
        fleet, "--limit", host.name, "--data", "verify_retries=0", "--data", "verify_timeout_s=2",
        "--data", "verify_address=127.0.0.1",
    )  # fmt: skip
    print(f"\nprobe failure with an unchanged release: exit {result.returncode}")
    assert result.returncode != 0
    assert "nothing to roll back: no run changed this host since its last proven deploy" in (
        result.output
    )
    assert "rolled back" not in result.output
    assert served_version(host.address) == old_version
