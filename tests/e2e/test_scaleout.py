"""Scale-out on real sandbox hosts: every worker of one host, and several hosts through Redis.

One host (the shared fleet, deployed with the defaults): 2 workers on 2 CPUs and a Redis of
its own on a unix socket. A fleet of three (two app hosts and one host of the `redis`
group, on the sandbox LAN): a broadcast from either app host reaches the clients of both.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import socketio

from tests.e2e.conftest import (
    REDIS_PASSWORD,
    RELEASES,
    ROOT,
    Fleet,
    MultiHostFleet,
    fleet_of,
    host_ssh,
    redeploy,
)
from tests.waiting import wait_for
from wsready import sandbox

pytestmark = pytest.mark.e2e

APP = "wsready-app"


@pytest.fixture(scope="module", params=RELEASES)
def fleet(request: pytest.FixtureRequest) -> Fleet:
    """This module runs on the bookworm fleet and on the trixie one (what differs between
    releases: Redis, systemd's worker units)."""
    return fleet_of(request)


def health(address: str) -> dict:
    return requests.get(f"http://{address}/api/health", timeout=5).json()


def counts(state: dict) -> dict:
    """up, total and current of health's `workers` (without the per-worker list)."""
    return {key: state["workers"][key] for key in ("up", "total", "current")}


class Listener:
    """One Socket.IO client over the WebSocket transport that records `bench` broadcasts."""

    def __init__(self, address: str) -> None:
        self.received: list[dict] = []
        self.arrived = threading.Event()
        self.client = socketio.Client(reconnection=True, reconnection_delay=0.2)
        self.client.on("bench", self._on_bench)
        self.client.connect(
            f"http://{address}", socketio_path="/ws", transports=["websocket"], wait_timeout=10
        )

    def _on_bench(self, data: dict, *_offset: str) -> None:
        # With connection state recovery on, every event carries the stream offset last:
        # socket.io-client keeps it for recovery, python-socketio passes it on.
        self.received.append(data)
        self.arrived.set()

    @property
    def worker(self) -> str:
        """The worker that holds this client: the prefix of its Engine.IO session id."""
        return self.client.eio.sid.split("-", 1)[0]

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    made: list[Listener] = []
    yield made
    for listener in made:
        listener.close()


def broadcast(host: sandbox.SandboxHost, worker: int, marker: str) -> dict:
    """POST /api/broadcast to one worker over loopback on the host, as an operator would."""
    body = json.dumps({"event": "bench", "data": {"marker": marker}})
    answer = host_ssh(
        host,
        "curl -sS -X POST -H 'Content-Type: application/json' "
        f"-d '{body}' http://127.0.0.1:{3000 + worker}/api/broadcast",
    )
    return json.loads(answer)


def missing(listeners: list[Listener], marker: str) -> int:
    """How many of `listeners` have not received `marker` yet."""
    return sum(
        not any(item.get("marker") == marker for item in each.received) for each in listeners
    )


def wait_received(listeners: list[Listener], marker: str, what: str) -> None:
    wait_for(lambda: missing(listeners, marker), 10, what, until=lambda left: left == 0)


def test_every_worker_serves_and_a_broadcast_reaches_the_clients_of_all(
    fleet: Fleet, listeners: list[Listener]
) -> None:
    host = fleet.hosts[0]
    assert (
        host_ssh(host, f"systemctl is-active {APP}@0 {APP}@1 redis-server").split()
        == ["active"] * 3
    )
    listeners += [Listener(host.address) for _ in range(8)]
    workers = {listener.worker for listener in listeners}
    assert workers == {"0", "1"}, f"least_conn spreads new clients over both workers: {workers}"
    state = wait_for(
        lambda: health(host.address),
        10,
        "health counts the clients of both workers",
        until=lambda h: h["clients"] >= 8,
    )
    assert counts(state) == {"up": 2, "total": 2, "current": 2}
    assert state["redis"] == "ok" and state["status"] == "ok"
    for worker in (0, 1):
        marker = f"from-worker-{worker}"
        assert broadcast(host, worker, marker)["sent"] is True
        wait_received(listeners, marker, f"broadcast {marker} everywhere")


def test_polling_session_stays_on_the_worker_that_made_it(fleet: Fleet) -> None:
    address = fleet.hosts[0].address
    base = f"http://{address}/ws/?EIO=4&transport=polling"
    for _ in range(6):
        opened = requests.get(base, timeout=5)
        sid = json.loads(opened.text[1:])["sid"]
        # Socket.IO CONNECT, then a poll: both must reach the worker holding the session.
        posted = requests.post(f"{base}&sid={sid}", data="40", timeout=5)
        assert posted.status_code == 200, (sid, posted.status_code, posted.text)
        polled = requests.get(f"{base}&sid={sid}", timeout=5)
        assert polled.status_code == 200 and polled.text.startswith("40"), (sid, polled.text)


def test_a_killed_worker_restarts_and_its_clients_come_back(
    fleet: Fleet, listeners: list[Listener]
) -> None:
    host = fleet.hosts[0]
    listeners += [Listener(host.address) for _ in range(6)]
    on_zero = [listener for listener in listeners if listener.worker == "0"]
    assert on_zero, "some clients are on worker 0"
    before = int(host_ssh(host, f"systemctl show -p NRestarts --value {APP}@0"))
    sessions = {id(each): each.client.eio.sid for each in on_zero}
    host_ssh(host, f"kill -KILL $(systemctl show -p MainPID --value {APP}@0.service)")
    wait_for(
        lambda: all(
            each.client.connected and each.client.eio.sid not in (None, sessions[id(each)])
            for each in on_zero
        ),
        20,
        "worker 0's clients reconnected with new sessions",
    )
    wait_for(
        lambda: health(host.address),
        20,
        "health says 2/2 workers again",
        until=lambda h: counts(h) == {"up": 2, "total": 2, "current": 2},
    )
    assert int(host_ssh(host, f"systemctl show -p NRestarts --value {APP}@0")) == before + 1
    marker = "after-the-kill"
    broadcast(host, 1, marker)
    wait_received(listeners, marker, "a broadcast after the restart")


def test_redis_down_is_degraded_and_diagnosed_as_redis(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host_ssh(host, "systemctl stop redis-server")
    try:
        state = wait_for(
            lambda: health(host.address),
            15,
            "health reports Redis down",
            until=lambda h: h["redis"] == "down",
        )
        assert state["status"] == "degraded"
        diagnosis = subprocess.run(
            [sys.executable, "-m", "wsready.cli", "diagnose", f"http://{host.address}", "--json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        report = json.loads(diagnosis.stdout)
        assert report["diagnosis"]["layer"] == "redis", diagnosis.stdout
        assert diagnosis.returncode == 2, "CRITICAL: broadcasts no longer cross the 2 workers"
        broadcast = next(p for p in report["results"] if p["probe"] == "broadcast")
        assert broadcast["state"] == "FAIL", broadcast
    finally:
        host_ssh(host, "systemctl start redis-server")
    wait_for(
        lambda: health(host.address),
        20,
        "health ok once Redis is back",
        until=lambda h: h["status"] == "ok",
    )


# --- two app hosts and one Redis host ------------------------------------------------------


@pytest.fixture(scope="module")
def redis_fleet(multi_host_fleet: MultiHostFleet) -> list[sandbox.SandboxHost]:
    """The session's multi-host fleet: two app hosts and the Redis host (its balancer host
    is test_front_door's)."""
    return [*multi_host_fleet.app, multi_host_fleet.redis]


def test_a_broadcast_from_either_app_host_reaches_clients_on_both(
    redis_fleet: list[sandbox.SandboxHost], listeners: list[Listener]
) -> None:
    first, second, redis_host = redis_fleet
    assert host_ssh(redis_host, "systemctl is-active redis-server").strip() == "active"
    assert "nginx" not in host_ssh(redis_host, "ls /etc/systemd/system/multi-user.target.wants")
    for host in (first, second):
        state = health(host.address)
        assert state["redis"] == "ok", state
        listeners += [Listener(host.address) for _ in range(4)]
    for host, worker in ((first, 0), (second, 1)):
        marker = f"from-{host.name}-worker-{worker}"
        assert broadcast(host, worker, marker)["sent"] is True
        wait_received(listeners, marker, f"{marker} on both hosts")


def test_check_proves_a_broadcast_across_the_app_hosts(
    redis_fleet: list[sandbox.SandboxHost],
) -> None:
    """Both app hosts report the same Redis: `wsready check` holds a client on each, emits on
    one and requires it on the other (the hosts-broadcast probe, in each target's run)."""
    first, second, _redis_host = redis_fleet
    urls = [f"http://{first.address}", f"http://{second.address}"]
    completed = subprocess.run(
        [sys.executable, "-m", "wsready.cli", "check", *urls, "--json", "--timeout", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(completed.stdout)
    assert completed.returncode == 0, completed.stdout
    for target in report["targets"]:
        across = next(p for p in target["probes"] if p["probe"] == "hosts-broadcast")
        assert across["ok"] and across["detail"]["hosts"] == urls, across
        assert [w["ok"] for w in target["workers"]] == [True, True], target["workers"]


def test_redis_host_answers_only_the_app_hosts(redis_fleet: list[sandbox.SandboxHost]) -> None:
    first, _second, redis_host = redis_fleet
    ping = f"redis-cli -h {redis_host.lan_address} -a {REDIS_PASSWORD} --no-auth-warning ping"
    # An app host reaches it over the private network (redis-cli from the redis-tools the
    # app host does not have: speak RESP with bash's /dev/tcp instead).
    resp = (
        f"exec 3<>/dev/tcp/{redis_host.lan_address}/6379 && "
        f"printf 'AUTH {REDIS_PASSWORD}\\r\\nPING\\r\\n' >&3 && timeout 3 head -c 12 <&3"
    )
    assert "+PONG" in host_ssh(first, f"bash -c {json.dumps(resp)}")
    assert "PONG" in host_ssh(redis_host, ping)
    # Not from this machine (outside the fleet): not listening on the address it reaches...
    with pytest.raises(OSError):
        socket.create_connection((redis_host.address, 6379), timeout=3).close()
    # ...and the firewall admits only the app hosts' private addresses on 6379.
    rules = host_ssh(redis_host, "ufw status")
    allowed = sorted(set(re.findall(r"6379/tcp\s+ALLOW\s+(\S+)", rules)))
    assert allowed == sorted({first.lan_address, redis_fleet[1].lan_address}), rules
    assert not re.search(r"^80/tcp", rules, re.M), rules


def test_redis_password_is_readable_by_redis_only(redis_fleet: list[sandbox.SandboxHost]) -> None:
    redis_host = redis_fleet[2]
    mode = host_ssh(redis_host, "stat -c '%a %U %G' /etc/redis/wsready-auth.conf").split()
    assert mode == ["600", "redis", "redis"]


def errors_of(output: str) -> str:
    """The lines of a deploy's output that name an error (they may be far from its end)."""
    return "\n".join(line for line in output.splitlines() if "Error" in line)


def test_a_redeploy_restarts_the_workers_without_dropping_a_request(fleet: Fleet) -> None:
    """A new generation starts beside the serving one (app_restart "generations", the
    default): nginx always has a worker to send a request to.

    Each request opens its own connection. The switch reloads nginx, and an nginx worker
    that shuts down gracefully closes its idle keep-alive connections; a request sent on one
    in that instant finds it closed, the race of HTTP/1.1 keep-alive that clients answer by
    retrying an idempotent request on a new connection (RFC 9112 section 9.3.1). What this
    test judges is whether a new connection always reaches a worker."""
    host = fleet.hosts[0]
    statuses: list[object] = []
    done = threading.Event()

    def poll() -> None:
        deadline = time.monotonic() + 300
        while not done.is_set() and time.monotonic() < deadline:
            try:
                statuses.append(
                    requests.get(
                        f"http://{host.address}/api/health",
                        timeout=3,
                        headers={"Connection": "close"},
                    ).status_code
                )
            except requests.RequestException as error:
                statuses.append(f"{type(error).__name__}: {error}")

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        changed = redeploy(fleet, "--limit", host.name, "--data", 'app_env={"E2E_ROLL": "1"}')
    finally:
        done.set()
        poller.join(timeout=30)
    restored = redeploy(fleet, "--limit", host.name)
    assert changed.returncode == 0, f"{errors_of(changed.output)}\n{changed.output[-2500:]}"
    assert restored.returncode == 0, f"{errors_of(restored.output)}\n{restored.output[-2500:]}"
    assert "Start the new generation of workers beside the serving one" in changed.output
    assert len(statuses) > 50, statuses
    assert set(statuses) == {200}, {status: statuses.count(status) for status in set(statuses)}
