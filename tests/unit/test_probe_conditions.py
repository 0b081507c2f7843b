"""Conditions as data (wsready/probes/conditions.py): judged on what a probe saw, printed
with the actual value; the result's one dict shape; the probes declare their conditions."""

from __future__ import annotations

import json

import pytest

from wsready.probes import ProbeResult, Target, plan_probes
from wsready.probes.conditions import Condition, describe, judge, parse
from wsready.probes.context import Clock, finish

UPGRADE = Condition("status", "==", 101)


def test_a_condition_that_holds_passes_and_prints_the_actual_value() -> None:
    assert UPGRADE.judge({"status": 101}) is True
    assert UPGRADE.text(101) == "status (101) == 101"


def test_a_condition_that_fails_prints_the_actual_value_in_parentheses() -> None:
    assert UPGRADE.judge({"status": 502}) is False
    assert UPGRADE.text(502) == "status (502) == 101"


def test_a_missing_value_fails_and_prints_as_missing() -> None:
    assert UPGRADE.judge({}) is False
    assert UPGRADE.judge({"status": None}) is False
    assert UPGRADE.text(None) == "status (missing) == 101"
    assert describe("", "", "resolves") == "(missing) resolves"


def test_absent_holds_only_for_a_missing_value() -> None:
    degraded = Condition("degraded", "absent")
    assert degraded.judge({}) is True
    assert degraded.judge({"degraded": ["redis down"]}) is False


@pytest.mark.parametrize(
    ("condition", "detail", "held"),
    [
        (Condition("days left", ">=", 7, key="days_left"), {"days_left": 6.9}, False),
        (Condition("days left", ">=", 7, key="days_left"), {"days_left": 7}, True),
        (
            Condition("origin", "in", ("*", "https://a"), key="cors.allow"),
            {"cors": {"allow": "*"}},
            True,
        ),
        (
            Condition("origin", "in", ("*", "https://a"), key="cors.allow"),
            {"cors": {"allow": "x"}},
            False,
        ),
        (Condition("first", "startswith", "0{"), {"first": '0{"sid":"x"}'}, True),
        (Condition("first", "startswith", "0{"), {"first": 0}, False),
        (Condition("days", "<", 7), {"days": "six"}, False),  # wrong kind: no TypeError
        (Condition("sid", "exists"), {"sid": "abc"}, True),
        (Condition("status", "!=", 404), {"status": 200}, True),
    ],
)
def test_operators_judge_the_named_value(condition, detail, held) -> None:
    assert condition.judge(detail) is held


def test_an_unknown_operator_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown operator"):
        Condition("status", "~=", 1)


def test_says_replaces_the_expectation_in_the_text() -> None:
    resolves = Condition("name", "exists", key="addresses", says="resolves")
    assert resolves.judge({"addresses": ["10.0.0.1"]}) is True
    assert resolves.text("10.0.0.1") == "name (10.0.0.1) resolves"


def test_judge_names_the_first_failed_condition_else_the_first() -> None:
    body = Condition("body", "exists", key="json", says="has status")
    verdict = judge((Condition("status", "==", 200), body), {"status": 200})
    assert not verdict.ok and verdict.condition is body
    assert verdict.to_list() == [
        {"condition": "status == 200", "ok": True},
        {"condition": "json has status", "ok": False},
    ]
    passed = judge((Condition("status", "==", 200), body), {"status": 200, "json": {}})
    assert passed.ok and passed.condition.subject == "status"


def test_parse_reads_the_same_conditions_from_text() -> None:
    assert parse("status == 101") == UPGRADE
    assert parse("days_left >= 7.5") == Condition("days_left", ">=", 7.5)
    assert parse('allow_origin in ["*", "https://a"]') == Condition(
        "allow_origin", "in", ("*", "https://a")
    )
    assert parse("first_packet startswith 0{") == Condition("first_packet", "startswith", "0{")
    assert parse("sid exists") == Condition("sid", "exists")
    assert parse("status not in [401, 403]") == Condition("status", "not in", (401, 403))
    with pytest.raises(ValueError, match="not a condition"):
        parse("status 101")


def _probe(name: str, target: Target | None = None):
    return next(p for p in plan_probes(target or Target("http://h")) if p.name == name)


def test_every_planned_probe_declares_its_conditions_as_data() -> None:
    full = Target("https://h", token="t", origin="https://app.example")
    for probe in plan_probes(full, idle=True):
        assert probe.conditions and all(isinstance(c, Condition) for c in probe.conditions)
        assert probe.subject == probe.conditions[0].subject
        assert probe.expected == probe.conditions[0].expectation
    assert _probe("upgrade").conditions == (UPGRADE,)


def test_finish_judges_the_probe_conditions_on_what_it_saw() -> None:
    upgrade = _probe("upgrade")
    failed = finish(upgrade, Clock(), "502", detail={"status": 502})
    assert (failed.ok, str(failed)) == (False, "upgrade status (502) == 101")
    assert failed.conditions == [{"condition": "status == 101", "ok": False}]
    timed_out = finish(upgrade, Clock(), "no response in 5 s", detail={"error": "timeout"})
    assert not timed_out.ok
    assert str(timed_out) == "upgrade status (no response in 5 s) == 101"
    passed = finish(
        upgrade, Clock(), "101, Sec-WebSocket-Accept verified, 3 ms", detail={"status": 101}
    )
    assert passed.ok and passed.state == "ok"


def test_a_missed_warning_condition_makes_a_passing_probe_a_warning() -> None:
    health = _probe("health")
    seen = {"status": 200, "json": {"status": "ok"}, "latency_s": 0.01}
    assert finish(health, Clock(), "200", detail=seen).state == "ok"
    slow = finish(health, Clock(), "200", detail={**seen, "latency_s": 2.5})
    assert (slow.ok, slow.warning, slow.state) == (True, True, "WARN")
    assert {"condition": "latency_s <= 1.0", "ok": False, "warning": True} in slow.conditions
    degraded = finish(health, Clock(), "200", detail={**seen, "degraded": ["redis down"]})
    assert degraded.state == "WARN"
    broken = finish(health, Clock(), "200, body 'x'", detail={"status": 200})
    assert (
        str(broken)
        == """health body (200, body 'x') has status="ok" (or "degraded") and websocket"""
    )


def test_tls_days_below_critical_fail_without_blocking_later_layers() -> None:
    tls = _probe("tls", Target("https://h"))
    assert str(tls.expected) == ">= 21 (critical < 7)"
    seen = {"days_left": 3.0, "blocks_later": False}
    result = finish(tls, Clock(), "3.0", detail=seen)
    assert (result.ok, str(result)) == (False, "tls days left (3.0) >= 21 (critical < 7)")
    assert finish(tls, Clock(), "12.0", detail={**seen, "days_left": 12.0}).state == "WARN"
    assert finish(tls, Clock(), "40.0", detail={**seen, "days_left": 40.0}).state == "ok"


def test_to_dict_round_trips_through_json() -> None:
    result = finish(_probe("upgrade"), Clock(), "502", detail={"status": 502, "body": "bad"})
    data = json.loads(json.dumps(result.to_dict()))
    assert data["text"] == "upgrade status (502) == 101"
    assert data["condition"] == "status (502) == 101"
    assert data["state"] == "FAIL"
    assert ProbeResult.from_dict(data) == result
    skipped = ProbeResult("open", "engine.io", False, "x", "upgrade failed", 0.0, skipped=True)
    assert ProbeResult.from_dict(json.loads(json.dumps(skipped.to_dict()))) == skipped
    assert skipped.to_dict()["condition"] == "upgrade failed"
