"""Each probe's name and kind spelled once (wsready/probes/names.py), and what each kind saw
typed (wsready/probes/observed.py): every kind has its runner and its typed view, and a run
against the real app on loopback writes no detail key its kind's view does not name."""

from __future__ import annotations

import dataclasses
import hashlib

from tests.unit.test_probes_loopback import GOOD_ORIGIN, TOKEN, NodeApp
from wsready.probes import ProbeResult, Target, plan_probes, run_probes
from wsready.probes import names as n
from wsready.probes.names import KINDS, Kind
from wsready.probes.observed import OBSERVED, Answer, Failure, Health, Sessions
from wsready.probes.runner import RUNNERS


def _result(detail: dict) -> ProbeResult:
    return ProbeResult("x", "x", False, "", "", 0.0, detail=detail)


def test_every_kind_has_its_runner_and_its_typed_view() -> None:
    assert set(OBSERVED) == set(KINDS)
    assert set(RUNNERS) == set(KINDS) - {Kind.HOSTS_BROADCAST}  # run apart (probes/hosts.py)


def test_every_planned_probe_is_named_by_a_constant() -> None:
    target = Target("https://h:8443", token="t", origin="http://o")
    constants = {value for key, value in vars(n).items() if key.isupper()}
    probes = plan_probes(target, 1.0, idle=True)
    assert {probe.name for probe in probes} <= constants
    assert {probe.kind for probe in probes} <= set(KINDS)
    assert len(probes) == 19


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


def test_a_real_run_writes_only_keys_its_kinds_view_names() -> None:
    app = NodeApp(
        APP_AUTH="static",
        STATIC_TOKEN_SHA256=hashlib.sha256(TOKEN.encode()).hexdigest(),
        CORS_ORIGINS=GOOD_ORIGIN,
        PING_INTERVAL_MS="400",
        PING_TIMEOUT_MS="400",
    )
    try:
        target = Target(app.url, token=TOKEN, origin=GOOD_ORIGIN)
        kinds = {probe.name: probe.kind for probe in plan_probes(target, 5.0, idle=True)}
        results = run_probes(target, 5.0, idle=True)
    finally:
        app.stop()
    assert [result.probe for result in results] == list(kinds)
    for result in results:
        view = OBSERVED[kinds[result.probe]]
        named = {item.name for item in dataclasses.fields(view)}
        assert set(result.detail) <= named, (result.probe, set(result.detail) - named)
        assert view.of(result).present == set(result.detail)
