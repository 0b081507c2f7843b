"""History in the state file, the static status page and `wsready check --html`."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from tests.unit.checkfakes import FakeDiagnosis
from tests.unit.test_alerts import report
from wsready.cli import main
from wsready.exitstatus import ExitStatus
from wsready.fleet import alerts, history, statuspage
from wsready.fleet.sweep import CheckReport, TargetOutcome
from wsready.probes import ProbeResult, Target

OK, CRIT = ExitStatus.OK, ExitStatus.CRITICAL


def state_of(path: Path) -> dict:
    return json.loads(path.read_text())["targets"]


def test_history_keeps_the_last_runs_with_layer_and_figures(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    for minute, status in enumerate([OK, CRIT, CRIT, OK]):
        alerts.process(report(status, started_at=60.0 * minute), str(state), None, print)
    record = state_of(state)["web-1"]
    assert [run["status"] for run in record["history"]] == ["OK", "CRITICAL", "CRITICAL", "OK"]
    assert record["history"][1]["layer"] == "tcp" and "layer" not in record["history"][0]
    assert record["history"][0]["at"].startswith("1970-01-01T00:00:00")
    assert record["changed_at"].startswith("1970-01-01T00:03:00")  # back to OK at minute 3


def test_history_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "HISTORY_LIMIT", 5)
    monkeypatch.setattr(history.record_run, "__defaults__", (5,))  # the default was bound at import
    state = tmp_path / "state.json"
    for minute in range(12):
        alerts.process(report(OK, started_at=60.0 * minute), str(state), None, print)
    runs = state_of(state)["web-1"]["history"]
    assert len(runs) == 5 and runs[-1]["at"].startswith("1970-01-01T00:11:00")


def test_default_bound_keeps_the_file_small(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    for minute in range(history.HISTORY_LIMIT + 20):
        alerts.process(report(OK, CRIT, started_at=60.0 * minute), str(state), None, print)
    targets = state_of(state)
    assert all(len(t["history"]) == history.HISTORY_LIMIT for t in targets.values())
    assert state.stat().st_size < 400 * history.HISTORY_LIMIT  # two targets, compact JSON


def test_a_state_file_from_before_history_still_loads(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    old = {
        "status": "OK",
        "since": "2026-01-01T00:00:00+00:00",
        "checked_at": "2026-01-02T00:00:00+00:00",
    }
    state.write_text(json.dumps({"version": 1, "targets": {"web-1": old}}, indent=2))
    assert alerts.load_state(str(state)) == {"web-1": old}
    alerts.process(report(OK, started_at=1_800_000_000.0), str(state), None, print)
    record = state_of(state)["web-1"]
    assert record["since"] == old["since"] == record["changed_at"]  # no change seen
    assert len(record["history"]) == 1


def test_history_of_an_undelivered_alert_still_moves(tmp_path: Path) -> None:
    state = tmp_path / "state.json"

    def fail(url, body):  # noqa: ANN001
        raise ConnectionError("down")

    alerts.process(report(OK, started_at=0.0), str(state), "http://h/", print, post=fail)
    alerts.process(report(CRIT, started_at=60.0), str(state), "http://h/", print, post=fail)
    record = state_of(state)["web-1"]
    assert record["status"] == "OK"  # the alert will be sent again
    assert record["history"][-1]["status"] == "CRITICAL"
    assert record["changed_at"].startswith("1970-01-01T00:01:00")


def test_targets_gone_for_a_week_are_forgotten(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    alerts.process(report(OK, OK, started_at=0.0), str(state), None, print)
    alerts.process(report(OK, started_at=3 * 86400.0), str(state), None, print)
    assert set(state_of(state)) == {"web-1", "web-2"}
    alerts.process(report(OK, started_at=8 * 86400.0), str(state), None, print)
    assert set(state_of(state)) == {"web-1"}


def hostile_report() -> CheckReport:
    evil = "<script>alert(1)</script>"
    target = Target(url="http://10.0.0.9", name=f'web"><img src=x onerror=alert(1)>{evil}')
    diagnosis = FakeDiagnosis(
        f"app{evil}", f"title {evil}", CRIT, [f"evidence {evil}"], f"fix {evil}"
    )
    result = ProbeResult("health", "http", False, "== 200", f"502 {evil}", 0.01)
    outcome = TargetOutcome(target, CRIT, [result], diagnosis, latency_s=0.01)
    return CheckReport([outcome], started_at=1_800_000_000.0, duration_s=0.2)


def test_every_value_is_escaped() -> None:
    page = statuspage.render(hostile_report())
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'data-target="web&quot;&gt;&lt;img' in page


def test_page_is_self_contained_and_needs_no_script() -> None:
    rep = report(OK, CRIT)
    page = statuspage.render(rep, refresh_s=30)
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # no external asset
    assert "<script" not in page and "style=" not in page  # nothing a strict CSP refuses
    assert '<meta http-equiv="refresh" content="30">' in page
    assert statuspage.STYLE_HASH in page and "default-src &#x27;none&#x27;" in page
    assert 'name="viewport"' in page
    assert page.index('data-target="web-2"') < page.index('data-target="web-1"')  # worst first


def test_sparkline_draws_latency_and_marks_failed_runs() -> None:
    runs = [
        {"status": "OK", "latency_s": 0.01},
        {"status": "CRITICAL"},
        {"status": "OK", "latency_s": 0.03},
    ]
    svg = statuspage.sparkline(runs)
    assert svg.startswith("<svg") and "<polyline" in svg
    assert svg.count("<circle") == 1 and statuspage.COLORS["CRITICAL"] in svg
    assert "10 to 30 ms, latest 30 ms; 1 not OK" in svg
    assert statuspage.sparkline([]) == ""


def test_check_html_writes_the_page_atomically_and_readable(tmp_path: Path) -> None:
    page, state = tmp_path / "status.html", tmp_path / "state.json"
    code = main(
        [
            "check",
            "http://127.0.0.1:1",
            "--retries",
            "0",
            "--timeout",
            "1",
            "--state",
            str(state),
            "--html",
            str(page),
            "--html-refresh",
            "15",
        ]  # fmt: skip
    )
    assert code == ExitStatus.CRITICAL
    text = page.read_text()
    assert 'data-status="CRITICAL" data-layer="tcp"' in text and "Fix: " in text
    assert stat.S_IMODE(page.stat().st_mode) == 0o644  # nginx reads it
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers
    assert state_of(state)["http://127.0.0.1:1"]["history"][0]["layer"] == "tcp"


def test_check_html_refuses_a_missing_directory(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    code = main(["check", "http://127.0.0.1:1", "--html", str(tmp_path / "no" / "s.html")])
    assert code == ExitStatus.UNKNOWN
    assert "--html" in capsys.readouterr().err


def test_each_target_shows_which_workers_pass_the_client_sessions() -> None:
    table = [
        {"worker": "0", "failed": 0, "sessions": 2, "listed": True, "unreached": []},
        {"worker": "1", "failed": 2, "sessions": 2, "listed": True, "unreached": [],
         "failures": [{"step": "handshake", "said": "404 <b>"}]},
    ]  # fmt: skip
    workers = ProbeResult("workers", "workers", False, "== 0", "1 of 2", 0.01,
                          detail={"worker_table": table})  # fmt: skip
    diagnosis = FakeDiagnosis("workers", "1 of 2 workers fail", CRIT, [], "fix")
    outcome = TargetOutcome(Target("http://10.0.0.9"), CRIT, [workers], diagnosis)
    page = statuspage.render(CheckReport([outcome], started_at=1_800_000_000.0, duration_s=0.1))
    assert (
        "<dt>Client sessions</dt><dd>1 / 2 pass the client&#x27;s sessions (failing: 1)</dd>"
        in page
    )
