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
from collections import Counter
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


def hostnames(fleet: MultiHostFleet) -> list[str]:
    """Each app host's name as its nginx gives it (X-Wsready-Host), asked on its own address."""
    return [
        requests.get(f"http://{host.address}/api/health", timeout=5).headers["X-Wsready-Host"]
        for host in fleet.app
    ]


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

    names = hostnames(fleet)
    expect = [f"--expect-host={name}" for name in names]
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "wsready.cli", "check", front_door(fleet), "--json", *expect],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    took = time.monotonic() - started

    report = json.loads(completed.stdout)
    assert completed.returncode == 0, completed.stdout
    probes = {p["probe"]: p for p in report["targets"][0]["probes"]}
    session = probes["session"]
    steps = [s for each in session["detail"]["session_steps"] for s in each["steps"]]
    hosts = {step["host"] for step in steps if step.get("status") is not None}
    assert hosts <= {host.name for host in fleet.app} and hosts, steps
    for each in session["detail"]["session_steps"]:  # a session stays on its host
        assert len({s["host"] for s in each["steps"] if s.get("status")}) == 1, each
    # Every worker of every host is reached by both kinds of session, and said so per host.
    table = {row["host"]: row for row in probes["workers"]["detail"]["host_table"]}
    assert sorted(table) == sorted(names), table
    for row in table.values():
        assert row["workers"] == ["0", "1"] and row["modes"] == ["polling", "websocket"], row
        assert row["failed"] == 0 and row["steps"]["handshake"] >= 1, row
    summary = {row["worker"] for row in report["targets"][0]["workers"]}
    assert summary == {f"{name}/{worker}" for name in names for worker in "01"}, summary
    assert probes["hosts"]["ok"] and probes["hosts"]["detail"]["missing"] == [], probes["hosts"]
    polling = Counter(
        f"{each['steps'][0].get('host')}/{each['worker']}"
        for each in session["detail"]["session_steps"]
    )
    print(f"\ncheck on the balancer's URL: {took:.1f} s, {probes['workers']['actual']}; "
          f"polling sessions per host/worker: {dict(polling)}")  # fmt: skip


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
        # diagnose first: the failed clients' long-polls stay open on one host (until its
        # ping), and leastconn would then send every probe request to the other one.
        report = diagnose(fleet)
        outcome = run_oracle(
            front_door(fleet),
            trigger=broadcast_trigger(lambda c: host_ssh(fleet.app[0], c), WORKER_PORTS),
            clients=40, mode="default", with_credentials=True, connect_timeout_s=30,
        )  # fmt: skip
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


def test_a_host_taken_out_of_the_balancer_is_named_not_registered_while_clients_still_work(
    multi_host_fleet: MultiHostFleet,
) -> None:
    """`check --inventory` probes each app host on its own address, then the balancer host
    expecting those that are healthy: the one HAProxy no longer sends anything to is named;
    the official clients all work (on the other host), so the verdict is a WARNING."""
    fleet = multi_host_fleet
    kept, out = fleet.app
    server = f"{haproxy.BACKEND}/{haproxy.server_name(out.name)}"
    out_name = hostnames(fleet)[1]
    runtime = f"socat stdio {haproxy.ADMIN_SOCKET}"
    host_ssh(fleet.balancer, f"echo 'set server {server} state maint' | {runtime}")
    try:
        wait_for(
            lambda: parse_stat(stats(fleet))[haproxy.server_name(out.name)].status, 30,
            "the host in MAINT", until=lambda status: status.startswith("MAINT"),
        )  # fmt: skip
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "wsready.cli", "check", "--inventory", str(fleet.inventory),
             "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        took = time.monotonic() - started
        held: dict[str, int] = {}
        before = clients_of(fleet)  # the probes' own sessions may still be closing

        def from_kept(nonce: str) -> int:
            held.update(clients_of(fleet))  # while every client is connected
            return broadcast_trigger(lambda c: host_ssh(kept, c), WORKER_PORTS)(nonce)

        outcome = run_oracle(
            front_door(fleet), trigger=from_kept, clients=20, mode="default",
            with_credentials=True, connect_timeout_s=30,
        )  # fmt: skip
    finally:
        host_ssh(fleet.balancer, f"echo 'set server {server} state ready' | {runtime}")
        both_up(fleet)

    report = json.loads(completed.stdout)
    by_name = {target["target"]: target for target in report["targets"]}
    door = by_name[fleet.balancer.name]
    print(f"\none host out of the balancer: check --inventory {took:.1f} s, exit "
          f"{completed.returncode}; {door['diagnosis']['title']}; official clients: "
          f"{outcome.describe()}, per host {held} (before {before})")  # fmt: skip
    assert by_name[out.name]["status"] == "OK", by_name[out.name]["diagnosis"]
    assert door["status"] == "WARNING" and completed.returncode == 1, door["diagnosis"]
    hosts = next(p for p in door["probes"] if p["probe"] == "hosts")
    assert hosts["detail"]["missing"] == [out_name], hosts
    assert door["diagnosis"]["layer"] == "front door", door["diagnosis"]
    assert out_name in door["diagnosis"]["title"] and "not registered" in door["diagnosis"]["title"]
    # The oracle agrees: clients work (WARNING), all of them on the host still registered.
    assert outcome.ok, outcome.describe()
    assert held[out.name] <= before[out.name] and held[kept.name] >= 20, (before, held)
