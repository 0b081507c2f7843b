"""`wsready diagnose` refuses bad input with one clear line and exit 3, before any probe."""

from __future__ import annotations

import pytest

from wsready.cli import main
from wsready.exitstatus import ExitStatus


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ftp://example.test"], "URL = 'ftp://example.test': scheme must be one of"),
        (["not a url"], "URL = 'not a url': "),
        (["http://"], "URL = 'http://': has no host"),
        (["http://host:70000"], "has an invalid port"),
        (["http://h", "--timeout", "-1"], "--timeout = -1.0: must be a number of seconds"),
        (["http://h", "--timeout", "0"], "--timeout = 0.0"),
        (["http://h", "--token-env", "WSR_UNSET_VAR"], "WSR_UNSET_VAR"),
        (["http://h", "--path", "ws"], "--path = 'ws': must be a path starting with '/'"),
        (["http://h", "--origin", "app.example"], "--origin = 'app.example'"),
        (["http://h", "--insecure", "--ca-file", "ca.pem"], "not both"),
        (["https://h", "--ca-file", "/nonexistent/ca.pem"], "is not a readable file"),
        (["http://h", "--warn-latency", "0"], "--warn-latency = 0.0: must be a"),
        (["http://h", "--tls-warn-days", "3"], "--tls-warn-days = 3: must be >= --tls-crit-days"),
        (["http://h", "--tls-crit-days", "-1"], "--tls-crit-days = -1: must be 0 or more"),
    ],
)
def test_bad_input_exits_unknown(argv: list[str], message: str, capsys, monkeypatch) -> None:
    monkeypatch.delenv("WSR_UNSET_VAR", raising=False)
    code = main(["diagnose", *argv])
    captured = capsys.readouterr()
    assert code == ExitStatus.UNKNOWN
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("wsready diagnose: error: ")
    assert message in lines[0]


def test_non_numeric_timeout_is_a_usage_error(capsys) -> None:
    assert main(["diagnose", "http://h", "--timeout", "soon"]) == ExitStatus.UNKNOWN
    assert "invalid float value: 'soon'" in capsys.readouterr().err
