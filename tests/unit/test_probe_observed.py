"""Each probe's name and kind spelled once (wsready/probes/names.py), and what each kind saw
typed (wsready/probes/observed.py): every kind has its runner and its typed view, and a run
against the real app on loopback writes no detail key its kind's view does not name."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from tests.unit.test_front_door_sampling import made
from tests.unit.test_probes_loopback import (
    GOOD_ORIGIN,
    HEALTH,
    TOKEN,
    NodeApp,
    _certificate,
    probe_in_fresh_interpreter,
    serve,
)
from wsready.probes import ProbeResult, Target, hosts, plan_probes, run_probes
from wsready.probes import names as n
from wsready.probes.context import RunContext
from wsready.probes.names import KINDS, Kind
from wsready.probes.observed import (
    OBSERVED,
    Answer,
    Failure,
    Fields,
    FrontDoorHosts,
    Health,
    Sessions,
    WorkerRow,
)
from wsready.probes.runner import RUNNERS
from wsready.probes.sampled import front_door_hosts, workers
from wsready.probes.session import POLLING, WEBSOCKET, Sample


def _result(detail: dict) -> ProbeResult:
    return ProbeResult("x", "x", False, "", "", 0.0, detail=detail)


def test_every_kind_has_its_runner_and_its_typed_view() -> None:
    assert set(OBSERVED) == set(KINDS)
    assert set(RUNNERS) == set(KINDS) - {Kind.HOSTS_BROADCAST}  # run apart (probes/hosts.py)


def test_every_planned_probe_is_named_by_a_constant() -> None:
    constants = {value for key, value in vars(n).items() if key.isupper()}
    full = Target("https://h:8443", token="t", origin="http://o")
    door = Target("https://h:8443", origin="http://o", behind=("a",), websocket_only=True)
    for target, count in ((full, 19), (door, 15)):
        probes = plan_probes(target, 1.0, idle=True)
        assert {probe.name for probe in probes} <= constants
        assert {probe.kind for probe in probes} <= set(KINDS)
        assert len(probes) == count, [probe.name for probe in probes]
    assert n.HOSTS in {probe.name for probe in probes}


def test_a_view_reads_its_fields_and_tells_absent_from_none() -> None:
    answer = Answer.of(_result({"status": 502, "fingerprint": None, "unknown": 1}))
    assert (answer.status, answer.fingerprint, answer.has("fingerprint")) == (502, None, True)
    assert not answer.has("unknown") and not hasattr(answer, "unknown")
    assert not Answer.of(None).has("fingerprint") and Answer.of(None).status is None
    health = Health.of(_result({"clients": 3, "redis": "ok", "worker_list": [{"worker": "0"}, 7]}))
    assert health.figures == {"clients": 3, "redis": "ok"}
    assert [row.worker for row in health.workers_said] == ["0"]


def test_sessions_read_their_failures_and_the_hosts_that_answered() -> None:
    sessions = Sessions.of(
        _result(
            {
                "failures": [{"mode": "polling", "engineio_error": {"code": 1}}, "junk"],
                "session_steps": [{"steps": [{"host": "a"}, {"host": ""}, "junk"]}, "junk"],
            }
        )
    )
    assert [(f.mode, f.code) for f in sessions.failed_sessions] == [("polling", 1)]
    assert sessions.step_hosts == ["a"]
    assert Failure(engineio_error="not a dict").code is None


def _unnamed(view: type[Fields], data: dict) -> set[str]:
    """The keys of `data` that `view` has no field for."""
    return set(data) - {item.name for item in dataclasses.fields(view)}


def _hold_to_views(kinds: dict[str, str], results: list[ProbeResult]) -> None:
    """Every key each result's runner wrote is a field of its kind's view, and so is every key
    of the rows the views type (a worker's row, a failed session)."""
    for result in results:
        view = OBSERVED[kinds[result.probe]]
        assert not _unnamed(view, result.detail), (result.probe, _unnamed(view, result.detail))
        assert view.of(result).present == set(result.detail)
        sessions = Sessions.of(result)
        for row in sessions.worker_table or []:
            assert not _unnamed(WorkerRow, row), (result.probe, _unnamed(WorkerRow, row))
            for failure in row.get("failures") or []:
                assert not _unnamed(Failure, failure), (result.probe, _unnamed(Failure, failure))
        for failure in [*(sessions.failures or []), *(sessions.unattributed or [])]:
            assert not _unnamed(Failure, failure), (result.probe, _unnamed(Failure, failure))


# (the app's environment, the target's options): together every kind the runners run, and the
# keys the front door added (polling `offered` and `engineio_code`, the `hosts` probe).
FAST_PING = {"PING_INTERVAL_MS": "400", "PING_TIMEOUT_MS": "400"}
REAL_RUNS = (
    (
        {
            "APP_AUTH": "static",
            "STATIC_TOKEN_SHA256": hashlib.sha256(TOKEN.encode()).hexdigest(),
            "CORS_ORIGINS": GOOD_ORIGIN,
            **FAST_PING,
        },
        {"token": TOKEN, "origin": GOOD_ORIGIN},
    ),
    # WebSocket-only mode while the app still offers polling, behind a front door whose
    # expected host never answers (no nginx names itself on loopback).
    (FAST_PING, {"websocket_only": True, "behind": ("wsr-absent",)}),
    # WebSocket-only mode enforced: Engine.IO refuses polling.
    ({**FAST_PING, "APP_TRANSPORTS": "websocket"}, {"websocket_only": True}),
)


def test_real_runs_write_only_keys_their_kinds_views_name() -> None:
    ran: set[str] = set()
    written: dict[str, set[str]] = {}
    for env, options in REAL_RUNS:
        app = NodeApp(**env)
        try:
            target = Target(app.url, **options)
            kinds = {probe.name: probe.kind for probe in plan_probes(target, 5.0, idle=True)}
            results = run_probes(target, 5.0, idle=True)
            if not options.get("websocket_only"):  # two labels for one app: delivered
                kinds[n.HOSTS_BROADCAST] = Kind.HOSTS_BROADCAST
                results.append(hosts.across([target, target], ["a", "b"], "r", 5.0))
        finally:
            app.stop()
        assert [result.probe for result in results] == list(kinds)
        _hold_to_views(kinds, results)
        ran |= set(kinds.values())
        for result in results:
            written.setdefault(result.probe, set()).update(result.detail)
    assert ran == set(KINDS) - {Kind.TLS}  # TLS: the test below
    assert {"offered", "engineio_code"} <= written[n.POLLING]
    assert {"missing", "reached", "hosts_missing", "host_table"} <= written[n.HOSTS]
    assert "delivered" in written[n.HOSTS_BROADCAST]


@pytest.mark.parametrize("verify", [False, True])
def test_a_real_tls_probe_writes_only_keys_its_view_names(verify: bool) -> None:
    """Days left on a certificate accepted; the verify error on one not trusted."""
    server = serve(lambda handler: HEALTH, context=_certificate(60))
    url = next(server)
    try:
        seen = probe_in_fresh_interpreter(url, verify)
    finally:
        next(server, None)
    detail = seen["results"][n.TLS]["detail"]
    assert {"verify", "reason"} <= set(detail) if verify else "days_left" in detail
    assert not _unnamed(OBSERVED[Kind.TLS], detail), _unnamed(OBSERVED[Kind.TLS], detail)


def test_behind_a_front_door_the_rows_of_workers_and_hosts_are_typed_too() -> None:
    """Worker rows named `host/worker` and the hosts' table, from the real runners over the
    sessions two hosts made (tests/unit/test_front_door_sampling.py's sessions)."""
    door = Target("http://10.200.1.2", behind=("wsr-a", "wsr-b", "wsr-c"))
    taken = Sample(
        [made(POLLING, "wsr-a", "0"), made(POLLING, "wsr-a", "1", ok=False),
         made(POLLING, "wsr-b", "0"), made(WEBSOCKET, "wsr-b", "1")],
        ["0", "1"], 8,
    )  # fmt: skip
    ctx = RunContext(target=door)
    ctx.sample = taken
    listed = {"worker_list": [{"worker": "0"}, {"worker": "1"}]}
    ctx.results[n.HEALTH] = ProbeResult(n.HEALTH, "http", True, "", "200", 0.0, detail=listed)
    planned = {probe.name: probe for probe in plan_probes(door, 3.0)}
    results = [workers(planned[n.WORKERS], ctx), front_door_hosts(planned[n.HOSTS], ctx)]

    _hold_to_views({probe.name: probe.kind for probe in planned.values()}, results)
    table = Sessions.of(results[0]).table
    assert {(row.host, row.name) for row in table} >= {("wsr-a", "wsr-a/1"), ("wsr-b", "wsr-b/0")}
    assert [f.session_host for row in table for f in row.failed_sessions] == ["wsr-a"]
    hosts_seen = FrontDoorHosts.of(results[1])
    assert (hosts_seen.missing, hosts_seen.reached) == (["wsr-c"], ["wsr-a", "wsr-b"])
