"""The fleet's front door on real sandbox hosts: two app hosts, their Redis and a balancer
host (HAProxy, from the lb_* keys), all set up by one `pyinfra -y INVENTORY deploy.py`
(the session's `multi_host_fleet`, shared with test_scaleout).

The judge is the official `socket.io-client` (tests/oracle): through the balancer, with its
default transports (polling, then the upgrade) and a cookie jar as a browser keeps one, every
client connects and upgrades, both hosts hold clients, and a broadcast from either host
reaches all. The front door's faults (no stickiness, an idle timeout below the ping) make
the official client fail, and `wsready diagnose` on the balancer's URL names the front door.
Each fault is put back as found (the balancer's config restored and reloaded, both hosts UP).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import ROOT, MultiHostFleet, host_ssh
from tests.oracle_run import broadcast_trigger, run_oracle
from tests.waiting import wait_for
from wsready.deploy import haproxy
from wsready.fleet.haproxy_door import parse_stat

pytestmark = pytest.mark.e2e

WORKER_PORTS = [3000, 3001]
CLIENTS = 1000
BACKUP = "/root/haproxy.cfg.e2e-backup"


def stats(fleet: MultiHostFleet) -> str:
    return host_ssh(fleet.balancer, f"echo 'show stat' | socat stdio {haproxy.ADMIN_SOCKET}")


def frontend_sessions(fleet: MultiHostFleet) -> int:
    """Connections the balancer has accepted since it started (`stot` of the frontend)."""
    for line in stats(fleet).splitlines():
        fields = line.split(",")
        if fields[:2] == ["wsready", "FRONTEND"]:
            return int(fields[7])
    raise AssertionError(f"no frontend in HAProxy's stats:\n{stats(fleet)}")


def both_up(fleet: MultiHostFleet) -> dict:
    return wait_for(
        lambda: parse_stat(stats(fleet)),
        60,
        "both app hosts UP behind the balancer",
        until=lambda servers: len(servers) == 2 and all(s.healthy for s in servers.values()),
    )


@contextlib.contextmanager
def balancer_config(fleet: MultiHostFleet, *sed: str) -> Iterator[None]:
    """HAProxy's config changed by `sed` expressions and reloaded; restored and reloaded
    after, with both hosts UP again."""
    edits = " ".join(f"-e {json.dumps(expression)}" for expression in sed)
    host_ssh(fleet.balancer, f"cp {haproxy.CONFIG} {BACKUP}")
    try:
        host_ssh(fleet.balancer, f"sed -i -E {edits} {haproxy.CONFIG} && systemctl reload haproxy")
        both_up(fleet)
        yield
    finally:
        host_ssh(fleet.balancer, f"cp {BACKUP} {haproxy.CONFIG} && systemctl reload haproxy")
        both_up(fleet)


def front_door(fleet: MultiHostFleet) -> str:
    return f"http://{fleet.balancer.address}"


def diagnose(fleet: MultiHostFleet, *extra: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "wsready.cli", "diagnose", front_door(fleet), "--json", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    return json.loads(completed.stdout)


def clients_of(fleet: MultiHostFleet) -> dict[str, int]:
    """Socket.IO clients each app host holds (its own /api/health, all its workers)."""
    return {
        host.name: requests.get(f"http://{host.address}/api/health", timeout=5).json()["clients"]
        for host in fleet.app
    }


def test_one_deploy_makes_the_balancer_and_check_names_the_host_of_every_step(
    multi_host_fleet: MultiHostFleet,
) -> None:
    fleet = multi_host_fleet
    assert host_ssh(fleet.balancer, "systemctl is-active haproxy").strip() == "active"
    assert "nginx" not in host_ssh(fleet.balancer, "ls /etc/systemd/system/multi-user.target.wants")
    servers = both_up(fleet)
    assert sorted(servers) == sorted(host.name for host in fleet.app)
    answered = {
        requests.get(f"{front_door(fleet)}/api/health", timeout=5).headers["X-Wsready-Host"]
        for _ in range(6)
    }
    assert answered == {host.name for host in fleet.app}, "the balancer spreads over both"

    completed = subprocess.run(
        [sys.executable, "-m", "wsready.cli", "check", front_door(fleet), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    report = json.loads(completed.stdout)
    assert completed.returncode == 0, completed.stdout
    session = next(p for p in report["targets"][0]["probes"] if p["probe"] == "session")
    steps = [s for each in session["detail"]["session_steps"] for s in each["steps"]]
    hosts = {step["host"] for step in steps if step.get("status") is not None}
    assert hosts <= {host.name for host in fleet.app} and hosts, steps
    for each in session["detail"]["session_steps"]:  # a session stays on its host
        assert len({s["host"] for s in each["steps"] if s.get("status")}) == 1, each


def test_official_clients_through_the_balancer_connect_upgrade_and_get_broadcasts_from_either_host(
    multi_host_fleet: MultiHostFleet,
) -> None:
    fleet = multi_host_fleet
    first, second = fleet.app
    held: dict[str, int] = {}

    def from_first(nonce: str) -> int:
        held.update(clients_of(fleet))  # while every client is connected
        return broadcast_trigger(lambda c: host_ssh(first, c), WORKER_PORTS)(nonce)

    started = time.monotonic()
    outcome = run_oracle(
        front_door(fleet), trigger=from_first, clients=CLIENTS, mode="default",
        with_credentials=True, connect_timeout_s=90, broadcast_timeout_s=30,
    )  # fmt: skip
    took = time.monotonic() - started
    print(f"\n{CLIENTS} official clients through the balancer: {outcome.describe()} in "
          f"{took:.1f} s; clients per host while connected: {held}")  # fmt: skip
    assert outcome.ok, outcome.describe()
    assert all(count > 0 for count in held.values()) and len(held) == 2, held
    assert sum(held.values()) >= CLIENTS, held

    again = run_oracle(
        front_door(fleet), trigger=broadcast_trigger(lambda c: host_ssh(second, c), WORKER_PORTS),
        clients=100, mode="default", with_credentials=True, connect_timeout_s=30,
    )  # fmt: skip
    print(f"broadcast from {second.name}: {again.describe()}")
    assert again.ok, again.describe()


def test_without_stickiness_the_client_fails_and_diagnose_names_the_front_door(
    multi_host_fleet: MultiHostFleet,
) -> None:
    fleet = multi_host_fleet
    with balancer_config(fleet, "/^    cookie /d", "s/ check cookie .*/ check/"):
        outcome = run_oracle(
            front_door(fleet),
            trigger=broadcast_trigger(lambda c: host_ssh(fleet.app[0], c), WORKER_PORTS),
            clients=40, mode="default", with_credentials=True, connect_timeout_s=30,
        )  # fmt: skip
        report = diagnose(fleet)
    print(f"\nno stickiness: {outcome.describe()}")
    assert not outcome.ok
    assert "xhr p" in outcome.describe(), outcome.describe()  # xhr poll/post error
    assert report["diagnosis"]["layer"] == "front door", report["diagnosis"]
    assert report["diagnosis"]["code"] == "front-door-stickiness"


def test_an_idle_timeout_below_the_ping_cuts_the_client_and_diagnose_names_the_front_door(
    multi_host_fleet: MultiHostFleet,
) -> None:
    fleet = multi_host_fleet
    clients = 20

    def after_the_cut(nonce: str) -> int:
        # Each client cut while idle reconnects: new connections at the balancer.
        before = frontend_sessions(fleet)
        wait_for(
            lambda: frontend_sessions(fleet), 30, "idle clients cut and reconnecting",
            until=lambda now: now >= before + clients,
        )  # fmt: skip
        return broadcast_trigger(lambda c: host_ssh(fleet.app[0], c), WORKER_PORTS)(nonce)

    with balancer_config(fleet, r"s/timeout (client|server|tunnel) [0-9]+s/timeout \1 8s/"):
        outcome = run_oracle(
            front_door(fleet), trigger=after_the_cut, clients=clients, mode="default",
            with_credentials=True, connect_timeout_s=30, broadcast_timeout_s=10,
        )  # fmt: skip
        report = diagnose(fleet, "--timeout", "30")
    print(f"\nidle timeout 8 s: {outcome.describe()}")
    assert not outcome.ok
    assert "disconnect transport close" in outcome.describe(), outcome.describe()
    assert report["diagnosis"]["code"] == "front-door-idle", report["diagnosis"]
    assert report["diagnosis"]["layer"] == "front door"
