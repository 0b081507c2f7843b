"""`wsready check` bad input: one clear line on stderr naming key and value, exit 3, no probe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wsready import cli


def wsready_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wsready.cli", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://"], "wsready check: error: URL = 'http://': has no host"),
        (["ftp://10.200.1.2"], "wsready check: error: URL = 'ftp://10.200.1.2': scheme must be"),
        (["not a url"], "wsready check: error: URL = 'not a url': scheme must be"),
        (["http://h:70000"], "wsready check: error: URL = 'http://h:70000': has an invalid port"),
        (["http://[::1"], "wsready check: error: URL = 'http://[::1': is not a valid URL"),
        (
            ["--timeout", "-1", "http://127.0.0.1"],
            "wsready check: error: --timeout = -1.0: must be a number greater than 0",
        ),
        (
            ["--retries", "-2", "http://127.0.0.1"],
            "wsready check: error: --retries = -2: must be between 0 and 10",
        ),
        (
            ["--concurrency", "0", "http://127.0.0.1"],
            "wsready check: error: --concurrency = 0: must be 1 to 256",
        ),
        (
            ["--processes", "0", "http://127.0.0.1"],
            "wsready check: error: --processes = 0: must be a whole number from 1 to 64",
        ),
        (
            ["--warn-latency", "3", "--crit-latency", "1", "http://127.0.0.1"],
            "wsready check: error: --warn-latency = 3.0: must be lower than --crit-latency",
        ),
        ([], "wsready check: error: URL = None: give at least one URL or --inventory FILE"),
        (
            ["--inventory", "/nonexistent/fleet.py"],
            "wsready check: error: --inventory = '/nonexistent/fleet.py': file does not exist",
        ),
        (
            ["--alert-webhook", "http://127.0.0.1:9/hook", "http://127.0.0.1"],
            "wsready check: error: --alert-webhook = 'http://127.0.0.1:9/hook': needs --state",
        ),
        (
            ["--alert-webhook", "gopher://x", "--state", "/tmp/s.json", "http://127.0.0.1"],
            "wsready check: error: --alert-webhook = 'gopher://x': scheme must be",
        ),
        (
            ["--prometheus", "/tmp/wsready.txt", "http://127.0.0.1"],
            "wsready check: error: --prometheus = '/tmp/wsready.txt': must end in .prom",
        ),
        (
            ["--token-env", "WSREADY_SURELY_UNSET", "http://127.0.0.1"],
            "wsready check: error: --token-env = 'WSREADY_SURELY_UNSET': environment variable",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_3(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["check", *args]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(message)
    assert captured.err.count("\n") == 1


def test_webhook_from_the_environment_is_checked_without_printing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["check", "--state", "/tmp/wsready-state.json", "http://127.0.0.1"]
    monkeypatch.delenv("WSREADY_TEST_HOOK", raising=False)
    assert cli.main([*base, "--alert-webhook-env", "WSREADY_TEST_HOOK"]) == 3
    assert capsys.readouterr().err == (
        "wsready check: error: --alert-webhook-env = 'WSREADY_TEST_HOOK': "
        "environment variable is not set or empty\n"
    )
    monkeypatch.setenv("WSREADY_TEST_HOOK", "hooks.example.test/SECRET")
    assert cli.main([*base, "--alert-webhook-env", "WSREADY_TEST_HOOK"]) == 3
    err = capsys.readouterr().err
    assert err == (
        "wsready check: error: --alert-webhook-env = 'WSREADY_TEST_HOOK': "
        "does not hold an http(s):// URL\n"
    )
    both = [*base, "--alert-webhook-env", "WSREADY_TEST_HOOK", "--alert-webhook", "http://x"]
    assert cli.main(both) == 3
    assert "or --alert-webhook, not both" in capsys.readouterr().err


def test_inventory_that_is_a_directory_or_invalid_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "fleet.py"
    broken.write_text("web = [('w1', {'ssh_hostname': '10.200.1.2'})\n")
    for path, why in ((tmp_path, "is not a file"), (broken, "cannot be loaded: SyntaxError")):
        assert cli.main(["check", "--inventory", str(path)]) == 3
        err = capsys.readouterr().err
        assert err.startswith(f"wsready check: error: --inventory = '{path}': {why}")
        assert err.count("\n") == 1


def test_unparsable_numbers_exit_3_through_argparse() -> None:
    result = wsready_check("--timeout", "soon", "http://127.0.0.1")
    assert result.returncode == 3
    assert "argument --timeout: invalid float value: 'soon'" in result.stderr
    assert result.stdout == ""
