"""alerts.py: state transitions, message content, delivery failures (recorded POSTs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.checkfakes import FakeDiagnosis
from wsready.exitstatus import ExitStatus
from wsready.fleet import alerts
from wsready.fleet.sweep import CheckReport, TargetOutcome
from wsready.probes import ProbeResult, Target
from wsready.validate import ConfigError

DOWN = FakeDiagnosis(
    "tcp",
    "connection refused: nothing listens on port 80",
    ExitStatus.CRITICAL,
    ["tcp connect (refused) == connected"],
    "start nginx",
)
UP = FakeDiagnosis("none", "all probes passed", ExitStatus.OK)


def report(*statuses: ExitStatus, started_at: float = 1_700_000_000.0) -> CheckReport:
    outcomes = []
    for index, status in enumerate(statuses):
        failed = status != ExitStatus.OK
        outcomes.append(
            TargetOutcome(
                Target(url=f"http://10.200.{index + 1}.2", name=f"web-{index + 1}", token="tok"),
                status,
                [ProbeResult("tcp", "tcp", not failed, "== connected", "refused", 0.01)],
                DOWN if failed else UP,
            )
        )
    return CheckReport(outcomes, started_at=started_at, duration_s=0.1)


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(self, url: str, body: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("receiver down")
        self.sent.append(body)


def run(state: Path, rep: CheckReport, post: Recorder, warnings: list[str] | None = None):
    return alerts.process(
        rep,
        str(state),
        "http://127.0.0.1:9/hook",
        (warnings if warnings is not None else []).append,
        post=post,
    )


def test_one_message_per_change_none_while_it_stays(tmp_path: Path) -> None:
    state, post = tmp_path / "state.json", Recorder()
    ok, crit = ExitStatus.OK, ExitStatus.CRITICAL
    for status in (ok, crit, crit, crit, ok, ok):
        run(state, report(status), post)
    assert [(m["old_status"], m["new_status"]) for m in post.sent] == [
        ("OK", "CRITICAL"),
        ("CRITICAL", "OK"),
    ]


def test_the_message_carries_the_diagnosis_and_no_token(tmp_path: Path) -> None:
    state, post = tmp_path / "state.json", Recorder()
    run(state, report(ExitStatus.OK), post)
    run(state, report(ExitStatus.CRITICAL), post)
    (body,) = post.sent
    assert body["target"] == "web-1"
    assert body["diagnosis"] == {
        "layer": "tcp",
        "title": "connection refused: nothing listens on port 80",
        "evidence": ["tcp connect (refused) == connected"],
        "fix": "start nginx",
        "status": "CRITICAL",
    }
    assert body["text"].startswith("wsready: web-1 OK -> CRITICAL: [tcp]")
    assert "tok" not in json.dumps(body).replace("tokens", "")


def test_first_sight_alerts_only_when_not_ok(tmp_path: Path) -> None:
    post = Recorder()
    run(tmp_path / "a.json", report(ExitStatus.OK), post)
    assert post.sent == []
    run(tmp_path / "b.json", report(ExitStatus.CRITICAL), post)
    assert [(m["old_status"], m["new_status"]) for m in post.sent] == [(None, "CRITICAL")]


def test_warning_transitions_alert_too(tmp_path: Path) -> None:
    state, post = tmp_path / "state.json", Recorder()
    for status in (ExitStatus.OK, ExitStatus.WARNING, ExitStatus.CRITICAL, ExitStatus.OK):
        run(state, report(status), post)
    assert [m["new_status"] for m in post.sent] == ["WARNING", "CRITICAL", "OK"]


def test_each_target_is_tracked_on_its_own(tmp_path: Path) -> None:
    state, post = tmp_path / "state.json", Recorder()
    run(state, report(ExitStatus.OK, ExitStatus.OK), post)
    run(state, report(ExitStatus.OK, ExitStatus.CRITICAL), post)
    assert [m["target"] for m in post.sent] == ["web-2"]


def test_undelivered_alert_is_sent_again_next_run(tmp_path: Path) -> None:
    state, warnings = tmp_path / "state.json", []
    run(state, report(ExitStatus.OK), Recorder())
    run(state, report(ExitStatus.CRITICAL), Recorder(fail=True), warnings)
    assert len(warnings) == 1
    assert warnings[0] == (
        "wsready check: alert for web-1 (OK -> CRITICAL) not delivered: ConnectionError; "
        "it will be sent again next run"
    )
    assert json.loads(state.read_text())["targets"]["web-1"]["status"] == "OK"
    retry = Recorder()
    run(state, report(ExitStatus.CRITICAL), retry)
    assert [(m["old_status"], m["new_status"]) for m in retry.sent] == [("OK", "CRITICAL")]
    assert json.loads(state.read_text())["targets"]["web-1"]["status"] == "CRITICAL"


def test_state_without_webhook_records_status_and_since(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    alerts.process(report(ExitStatus.OK, started_at=100.0), str(state), None, print)
    alerts.process(report(ExitStatus.OK, started_at=200.0), str(state), None, print)
    recorded = json.loads(state.read_text())["targets"]["web-1"]
    assert recorded["status"] == "OK"
    assert recorded["since"].startswith("1970-01-01T00:01:40")  # first seen OK at t=100
    assert recorded["checked_at"].startswith("1970-01-01T00:03:20")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "cannot be read as JSON"),
        ('{"version": 99, "targets": {}}', "is not a wsready state file"),
        ('{"version": 1, "targets": []}', "has no 'targets' object"),
    ],
)
def test_bad_state_files_are_refused(tmp_path: Path, content: str, why: str) -> None:
    state = tmp_path / "state.json"
    state.write_text(content)
    with pytest.raises(ConfigError, match=why):
        alerts.load_state(str(state))


def test_state_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        alerts.load_state(str(tmp_path / "nope" / "state.json"))


def test_delivery_errors_never_show_the_webhook_url() -> None:
    import requests

    secret = "http://hooks.example.test/services/T000/B000/XXXXSECRET"
    response = requests.Response()
    response.status_code = 404
    response.url = secret
    cases = {
        requests.HTTPError(f"404 Client Error for url: {secret}", response=response): (
            "the webhook answered HTTP 404"
        ),
        requests.ConnectionError(f"Max retries exceeded with url: {secret}"): (
            "cannot connect to the webhook"
        ),
        requests.Timeout(f"Read timed out: {secret}"): "no answer within 10 s",
    }
    for error, text in cases.items():
        assert alerts.delivery_error(error) == text
