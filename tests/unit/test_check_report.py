"""report.py: the table and the JSON of a check run (fixed results, no network)."""

from __future__ import annotations

import json

from tests.unit.checkfakes import FakeDiagnosis
from wsready.exitstatus import ExitStatus
from wsready.fleet.report import to_json, to_table
from wsready.fleet.sweep import CheckReport, TargetOutcome
from wsready.probes import ProbeResult, Target


def down_result() -> ProbeResult:
    return ProbeResult(
        "health",
        "http",
        False,
        "== 200",
        "502",
        0.02,
        detail={"status": 502},
        subject="status",
        conditions=[{"condition": "status == 200", "ok": False}],
    )


def sample() -> CheckReport:
    ok = TargetOutcome(
        Target(url="http://10.200.1.2", name="web-1", token="s3cret-token"),
        ExitStatus.OK,
        [ProbeResult("health", "http", True, "== 200", "200", 0.012)],
        FakeDiagnosis("none", "All layers work", ExitStatus.OK),
        latency_s=0.012,
    )
    down = TargetOutcome(
        Target(url="http://10.200.2.2", name="web-2", token="s3cret-token"),
        ExitStatus.CRITICAL,
        [down_result()],
        FakeDiagnosis("app", "nginx up, app down", ExitStatus.CRITICAL, ["health (502)"], "start"),
        attempts=3,
    )
    return CheckReport([ok, down], started_at=0.0, duration_s=1.5)


def test_json_holds_status_targets_probes_and_diagnosis_but_no_token() -> None:
    text = to_json(sample())
    data = json.loads(text)
    assert (data["status"], data["exit_code"], data["duration_s"]) == ("CRITICAL", 2, 1.5)
    assert data["checked_at"] == "1970-01-01T00:00:00+00:00"
    web1, web2 = data["targets"]
    assert (web1["target"], web1["status"], web1["latency_s"]) == ("web-1", "OK", 0.012)
    assert web2["attempts"] == 3
    assert web2["diagnosis"] == {
        "layer": "app",
        "title": "nginx up, app down",
        "evidence": ["health (502)"],
        "fix": "start",
        "status": "CRITICAL",
    }
    assert web2["probes"][0] == {
        "probe": "health",
        "layer": "http",
        "ok": False,
        "skipped": False,
        "expected": "== 200",
        "actual": "502",
        "duration_s": 0.02,
        "detail": {"status": 502},
        "subject": "status",
        "warning": False,
        "conditions": [{"condition": "status == 200", "ok": False}],
        "state": "FAIL",
        "condition": "status (502) == 200",
        "text": "health status (502) == 200",
    }
    assert "s3cret-token" not in text


def test_table_has_one_row_per_target_then_the_diagnosis_of_the_broken_one() -> None:
    lines = to_table(sample()).splitlines()
    assert lines[0].split() == ["TARGET", "STATUS", "LATENCY", "TRIES", "SUMMARY"]
    assert lines[1].split()[:4] == ["web-1", "OK", "12ms", "1"]
    assert lines[2].split()[:4] == ["web-2", "CRITICAL", "-", "3"]
    assert "  layer: app - nginx up, app down" in lines
    assert "  evidence: health (502)" in lines
    assert "  fix: start" in lines
    assert "  failed: health status (502) == 200" in lines
    assert lines[-1] == "CRITICAL: 2 targets (1 CRITICAL, 1 OK) in 1.50s"
    assert "s3cret-token" not in "\n".join(lines)
