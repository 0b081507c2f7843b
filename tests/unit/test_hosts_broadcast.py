"""Broadcasts across hosts (wsready/probes/hosts.py, run by `wsready check`): two bundled-app
processes standing in for two hosts, sharing a real redis-server on a unix socket, and a third
with no Redis. Where health reports the same Redis, the check requires a message emitted on
one to reach a client held on the other."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_oracle import app
from tests.waiting import wait_for
from wsready.exitstatus import ExitStatus
from wsready.fleet.sweep import CheckOptions, check_all
from wsready.probes import ProbeResult, Target, hosts
from wsready.processes import stop_processes

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture
def redis_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "redis.sock"
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", "0", "--unixsocket", str(path), "--save", "", "--appendonly",
         "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(path.exists, 10, "redis-server's socket")
        yield path
    finally:
        stop_processes(process)


def redis_cli(path: Path, *args: str) -> str:
    result = subprocess.run(
        ["redis-cli", "-s", str(path), *args], capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextlib.contextmanager
def two_hosts(path: Path) -> Iterator[list[Target]]:
    url = f"unix://{path}"
    with app(REDIS_URL=url) as first, app(REDIS_URL=url) as second:
        targets = [
            Target(f"http://127.0.0.1:{port}", name=f"host-{port}") for port in (first, second)
        ]
        for target in targets:  # the app learns the Redis id once connected
            wait_for(
                lambda t=target: check_all([t], CheckOptions(timeout_s=3, retries=0)).outcomes[0],
                10,
                "health naming its Redis",
                until=lambda outcome: any(r.detail.get("redis_id") for r in outcome.results),
            )
        yield targets


def by_name(outcome) -> dict:
    return {result.probe: result for result in outcome.results}


def test_hosts_sharing_redis_get_a_broadcast_across_them(redis_socket: Path) -> None:
    with two_hosts(redis_socket) as targets:
        report = check_all(targets, CheckOptions(timeout_s=3, retries=0))
    assert report.status == ExitStatus.OK, [o.to_dict()["diagnosis"] for o in report.outcomes]
    for outcome in report.outcomes:
        across = by_name(outcome)["hosts-broadcast"]
        assert across.ok and across.detail["hosts"] == [t.label for t in targets]


def test_a_host_without_that_redis_is_not_asked(redis_socket: Path) -> None:
    with two_hosts(redis_socket) as targets, app() as alone:
        report = check_all(
            [*targets, Target(f"http://127.0.0.1:{alone}")], CheckOptions(timeout_s=3, retries=0)
        )
    assert ["hosts-broadcast" in by_name(o) for o in report.outcomes] == [True, True, False]


def test_hosts_that_share_redis_but_do_not_deliver_are_critical(redis_socket: Path) -> None:
    with two_hosts(redis_socket) as targets:
        redis_cli(redis_socket, "ACL", "SETUSER", "default", "-xadd")
        report = check_all(targets, CheckOptions(timeout_s=2, retries=0))
    for outcome in report.outcomes:
        assert outcome.status == ExitStatus.CRITICAL
        assert outcome.diagnosis.code == "hosts-not-delivering", outcome.diagnosis.title
        assert by_name(outcome)["broadcast"].ok, "one worker per host: its own clients still get it"


def _health(redis_id: str, host: str | None) -> list[ProbeResult]:
    detail = {"probe_events": True, "redis_id": redis_id}
    if host:
        detail["host"] = host
    return [ProbeResult("health", "http", True, "== 200", "200", 0.01, detail=detail)]


def test_a_front_door_answered_by_a_host_of_the_group_counts_as_that_host() -> None:
    """A balancer reports the Redis of whichever host answered its health; a client held
    through it lands on any host, so it must not stand for a host of its own."""
    target = Target("http://10.0.0.1")
    runs = [
        (target, _health("r1", "wsr-6")),  # the balancer, first in the list
        (target, _health("r1", "wsr-6")),
        (target, _health("r1", "wsr-8")),
        (target, _health("r2", "wsr-7")),  # its own Redis: alone, not asked
    ]
    labels = ["front", "wsr-6", "wsr-8", "wsr-7"]
    assert hosts.shared_redis(runs, labels) == {"r1": [1, 2]}
    # Two hosts with separate Redis behind one balancer: the balancer and the host it
    # reached are one host, so nothing is asked of that Redis.
    assert hosts.shared_redis(runs[:2], labels[:2]) == {}
    # Without the host header (apps behind other proxies) each target is a host.
    plain = [(target, _health("r1", None)), (target, _health("r1", None))]
    assert hosts.shared_redis(plain) == {"r1": [0, 1]}
