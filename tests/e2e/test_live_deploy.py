"""A release deploy under load, as the clients see it (issue 21; bench/live_deploy.py at CI
size): official socket.io-client clients with the default options stay connected through
nginx while sequence-numbered broadcasts go out every 250 ms and an `app_env` change replaces
every worker.

- `app_restart = "generations"` (the default): a new generation starts beside the old, is
  proven through nginx, nginx switches, the old one drains (paced). Each client moves exactly
  once, with no connect error, recovers its session, and misses no broadcast.
- A release that crashes at start: with generations it never gets a client and nobody
  notices the failed deploy; with `"one-at-a-time"` (the baseline, the behaviour before
  generations) the clients of the worker it replaced are cut off: the test fails against it.
  (Whether one-at-a-time also moves clients twice depends on how fast a worker restarts:
  least_conn sends them back to a restarted worker that is up before they reconnect, so that
  is printed, not asserted.)
- A deploy killed in the middle of the switch still leaves one generation serving every
  client (the switch runs host-side), and the next run converges.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from bench import live_deploy
from tests.e2e.conftest import ROOT, Fleet, host_ssh, redeploy
from tests.e2e.variants import app_variant, crash_at_start
from tests.waiting import wait_for
from wsready.deploy import generations

pytestmark = pytest.mark.e2e

CLIENTS = 200
ACTIVE = f"cat {generations.ACTIVE_FILE}"
ACTIVE_UNITS = "systemctl list-units --plain --no-legend --state=active 'wsready-app@*.service'"


def _serving(host) -> str:
    """The slot nginx serves ("a" before any generations deploy wrote the file)."""
    return generations.serving(host_ssh(host, ACTIVE, check=False))


def _running(host) -> dict[str, int]:
    units = [line.split()[0] for line in host_ssh(host, ACTIVE_UNITS).splitlines() if line]
    return generations.running_slots(units, "wsready-app")


def test_each_client_moves_once_misses_nothing_and_a_broken_release_moves_nobody(
    fleet: Fleet, tmp_path
) -> None:
    host = fleet.hosts[0]
    source = app_variant(tmp_path / "app", "crashes at start", crash_at_start)
    broken = (f"app_source={source}",)
    try:
        baseline = live_deploy.measure(
            fleet.inventory, host.name, host.address, "one-at-a-time", CLIENTS, 2, "e2e-1",
            data=broken, fails=True,
        )  # fmt: skip
        refused = live_deploy.measure(
            fleet.inventory, host.name, host.address, "wsready", CLIENTS, 2, "e2e-2",
            data=broken, fails=True,
        )  # fmt: skip
        before = _serving(host)
        row = live_deploy.measure(
            fleet.inventory, host.name, host.address, "wsready", CLIENTS, 2, "e2e-3"
        )
        after = _serving(host)
        running = _running(host)
    finally:
        restored = redeploy(fleet, "--limit", host.name)
    print(json.dumps(baseline), json.dumps(refused), json.dumps(row), sep="\n")
    assert restored.returncode == 0, restored.output[-3000:]
    # The baseline: the broken release replaced worker 0 and cut its clients off.
    assert baseline["disconnects_per_client"]["max"] >= 1, baseline
    assert baseline["disconnects_per_client"]["mean"] >= 0.25, baseline
    # Generations: the broken generation failed its proof and never got a client.
    assert refused["clients"] == CLIENTS and refused["broadcasts"] >= 8, refused
    assert refused["disconnects_per_client"] == {"max": 0, "mean": 0}, refused
    assert refused["connect_errors"] == {} and refused["still_disconnected"] == 0, refused
    assert refused["clients_with_gap"] == 0 and refused["broadcasts_missed"] == 0, refused
    # Generations: the other slot took over, the old one runs nothing.
    # (the host may serve either slot when the test starts: each deploy that changes the
    # config moves it to the other one)
    assert after == generations.other(before), (before, after)
    assert running == {before: 0, after: 2}, running
    assert row["clients"] == CLIENTS
    assert row["broadcasts"] >= 8, row  # the deploy took seconds: broadcasts went out meanwhile
    assert row["disconnects_per_client"] == {"max": 1, "mean": 1.0}, row  # each moved once
    assert row["moved_more_than_once"] == 0, row
    assert row["connect_errors"] == {}, row
    assert row["still_disconnected"] == 0, row
    assert row["recovered_fraction"] == 1.0, row
    assert row["clients_with_gap"] == 0 and row["broadcasts_missed"] == 0, row
    assert row["duplicates"] == 0, row
    assert _serving(host) == before and _running(host) == {before: 2, after: 0}, "put back"


def test_a_deploy_killed_during_the_switch_leaves_one_generation_and_the_next_run_converges(
    fleet: Fleet,
) -> None:
    host = fleet.hosts[0]
    start = _serving(host)  # either slot: each deploy that changes the config moves it
    to = generations.other(start)
    assert _running(host) == {start: 2, to: 0}
    procs = [live_deploy.ClientProcess(f"http://{host.address}", 25) for _ in range(2)]
    env = json.dumps({"WSREADY_E2E_KILLED": str(time.time())})
    data = ["--limit", host.name, "--data", f"app_env={env}"]
    try:
        assert sum(proc.ready()["failed"] for proc in procs) == 0
        deploy = subprocess.Popen(
            ["pyinfra", "-y", str(fleet.inventory), "deploy.py", *data],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            # Returns on the host the moment the switch rewrote nginx's `default` line.
            host_ssh(
                host,
                f"for i in $(seq 1200); do grep -qx 'default {generations.UPSTREAMS[to]};' "
                f"{generations.ACTIVE_FILE} && exit 0; sleep 0.05; done; exit 1",
            )
        finally:
            deploy.kill()  # the deploy dies mid-switch (pyinfra and its SSH sessions)
            deploy.wait(timeout=30)
        wait_for(
            lambda: host_ssh(host, generations.switch_units_running_command(), check=False),
            60,
            "the host-side switch to finish",
            until=lambda running: running.strip() == "",
        )
        assert _serving(host) == to and _running(host) == {start: 0, to: 2}
        results = [item for proc in procs for item in proc.result(1, 0)]  # no broadcasts
    finally:
        for proc in procs:
            if proc.process.poll() is None:
                proc.process.kill()
    assert len(results) == 50 and all(r["connected"] for r in results), results[:3]
    assert max(r["disconnects"] for r in results) == 1, "each client moved once"
    assert all(not r["errors"] for r in results), [r["errors"] for r in results if r["errors"]]

    again = redeploy(fleet, *data)  # the same run again: converges, moves nobody
    assert again.returncode == 0, again.output[-3000:]
    assert "already serves this release and config" in again.output, again.output[-3000:]
    assert _serving(host) == to and _running(host) == {start: 0, to: 2}

    restored = redeploy(fleet, "--limit", host.name)
    assert restored.returncode == 0, restored.output[-3000:]
    assert _serving(host) == start and _running(host) == {start: 2, to: 0}
