"""The scale-out health fields (clients, max_clients, workers, redis, status degraded): the
health probe, the `capacity` and `redis` layers of diagnose, check's JSON and Prometheus.

First on results shaped as the probes shape them, then against real loopback servers: a tiny
HTTP server answering the new health JSON (and refusing the upgrade), and a python-socketio
server whose health says Redis is down while every socket probe passes.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import socketio
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.loopback import running, socketio_server
from wsready.cli import main
from wsready.exitstatus import ExitStatus
from wsready.probes import ProbeResult, Target, run_probes
from wsready.probes.diagnosis import diagnose

TARGET = Target("http://10.200.1.2")
OLD_HEALTH = {"status": "ok", "websocket": "enabled", "version": "1.0.0", "connections": 3}


def new_health(status="ok", clients=120, max_clients=20000, up=2, total=2, redis="off") -> dict:
    return {
        **OLD_HEALTH,
        "status": status,
        "worker": 0,
        "clients": clients,
        "max_clients": max_clients,
        "workers": {"up": up, "total": total},
        "redis": redis,
    }


# --- results shaped as wsready.probes builds them -----------------------------------------


def result(name, layer, ok, actual, warning=False, **detail) -> ProbeResult:
    return ProbeResult(name, layer, ok, "expected", actual, 0.01, detail=detail, warning=warning)


def health_result(actual: str, warning: bool = False, **figures) -> ProbeResult:
    detail = {"status": 200, "content_type": "application/json", "latency_s": 0.004}
    detail["json"] = {"status": "degraded" if warning else "ok", "websocket": "enabled"}
    return result("health", "http", True, actual, warning, **detail, **figures)


def probe_run(health: ProbeResult, **replace: ProbeResult) -> list[ProbeResult]:
    """A full run whose socket probes pass, unless `replace` says otherwise."""
    results = {
        "dns": result("dns", "dns", True, "10.200.1.2"),
        "tcp": result("tcp", "tcp", True, "connected"),
        "health": health,
        "upgrade": result("upgrade", "websocket", True, "101", status=101),
        "open": result("open", "engine.io", True, "0{sid}", ping_interval_ms=25000),
        "connect": result("connect", "socket.io", True, "40 accepted", accepted=True),
        "ping": result("ping", "heartbeat", True, "ping after 0.4 s"),
        "polling": result("polling", "polling", True, "200, 0{", status=200),
    }
    results.update(replace)
    return list(results.values())


def skipped(name: str, layer: str) -> ProbeResult:
    return ProbeResult(name, layer, False, "expected", "upgrade failed", 0.0, skipped=True)


SOCKET_SKIPPED = {
    "open": skipped("open", "engine.io"),
    "connect": skipped("connect", "socket.io"),
    "ping": skipped("ping", "heartbeat"),
}
UPGRADE_503 = result("upgrade", "websocket", False, "503", status=503, body="busy")
POLLING_503 = result("polling", "polling", False, "503, body 'busy'", status=503)
AT_LIMIT = health_result(
    "200, status=ok, redis=off, workers=2/2, clients 19990/20000, 3 ms",
    warning=True,
    clients=19990,
    max_clients=20000,
    workers_up=2,
    workers_total=2,
    redis="off",
    degraded=["clients 19990/20000 >= 95% of max_clients"],
)
ONE_WORKER_DOWN = health_result(
    "200, status=degraded, redis=off, workers=1/2, clients 120/20000, 3 ms",
    warning=True,
    clients=120,
    max_clients=20000,
    workers_up=1,
    workers_total=2,
    redis="off",
    degraded=["1 of 2 workers down"],
)
REDIS_DOWN = health_result(
    "200, status=degraded, redis=down, workers=2/2, clients 120/20000, 3 ms",
    warning=True,
    clients=120,
    max_clients=20000,
    workers_up=2,
    workers_total=2,
    redis="down",
    degraded=["redis down"],
)


def test_redis_down_is_a_redis_warning_even_when_every_socket_probe_passes() -> None:
    diagnosis = diagnose(TARGET, probe_run(REDIS_DOWN))
    assert (diagnosis.layer, diagnosis.code, diagnosis.status) == (
        "redis",
        "redis-down",
        ExitStatus.WARNING,
    )
    assert "broadcasts no longer reach clients on other workers or hosts" in diagnosis.title
    assert "app_redis_url" in diagnosis.fix and "6379" in diagnosis.fix
    assert "redis-cli -h HOST" in diagnosis.fix
    assert any("redis=down" in line for line in diagnosis.evidence)


def test_upgrade_503_at_the_limit_is_capacity() -> None:
    results = probe_run(AT_LIMIT, upgrade=UPGRADE_503, polling=POLLING_503, **SOCKET_SKIPPED)
    diagnosis = diagnose(TARGET, results)
    assert (diagnosis.layer, diagnosis.code, diagnosis.status) == (
        "capacity",
        "capacity-limit",
        ExitStatus.CRITICAL,
    )
    assert "(503)" in diagnosis.title and "clients 19990/20000" in diagnosis.title
    for key in ("app_max_clients", "app_workers", "nginx_worker_connections", "add a host"):
        assert key in diagnosis.fix


@pytest.mark.parametrize(
    "failure",
    [
        {"upgrade": result("upgrade", "websocket", False, "502", status=502)},
        {"upgrade": result("upgrade", "websocket", False, "closed", error="closed")},
        {"upgrade": result("upgrade", "websocket", False, "no response", error="timeout")},
    ],
    ids=["502", "reset", "timeout"],
)
def test_upgrade_failing_with_a_worker_down_is_capacity(failure: dict) -> None:
    diagnosis = diagnose(TARGET, probe_run(ONE_WORKER_DOWN, **failure, **SOCKET_SKIPPED))
    assert (diagnosis.layer, diagnosis.code) == ("capacity", "workers-down")
    assert "1 of 2 app workers are down" in diagnosis.title
    assert "systemctl status wsready-app@i" in diagnosis.fix
    assert "wsready-app@0 … wsready-app@1" in diagnosis.fix


def test_engineio_open_closed_at_the_limit_is_capacity() -> None:
    closed = result("open", "engine.io", False, "closed before any packet", error="closed")
    results = probe_run(
        AT_LIMIT,
        open=closed,
        connect=skipped("connect", "socket.io"),
        ping=skipped("ping", "heartbeat"),
    )
    diagnosis = diagnose(TARGET, results)
    assert diagnosis.code == "capacity-limit"
    assert diagnosis.title.startswith("The Engine.IO open on /ws fails (closed before any packet)")


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        ({"upgrade": result("upgrade", "websocket", False, "404", status=404)}, "socketio-path"),
        (
            {
                "upgrade": result("upgrade", "websocket", False, "502", status=502),
                "polling": result("polling", "polling", False, "404", status=404),
            },
            "socketio-path",
        ),
        (
            {"upgrade": result("upgrade", "websocket", False, "400", status=400)},
            "upgrade-headers",
        ),
        (
            {"open": result("open", "engine.io", False, "'hello' (not an Engine.IO open packet)")},
            "socketio-path",
        ),
    ],
    ids=["404", "502-polling-404", "400", "not-engineio"],
)
def test_capacity_does_not_steal_other_layers(failure: dict, code: str) -> None:
    rest = {name: value for name, value in SOCKET_SKIPPED.items() if name not in failure} | failure
    assert diagnose(TARGET, probe_run(ONE_WORKER_DOWN, **rest)).code == code


def test_app_down_stays_app_down() -> None:
    gateway = result("health", "http", False, "502", status=502)
    upgrade = result("upgrade", "websocket", False, "502", status=502)
    diagnosis = diagnose(TARGET, probe_run(gateway, upgrade=upgrade, **SOCKET_SKIPPED))
    assert diagnosis.code == "app-down"


def test_a_worker_down_with_every_probe_passing_is_a_capacity_warning() -> None:
    diagnosis = diagnose(TARGET, probe_run(ONE_WORKER_DOWN))
    assert (diagnosis.layer, diagnosis.code, diagnosis.status) == (
        "capacity",
        "workers-down",
        ExitStatus.WARNING,
    )


def test_old_health_without_the_new_fields_is_diagnosed_as_before() -> None:
    old = health_result("200, status=ok, websocket=enabled, 3 ms")
    assert diagnose(TARGET, probe_run(old)).status == ExitStatus.OK
    results = probe_run(old, upgrade=UPGRADE_503, polling=POLLING_503, **SOCKET_SKIPPED)
    assert diagnose(TARGET, results).code == "rest-ok-websocket-broken"


# --- loopback: real probes against real servers ------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        answer = self.server.answer(self)
        if answer is None:  # reset the connection: nothing written, RST on close
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        status, body = answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def tiny_server(health: dict, socket_answer: tuple[int, bytes] | None) -> Iterator[str]:
    """/api/health answers `health`; every Engine.IO request gets `socket_answer` (None:
    the connection is reset)."""

    def answer(handler):
        if handler.path.startswith("/api/health"):
            return 200, json.dumps(health).encode()
        return socket_answer

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.answer = answer
    with running(server):
        yield f"http://127.0.0.1:{server.server_address[1]}"


@contextlib.contextmanager
def socketio_app(health: dict) -> Iterator[str]:
    """A real python-socketio server at /ws whose /api/health answers `health`."""
    sio = socketio.Server(async_mode="threading", ping_interval=0.4, ping_timeout=0.4)

    def rest(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(health).encode()]

    with socketio_server(sio, rest) as url:
        yield url


def _run(url: str) -> tuple[Target, dict[str, ProbeResult]]:
    target = Target(url)
    return target, {result.probe: result for result in run_probes(target, timeout_s=3)}


def test_loopback_redis_down_every_socket_probe_passes_and_redis_is_named() -> None:
    with socketio_app(new_health("degraded", redis="down")) as url:
        target, seen = _run(url)
    failed = [name for name, r in seen.items() if not r.ok]
    assert failed == ["broadcast"], [str(r) for r in seen.values()]
    assert seen["broadcast"].skipped, "python-socketio does not answer the probe events"
    health = seen["health"]
    assert health.state == "WARN"
    assert health.actual.startswith(
        "200, status=degraded, redis=down, workers=2/2, clients 120/20000"
    )
    assert {key: health.detail[key] for key in ("clients", "max_clients", "redis")} == {
        "clients": 120,
        "max_clients": 20000,
        "redis": "down",
    }
    assert (health.detail["workers_up"], health.detail["workers_total"]) == (2, 2)
    assert health.detail["degraded"] == ["redis down"]
    diagnosis = diagnose(target, list(seen.values()))
    assert (diagnosis.layer, diagnosis.status) == ("redis", ExitStatus.WARNING)


def test_loopback_at_the_limit_upgrade_503_is_capacity() -> None:
    with tiny_server(new_health(clients=19990), (503, b'{"error":"busy"}')) as url:
        target, seen = _run(url)
    assert seen["upgrade"].detail["status"] == 503
    assert "clients 19990/20000" in seen["health"].actual
    diagnosis = diagnose(target, list(seen.values()))
    assert (diagnosis.layer, diagnosis.code, diagnosis.status) == (
        "capacity",
        "capacity-limit",
        ExitStatus.CRITICAL,
    )


def test_loopback_worker_down_upgrade_reset_is_capacity_naming_the_missing_worker() -> None:
    with tiny_server(new_health("degraded", up=1, total=2), None) as url:
        target, seen = _run(url)
    assert seen["upgrade"].detail.get("error") in ("closed", "network", "timeout")
    assert "workers=1/2" in seen["health"].actual
    diagnosis = diagnose(target, list(seen.values()))
    assert (diagnosis.layer, diagnosis.code) == ("capacity", "workers-down")
    assert "1 of 2 app workers are down (health: workers 1/2)" in diagnosis.title


def test_loopback_old_health_json_behaves_as_before() -> None:
    with tiny_server(OLD_HEALTH, (503, b'{"error":"busy"}')) as url:
        target, seen = _run(url)
    health = seen["health"]
    assert health.state == "ok"
    assert health.actual.startswith("200, status=ok, websocket=enabled, ")
    assert not {"clients", "max_clients", "workers_up", "redis", "degraded"} & set(health.detail)
    assert diagnose(target, list(seen.values())).code == "rest-ok-websocket-broken"


def test_loopback_unknown_health_status_still_fails() -> None:
    with tiny_server({**new_health(), "status": "starting"}, (503, b"")) as url:
        _, seen = _run(url)
    assert seen["health"].state == "FAIL"


def test_check_of_a_degraded_host_is_warning_with_json_and_metrics(tmp_path: Path, capsys) -> None:
    prom = tmp_path / "wsready.prom"
    with socketio_app(new_health("degraded", clients=7, up=2, total=2, redis="down")) as url:
        code = main(["check", url, "--json", "--timeout", "3", "--prometheus", str(prom)])
    document = json.loads(capsys.readouterr().out)
    assert code == ExitStatus.WARNING
    (target,) = document["targets"]
    assert target["status"] == "WARNING"
    assert target["diagnosis"]["layer"] == "redis"
    assert target["health"] == {
        "clients": 7,
        "max_clients": 20000,
        "workers_up": 2,
        "workers_total": 2,
        "redis": "down",
    }
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(prom.read_text())
        for sample in family.samples
        if sample.labels.get("target") == url and "probe" not in sample.labels
    }
    assert samples == {
        "wsready_target_status": 1.0,
        "wsready_clients": 7.0,
        "wsready_max_clients": 20000.0,
        "wsready_workers_up": 2.0,
        "wsready_workers_total": 2.0,
        "wsready_redis_up": 0.0,
    }


def test_check_table_says_why_a_host_is_degraded(capsys) -> None:
    with socketio_app(new_health("degraded", up=1, total=2)) as url:
        code = main(["check", url, "--timeout", "3"])
    out = capsys.readouterr().out
    assert code == ExitStatus.WARNING
    assert "[capacity] Degraded: 1 of 2 app workers are down (health: workers 1/2)" in out


def test_prometheus_host_gauges_only_when_health_carried_them(tmp_path: Path) -> None:
    from wsready.fleet import prometheus
    from wsready.fleet.report import to_json
    from wsready.fleet.sweep import CheckReport, TargetOutcome

    figures = {"clients": 5, "max_clients": 100, "workers_up": 1, "workers_total": 1}
    new = health_result("200, status=ok, redis=off, …", **figures, redis="off")
    old = health_result("200, status=ok, websocket=enabled, 3 ms")
    report = CheckReport(
        [
            TargetOutcome(Target("http://10.0.0.1", name="new"), ExitStatus.OK, [new]),
            TargetOutcome(Target("http://10.0.0.2", name="old"), ExitStatus.OK, [old]),
        ],
        started_at=0.0,
        duration_s=0.1,
    )
    path = tmp_path / "wsready.prom"
    prometheus.write(report, str(path))
    text = path.read_text()
    host = {
        (sample.name, sample.labels["target"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in {f"wsready_{key}" for key in prometheus.HOST_GAUGES}
    }
    assert host == {
        ("wsready_clients", "new"): 5.0,
        ("wsready_max_clients", "new"): 100.0,
        ("wsready_workers_up", "new"): 1.0,
        ("wsready_workers_total", "new"): 1.0,
    }
    assert "wsready_redis_up" not in text  # redis off: no sample, no empty family
    targets = json.loads(to_json(report))["targets"]
    assert [target["health"] for target in targets] == [{**figures, "redis": "off"}, None]
