"""The official client's sessions (wsready/probes/session.py, sampled.py) and the rules that
read them (wsready/probes/diagnosis.py): against the bundled app on loopback for what one
worker can show (its own Socket.IO settings), and on synthetic results for what needs several
workers behind a proxy (routing, some workers, a broadcast that stays on one worker; the
e2e fault catalogue injects each of those on a real host)."""

from __future__ import annotations

import time

from tests.unit.test_oracle import REPO, app, free_port, node_server
from wsready.exitstatus import ExitStatus
from wsready.fleet.prometheus import build_registry
from wsready.fleet.sweep import CheckReport, TargetOutcome
from wsready.probes import ProbeResult, Target, run_probes
from wsready.probes.diagnosis import diagnose
from wsready.probes.sampled import worker_summary
from wsready.probes.session import (
    POLLING,
    WEBSOCKET,
    open_session,
    sample,
    session_bound,
    sid_worker,
)


def _run(port: int) -> tuple[Target, dict[str, ProbeResult]]:
    target = Target(f"http://127.0.0.1:{port}")
    return target, {result.probe: result for result in run_probes(target, timeout_s=3)}


# --- the bundled app, one worker, for real -------------------------------------------------


def test_a_polling_session_walks_the_official_clients_steps_each_answered_by_its_worker() -> None:
    with app(APP_WORKER="0") as port:
        target = Target(f"http://127.0.0.1:{port}")
        session = open_session(target, POLLING, 3, time.monotonic() + 10)
        try:
            steps = [(step.name, step.ok) for step in session.steps]
            workers = {step.worker for step in session.steps if step.status is not None}
        finally:
            session.close()
    assert steps == [
        ("handshake", True), ("connect", True), ("connect answer", True),
        ("upgrade", True), ("3probe", True), ("message", True),
    ]  # fmt: skip
    assert workers == {"0"}
    assert session.worker == "0" and session.upgrades == ("websocket",)


def test_a_websocket_only_session_and_the_sample_keeps_one_socket_per_worker() -> None:
    with app() as port:
        target = Target(f"http://127.0.0.1:{port}")
        only = open_session(target, WEBSOCKET, 3, time.monotonic() + 10)
        only.close()
        taken = sample(target, ["0"], 3, 10)
        try:
            held = [s for s in taken.sessions if s.socket is not None]
            kinds = [s.mode for s in taken.sessions]
        finally:
            taken.close()
    assert [step.name for step in only.steps] == ["upgrade", "open", "connect", "message"]
    assert only.ok
    assert kinds == [POLLING, WEBSOCKET], "one listed worker: one session of each kind"
    assert len(held) == 1, "one held client per worker"


def test_server_refusing_websocket_is_the_servers_setting_not_the_proxy() -> None:
    with app(APP_TRANSPORTS="polling") as port:
        target, seen = _run(port)
    assert "offers no WebSocket upgrade" in seen["session-upgrade"].actual
    failure = seen["websocket-only"].detail["failures"][0]
    assert failure["engineio_error"] == {"code": 0, "message": "Transport unknown"}
    diagnosis = diagnose(target, list(seen.values()))
    assert (diagnosis.layer, diagnosis.code) == ("app socket.io", "server-transports")
    assert "not the proxy" in diagnosis.title and "nginx" not in diagnosis.fix.split(".")[0]


def test_server_refusing_polling_fails_default_clients_and_names_the_server() -> None:
    with app(APP_TRANSPORTS="websocket") as port:
        target, seen = _run(port)
    assert seen["websocket-only"].ok
    diagnosis = diagnose(target, list(seen.values()))
    assert (diagnosis.layer, diagnosis.code) == ("app socket.io", "server-transports")
    assert "refuses the polling transport" in diagnosis.title


def test_no_upgrade_offered_is_critical_though_every_single_probe_passes() -> None:
    with app(APP_ALLOW_UPGRADES="0") as port:
        target, seen = _run(port)
    assert seen["upgrade"].ok and seen["connect"].ok and seen["polling"].ok
    diagnosis = diagnose(target, list(seen.values()))
    assert (diagnosis.code, diagnosis.status) == ("upgrade-not-offered", ExitStatus.CRITICAL)


def test_a_buffer_smaller_than_connect_is_payload_too_large() -> None:
    with app(MAX_HTTP_BUFFER_SIZE="1") as port:
        target, seen = _run(port)
    assert seen["session"].detail["failures"][0]["status"] == 413
    diagnosis = diagnose(target, list(seen.values()))
    assert (diagnosis.layer, diagnosis.code) == ("app socket.io", "payload-too-large")


def test_session_bound_per_worker_listed() -> None:
    assert [session_bound(None), session_bound(["0"]), session_bound(["0", "1"])] == [2, 2, 4]
    assert session_bound([str(n) for n in range(64)]) == 16


# --- several workers: synthetic results ----------------------------------------------------

TARGET = Target("http://10.200.1.2")


def result(name: str, ok: bool, actual: str = "", **detail) -> ProbeResult:
    return ProbeResult(name, name, ok, "expected", actual, 0.01, detail=detail)


def failure(step: str, said: str, worker: str | None, sid_worker: str | None, **more) -> dict:
    return {"mode": "polling", "step": step, "said": said, "worker": worker,
            "sid_worker": sid_worker, "session_worker": sid_worker, **more}  # fmt: skip


ROWS = [
    {"worker": "0", "path": "/ws", "transports": ["polling", "websocket"], "config": "aa"},
    {"worker": "1", "path": "/other", "transports": ["polling", "websocket"], "config": "aa"},
]


def run_of(**replace: ProbeResult) -> list[ProbeResult]:
    health = {"status": 200, "worker_list": ROWS, "probe_events": True, "redis": "ok"}
    results = {
        "dns": result("dns", True),
        "tcp": result("tcp", True),
        "health": result("health", True, "200", **health),
        "polling": result("polling", True, "200", status=200, worker="0"),
        "upgrade": result("upgrade", True, "101", status=101),
        "open": result("open", True),
        "connect": result("connect", True, accepted=True),
        "session": result("session", True, failed=0, failures=[], sessions=2),
        "session-upgrade": result("session-upgrade", True, failed=0, failures=[]),
        "websocket-only": result("websocket-only", True, failed=0, failures=[]),
        "workers": result("workers", True, workers_failing=0, worker_table=[]),
        "broadcast": result("broadcast", True, delivered=True, missing=[]),
    }
    results.update(replace)
    return list(results.values())


def test_session_unknown_on_another_worker_is_routing() -> None:
    unknown = {"code": 1, "message": "Session ID unknown"}
    said = '400 Engine.IO 1 "Session ID unknown"'
    lost = failure("connect", said, "1", "0", engineio_error=unknown, status=400)
    row = {"sessions": 2, "listed": True, "unreached": []}
    table = [
        {"worker": "0", "failed": 1, "failures": [lost], **row},
        {"worker": "1", "failed": 0, **row},
    ]
    diagnosis = diagnose(
        TARGET,
        run_of(
            session=result("session", False, failed=1, failures=[lost], sessions=3),
            workers=result("workers", False, workers_failing=1, worker_table=table),
        ),
    )
    assert (diagnosis.layer, diagnosis.code) == ("routing", "session-routing")
    assert "answered by worker 1, session of worker 0" in diagnosis.evidence[0]


def test_sessions_failing_on_one_worker_name_it_and_what_it_says_differently() -> None:
    missed = failure("handshake", "404", "1", None, status=404)
    table = [{"worker": "0", "failed": 0, "sessions": 2, "listed": True, "unreached": []},
             {"worker": "1", "failed": 2, "sessions": 2, "listed": True, "unreached": [],
              "failures": [missed]}]  # fmt: skip
    diagnosis = diagnose(
        TARGET,
        run_of(
            polling=result("polling", False, "404", status=404, worker="1"),
            workers=result("workers", False, workers_failing=1, worker_table=table),
        ),
    )
    assert (diagnosis.layer, diagnosis.code) == ("workers", "some-workers")
    assert "(worker 1)" in diagnosis.title
    assert "its path is '/other', the others' '/ws'" in diagnosis.fix


def test_a_broadcast_that_stays_on_one_worker_while_redis_is_ok_is_the_adapter() -> None:
    stuck = result("broadcast", False, delivered=False, missing=["1"], emitter="0")
    diagnosis = diagnose(TARGET, run_of(broadcast=stuck))
    assert (diagnosis.layer, diagnosis.code, diagnosis.status) == (
        "redis adapter", "adapter-not-delivering", ExitStatus.CRITICAL
    )  # fmt: skip


def test_an_upgrade_refused_where_no_worker_answered_is_the_proxy_itself() -> None:
    refused = result("upgrade", False, "403", status=403, worker=None, server="nginx")
    diagnosis = diagnose(TARGET, run_of(upgrade=refused))
    assert (diagnosis.layer, diagnosis.code) == ("proxy upgrade", "upgrade-refused-by-proxy")


def test_an_unexplained_client_failure_prints_candidates_not_one_layer() -> None:
    odd = failure("message", "TimeoutError: no answer", "0", "0")
    diagnosis = diagnose(
        TARGET, run_of(**{"websocket-only": result("websocket-only", False, failures=[odd])})
    )
    assert diagnosis.layer == "undecided" and len(diagnosis.candidates) >= 2


def test_worker_summary_reaches_json_and_prometheus() -> None:
    missed = failure("handshake", "404", "1", None, status=404)
    table = [{"worker": "0", "failed": 0, "sessions": 2, "listed": True, "unreached": [],
              "says": ROWS[0]},
             {"worker": "1", "failed": 2, "sessions": 2, "listed": True, "unreached": [],
              "failures": [missed], "says": ROWS[1]}]  # fmt: skip
    results = run_of(workers=result("workers", False, workers_failing=1, worker_table=table))
    summary = worker_summary(results)
    assert [(row["worker"], row["ok"], row["path"]) for row in summary] == [
        ("0", True, "/ws"), ("1", False, "/other")
    ]  # fmt: skip
    outcome = TargetOutcome(TARGET, ExitStatus.CRITICAL, results)
    assert outcome.to_dict()["workers"] == summary
    registry = build_registry(CheckReport([outcome], started_at=0.0, duration_s=0.1))
    value = registry.get_sample_value
    labels = {"target": outcome.label}
    assert value("wsready_worker_ok", {**labels, "worker": "0"}) == 1
    assert value("wsready_worker_ok", {**labels, "worker": "1"}) == 0


def test_a_socketio_2_server_is_named_as_the_protocol_version() -> None:
    """tests/oracle/legacy: socket.io 2.5 (Engine.IO 3), as an old release would serve."""
    legacy = REPO / "tests" / "oracle" / "legacy" / "server.js"
    with node_server(
        [str(legacy), str(free_port())], {}, r"listening on 127\.0\.0\.1:(\d+)"
    ) as port:
        target, seen = _run(port)
    assert seen["connect"].actual == "40 without a sid (Socket.IO 2 protocol)"
    assert seen["session"].detail["failures"][0]["step"] == "handshake"
    diagnosis = diagnose(target, list(seen.values()))
    assert (diagnosis.layer, diagnosis.code) == ("app socket.io", "protocol-version")


def test_a_worker_all_sessions_of_one_kind_land_on_is_named_though_the_other_was_not_reached() -> (
    None
):
    """A failing worker takes every polling session (no connection held there, so a
    least-connections balancer keeps choosing it): the other worker, fine over WebSocket,
    is healthy by its own sessions, not failing for being unreached by polling."""
    missed = failure("handshake", "404", "1", None, status=404)
    table = [
        {"worker": "0", "failed": 0, "sessions": 4, "listed": True, "unreached": ["polling"],
         "unreached_failing": ["polling"]},
        {"worker": "1", "failed": 4, "sessions": 4, "listed": True, "unreached": ["websocket"],
         "unreached_failing": [], "failures": [missed]},
    ]  # fmt: skip
    diagnosis = diagnose(
        TARGET, run_of(workers=result("workers", False, workers_failing=2, worker_table=table))
    )
    assert (diagnosis.layer, diagnosis.code) == ("workers", "some-workers")
    assert "1 of 2 workers" in diagnosis.title and "(worker 1)" in diagnosis.title


def test_failures_of_a_kind_no_healthy_worker_passed_are_not_blamed_on_that_worker() -> None:
    """The proxy refuses every session's POST: the balancer happened to send all polling
    sessions to worker 0. Worker 1 passed WebSocket-only sessions only and both say the same
    of themselves, so nothing tells worker 0 apart: the proxy is named, not a worker."""
    refused = failure("connect", '413 (expected 200 "ok")', None, "0", status=413)
    same = [{**ROWS[0], "worker": "0"}, {**ROWS[0], "worker": "1"}]
    table = [
        {"worker": "0", "failed": 2, "sessions": 2, "listed": True, "unreached": ["websocket"],
         "unreached_failing": [], "failures": [refused]},
        {"worker": "1", "failed": 0, "sessions": 2, "listed": True, "unreached": ["polling"],
         "unreached_failing": ["polling"]},
    ]  # fmt: skip
    health = {"status": 200, "worker_list": same, "probe_events": True, "redis": "ok"}
    diagnosis = diagnose(
        TARGET,
        run_of(
            health=result("health", True, "200", **health),
            session=result("session", False, failed=2, failures=[refused], sessions=2),
            workers=result("workers", False, workers_failing=2, worker_table=table),
        ),
    )
    assert (diagnosis.layer, diagnosis.code) == ("proxy polling", "polling-session-refused")


def test_a_worker_that_draws_every_session_is_named_by_what_it_says_of_itself() -> None:
    """Every session went to worker 1 (its refusals hold no connection, so least_conn keeps
    choosing it); worker 0 was never reached, but health says worker 1 alone allows only
    polling: worker 1 is named, not an undecided server setting."""
    unknown = {"code": 0, "message": "Transport unknown"}
    refused = failure("upgrade", '400 Engine.IO 0 "Transport unknown"', "1", None,
                      engineio_error=unknown, mode="websocket")  # fmt: skip
    rows = [{**ROWS[0], "worker": "0"}, {**ROWS[0], "worker": "1", "transports": ["polling"]}]
    table = [
        {"worker": "0", "failed": 0, "sessions": 0, "listed": True,
         "unreached": ["polling", "websocket"], "unreached_failing": ["polling", "websocket"]},
        {"worker": "1", "failed": 8, "sessions": 8, "listed": True, "unreached": [],
         "unreached_failing": [], "failures": [refused]},
    ]  # fmt: skip
    health = {"status": 200, "worker_list": rows, "probe_events": True, "redis": "ok"}
    diagnosis = diagnose(
        TARGET,
        run_of(
            health=result("health", True, "200", **health),
            **{"websocket-only": result("websocket-only", False, failures=[refused])},
            workers=result("workers", False, workers_failing=2, worker_table=table),
        ),
    )
    assert (diagnosis.layer, diagnosis.code) == ("workers", "some-workers")
    assert "transports is ['polling']" in diagnosis.fix


def test_only_a_wsready_apps_session_id_names_a_worker() -> None:
    """The app's ids are `<worker>-<20 base64url characters>`; a stock Engine.IO or
    python-socketio id (20 such characters alone) names no worker, even when it starts
    with a digit and a dash."""
    assert sid_worker("1-Z4QwRKhWXUD5AaRNKfLY") == "1"
    assert sid_worker("101-Z4QwRKhWXUD5AaRNKfLY") == "101"
    assert sid_worker("7-QwRKhWXUD5AaRNKfLY") is None  # 20 characters: a stock id
    assert sid_worker("Z4QwRKhWXUD5AaRNKfLY") is None
    assert sid_worker(None) is None
