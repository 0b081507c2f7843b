"""Failure modes of the checker itself (issue 13, parts 4 and 5): an unexpected exception is
UNKNOWN on one line, input numbers are finite, a bad state file is a fresh state, and the
webhook follows no redirect, has one deadline and never re-sends a delivered alert."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_alerts import report
from wsready import cli
from wsready.exitstatus import ExitStatus
from wsready.fleet import alerts


def _fake_check_all(status: ExitStatus = ExitStatus.CRITICAL):
    return lambda _targets, _options: report(status)


def test_an_unexpected_exception_is_unknown_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(_targets, _options):
        raise RuntimeError("probe thread exploded\nsecond line")

    monkeypatch.setattr("wsready.commands.check.check_all", boom)
    assert cli.main(["check", "http://127.0.0.1:9"]) == ExitStatus.UNKNOWN
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "RuntimeError: probe thread exploded second line" in err and "--debug" in err


def test_debug_prints_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("wsready.commands.check.check_all", lambda *_: 1 / 0)
    assert cli.main(["--debug", "check", "http://127.0.0.1:9"]) == ExitStatus.UNKNOWN
    assert "Traceback" in capsys.readouterr().err


def test_an_unexpected_error_never_echoes_url_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*_):
        raise ValueError("cannot post to https://ops:hunter2@hooks.example/x")

    monkeypatch.setattr("wsready.commands.check.check_all", boom)
    assert cli.main(["check", "http://127.0.0.1:9"]) == ExitStatus.UNKNOWN
    err = capsys.readouterr().err
    assert "cannot post to https://<hidden>@hooks.example/x" in err  # the message, masked
    assert "hunter2" not in err


def test_the_monitor_unit_counts_unknown_as_a_failure() -> None:
    unit = (Path(__file__).parents[2] / "files/systemd/monitor.service.j2").read_text()
    (line,) = [line for line in unit.splitlines() if line.startswith("SuccessExitStatus=")]
    assert "3" not in line.split("=", 1)[1].split()


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        (["check", "--backoff", "nan", "http://127.0.0.1:9"], "--backoff"),
        (["check", "--backoff", "-1", "http://127.0.0.1:9"], "--backoff"),
        (["check", "--timeout", "inf", "http://127.0.0.1:9"], "--timeout"),
        (["check", "--timeout", "nan", "http://127.0.0.1:9"], "--timeout"),
        (["check", "--warn-latency", "nan", "http://127.0.0.1:9"], "--warn-latency"),
        (["check", "https://ops:hunter2@127.0.0.1:9"], "URL"),
        (["diagnose", "--timeout", "inf", "http://127.0.0.1:9"], "--timeout"),
        (["token", "--ttl", "nan"], "--ttl"),
        (["token", "--ttl", "inf"], "--ttl"),
        (["token", "--ttl", "-5"], "--ttl"),
        (["token", "--ttl", "31536001"], "--ttl"),
    ],
)
def test_numbers_and_urls_are_judged_before_anything_runs(
    argv: list[str], key: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    if argv[0] == "token":
        inventory = tmp_path / "inv.py"
        inventory.write_text(
            "hosts = [('web-1', {'app_auth': 'jwt', 'app_jwt_secret': 's' * 40})]\n"
        )
        argv = [*argv, "--inventory", str(inventory)]
    assert cli.main(argv) == ExitStatus.UNKNOWN
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and key in lines[0] and "Traceback" not in captured.err
    assert "hunter2" not in captured.err


def _check_with_state(content: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Run `wsready check` (fake probes: CRITICAL) with a state file holding `content`;
    returns the state file it saved."""
    state, metrics = tmp_path / "state.json", tmp_path / "wsready.prom"
    state.write_text(content)
    monkeypatch.setattr("wsready.commands.check.check_all", _fake_check_all())
    argv = ["check", "http://127.0.0.1:9", "--state", str(state), "--prometheus", str(metrics)]
    assert cli.main(argv) == ExitStatus.CRITICAL  # the targets' status, not UNKNOWN
    assert metrics.read_text()
    saved = json.loads(state.read_text())
    assert saved["version"] == alerts.STATE_VERSION and saved["targets"]
    return saved


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("not json", "cannot be read as JSON"),
        ("[]", "is not a wsready state file"),
        ('{"version": 1, "targets": []}', "has no 'targets' object"),
    ],
)
def test_a_bad_state_file_is_a_warning_and_a_fresh_state(
    content: str,
    why: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    saved = _check_with_state(content, tmp_path, monkeypatch)
    (warning,) = capsys.readouterr().err.splitlines()
    assert warning.startswith("wsready check: warning: --state = ")
    assert why in warning and warning.endswith("; starting from a fresh state"), warning
    assert [run["status"] for run in saved["targets"]["web-1"]["history"]] == ["CRITICAL"]


@pytest.mark.parametrize(
    "content",
    [
        '{"version": 1, "targets": {"web-1": 5, "web-2": {"status": 3, "history": 7}}}',
        '{"version": 1, "targets": {"web-1": {"history": [1, {"x": 2}]}}}',
    ],
)
def test_ill_shaped_entries_of_a_state_file_are_dropped_without_a_warning(
    content: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    saved = _check_with_state(content, tmp_path, monkeypatch)
    assert capsys.readouterr().err == ""
    assert [run["status"] for run in saved["targets"]["web-1"]["history"]] == ["CRITICAL"]
    for label, entry in saved["targets"].items():
        assert isinstance(entry.get("status", ""), str), (label, entry)
        assert all(isinstance(run["status"], str) for run in entry.get("history", [])), entry


# --- the webhook --------------------------------------------------------------------------------


class _Hooks(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []
    trickled = 0  # bytes of /slow's body sent so far
    release = threading.Event()  # ends /slow's body early: the test has seen what it needs

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.hits.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/redirect":
            self.send_response(307)
            self.send_header("Location", "/stolen")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            # A slow peer: one byte every 0.1 s (no single read times out), 100 at most.
            for _ in range(100):
                if self.release.is_set():
                    break
                self.wfile.write(b"x")
                self.wfile.flush()
                _Hooks.trickled += 1
                self.release.wait(0.1)
        else:
            self.send_response(204)
            self.end_headers()

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def hooks() -> Iterator[str]:
    _Hooks.hits, _Hooks.trickled, _Hooks.release = [], 0, threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _Hooks.release.set()
    server.shutdown()
    server.server_close()


def test_the_webhook_follows_no_redirect(hooks: str) -> None:
    with pytest.raises(alerts.WebhookRedirect) as caught:
        alerts.post_webhook(f"{hooks}/redirect", {"text": "x"})
    assert _Hooks.hits == ["/redirect"]  # never re-POSTed to /stolen
    assert "307" in alerts.delivery_error(caught.value)
    assert hooks not in alerts.delivery_error(caught.value)


def test_the_webhook_has_one_overall_deadline(hooks: str) -> None:
    """A peer that answers byte by byte, each byte within requests' per-read timeout: the
    delivery gives up at its deadline while the body is still coming, not when it ends."""
    with pytest.raises(alerts.WebhookDeadline):
        alerts.post_webhook(f"{hooks}/slow", {"text": "x"}, deadline_s=1.0)
    still_sending = not _Hooks.release.is_set() and _Hooks.trickled < 100
    assert _Hooks.hits == ["/slow"] and _Hooks.trickled > 0
    assert still_sending, f"the peer had sent all {_Hooks.trickled} bytes"


def test_each_delivered_transition_is_saved_before_the_next_post(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    posted: list[str] = []

    def post(_url: str, body: dict) -> None:
        if posted:
            raise SystemExit("killed during the second delivery")
        posted.append(body["target"])

    with pytest.raises(SystemExit):
        alerts.process(
            report(ExitStatus.CRITICAL, ExitStatus.CRITICAL),
            str(state),
            "http://h.example/x",
            print,
            post,
        )
    saved = json.loads(state.read_text())["targets"]
    assert saved[posted[0]]["status"] == "CRITICAL"
    resent: list[str] = []
    alerts.process(
        report(ExitStatus.CRITICAL, ExitStatus.CRITICAL),
        str(state),
        "http://h.example/x",
        print,
        lambda _url, body: resent.append(body["target"]),
    )
    assert posted[0] not in resent and len(resent) == 1
