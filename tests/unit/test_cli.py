"""The dispatcher: `main(argv, env)` with injected streams and variables; usage errors, typed
errors, Ctrl-C and a closed stdout become exit statuses in one place."""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_alerts import report
from wsready import cli
from wsready.aws import AwsError
from wsready.environment import Environment
from wsready.errors import Failed, InputError, Unreachable, UsageError
from wsready.exitstatus import ExitStatus
from wsready.sandbox.prereq import SandboxUnavailable
from wsready.validate import ConfigError

COMMANDS_DIR = Path(cli.__file__).parent / "commands"


class Run:
    """One `main(argv, env)` call with StringIO streams and a dict environment."""

    def __init__(self, argv: list[str], environ: dict[str, str] | None = None) -> None:
        self.env = Environment(
            stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(), environ=environ or {}
        )
        self.code = cli.main(argv, self.env)
        self.out = self.env.stdout.getvalue()
        self.err = self.env.stderr.getvalue()


def test_unknown_command_is_a_usage_error_with_status_3() -> None:
    run = Run(["nope"])
    assert run.code == ExitStatus.UNKNOWN
    assert run.err.startswith("usage: wsready [-h] [--debug]")
    assert run.err.endswith(
        "wsready: error: argument command: invalid choice: 'nope' (choose from 'sandbox', "
        "'token', 'sg', 'rollout', 'diagnose', 'check', 'onboard', 'lb')\n"
    )
    assert run.out == ""


def test_no_command_is_a_usage_error_with_status_3() -> None:
    run = Run([])
    assert run.code == ExitStatus.UNKNOWN
    assert "wsready: error: the following arguments are required: command" in run.err


def test_a_subcommand_usage_error_names_the_subcommand() -> None:
    run = Run(["check", "--timeout", "soon", "http://127.0.0.1"])
    assert run.code == ExitStatus.UNKNOWN
    assert run.err.startswith("usage: wsready check [-h]")
    assert run.err.endswith(
        "wsready check: error: argument --timeout: invalid float value: 'soon'\n"
    )


@pytest.mark.parametrize("name", cli.COMMANDS)
def test_each_command_registers_alone_and_prints_its_help(name: str) -> None:
    run = Run([name, "--help"])
    assert run.code == ExitStatus.OK
    assert run.out.startswith(f"usage: wsready {name} ")
    assert run.err == ""


def test_full_help_lists_every_command() -> None:
    run = Run(["--help"])
    assert run.code == ExitStatus.OK
    assert all(f"    {name} " in run.out for name in cli.COMMANDS), run.out


def _token_command_raising(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def handler(_args, _env):
        raise error

    monkeypatch.setattr("wsready.commands.token.run", handler)


@pytest.mark.parametrize(
    ("error", "status", "line"),
    [
        (InputError("bad input"), ExitStatus.UNKNOWN, "wsready token: bad input"),
        (
            ConfigError("--ttl", -1, "must be positive"),
            ExitStatus.UNKNOWN,
            "wsready token: --ttl = -1: must be positive",
        ),
        (
            Unreachable("no route to the API"),
            ExitStatus.UNKNOWN,
            "wsready token: no route to the API",
        ),
        (AwsError("no AWS credentials"), ExitStatus.UNKNOWN, "wsready token: no AWS credentials"),
        (Failed("2 hosts down"), ExitStatus.CRITICAL, "wsready token: 2 hosts down"),
        (Failed("slow", ExitStatus.WARNING), ExitStatus.WARNING, "wsready token: slow"),
        (
            SandboxUnavailable("wsready sandbox needs root"),
            ExitStatus.UNKNOWN,
            "wsready sandbox needs root",
        ),
    ],
)
def test_each_typed_error_is_one_line_and_its_status(
    monkeypatch: pytest.MonkeyPatch, error: Exception, status: ExitStatus, line: str
) -> None:
    _token_command_raising(monkeypatch, error)
    run = Run(["token"])
    assert (run.code, run.out, run.err) == (status, "", line + "\n")


def test_a_usage_error_raised_by_a_command_prints_its_usage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _token_command_raising(monkeypatch, UsageError("--x: bad", prog="wsready token", usage="u\n"))
    run = Run(["token"])
    assert (run.code, run.err) == (ExitStatus.UNKNOWN, "u\nwsready token: error: --x: bad\n")


def test_a_command_may_prefix_its_error_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_targets, _options):
        raise ConfigError("--state", "/x", "is a directory")

    monkeypatch.setattr("wsready.commands.check.check_all", refuse)
    run = Run(["check", "http://127.0.0.1:9"])
    assert run.code == ExitStatus.UNKNOWN
    assert run.err == "wsready check: error: --state = '/x': is a directory\n"


def test_ctrl_c_is_130_and_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    _token_command_raising(monkeypatch, KeyboardInterrupt())
    run = Run(["token"])
    assert (run.code, run.out, run.err) == (130, "", "wsready token: interrupted\n")


def test_ctrl_c_during_sandbox_up_says_what_was_cleaned_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("wsready.sandbox.up", interrupted)
    run = Run(["sandbox", "up", "--inventory", "/nonexistent/x.py"])
    assert run.code == ExitStatus.INTERRUPTED
    assert run.err == ("wsready sandbox up: interrupted; the hosts it had started are removed\n")


def test_a_sandbox_failure_is_critical(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_address(*_args, **_kwargs):
        raise RuntimeError("no free address in 10.200.0.0/16")

    monkeypatch.setattr("wsready.sandbox.up", no_address)
    run = Run(["sandbox", "up", "--inventory", "/nonexistent/x.py"])
    assert run.code == ExitStatus.CRITICAL
    assert run.err == "wsready sandbox up: no free address in 10.200.0.0/16\n"


class ClosedPipe(io.StringIO):
    """A stdout whose reader has gone."""

    def write(self, _text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_ends_the_run_quietly_with_141(monkeypatch: pytest.MonkeyPatch) -> None:
    def many_lines(_args, env):
        for number in range(1000):
            env.out(f"line {number}")
        raise AssertionError("the closed pipe must stop the command")

    monkeypatch.setattr("wsready.commands.token.run", many_lines)
    env = Environment(stdin=io.StringIO(), stdout=ClosedPipe(), stderr=io.StringIO(), environ={})
    assert cli.main(["token"], env) == ExitStatus.BROKEN_PIPE == 141
    assert env.stderr.getvalue() == ""


def test_a_broken_pipe_that_is_not_stdout_is_an_unexpected_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _token_command_raising(monkeypatch, BrokenPipeError(32, "Broken pipe"))
    run = Run(["token"])
    assert run.code == ExitStatus.UNKNOWN
    assert run.err.startswith("wsready token: unexpected error: BrokenPipeError: ")
    assert run.err.count("\n") == 1


def test_a_closed_pipe_in_a_real_process_exits_141_without_a_traceback() -> None:
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "wsready.cli", "--help"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (141, "")


def test_an_unexpected_error_goes_to_the_injected_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    _token_command_raising(monkeypatch, ZeroDivisionError("division by zero"))
    plain, debug = Run(["token"]), Run(["--debug", "token"])
    assert plain.code == debug.code == ExitStatus.UNKNOWN
    assert plain.err == (
        "wsready token: unexpected error: ZeroDivisionError: division by zero "
        "(run with --debug for the traceback)\n"
    )
    assert debug.err.startswith("Traceback (most recent call last):")


def test_check_takes_its_token_from_the_injected_environment_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list = []

    def fake_check_all(targets, _options):
        seen.extend(targets)
        return report(ExitStatus.OK)

    monkeypatch.setattr("wsready.commands.check.check_all", fake_check_all)
    monkeypatch.setenv("WSR_PROCESS_ONLY", "from-os-environ")
    monkeypatch.delenv("WSR_INJECTED_ONLY", raising=False)

    given = Run(["check", "--token-env", "WSR_INJECTED_ONLY", "http://127.0.0.1:9"],
                {"WSR_INJECTED_ONLY": "from-env"})  # fmt: skip
    assert given.code == ExitStatus.OK
    assert [target.token for target in seen] == ["from-env"]

    missing = Run(["check", "--token-env", "WSR_PROCESS_ONLY", "http://127.0.0.1:9"])
    assert missing.code == ExitStatus.UNKNOWN
    assert missing.err == (
        "wsready check: error: --token-env = 'WSR_PROCESS_ONLY': "
        "environment variable is not set or empty\n"
    )


def test_check_reads_the_webhook_variable_from_the_injected_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WSR_HOOK", "http://127.0.0.1:9/hook")
    base = ["check", "--state", "/tmp/wsready-cli-state.json", "http://127.0.0.1:9"]
    run = Run([*base, "--alert-webhook-env", "WSR_HOOK"])
    assert run.code == ExitStatus.UNKNOWN
    assert "--alert-webhook-env = 'WSR_HOOK': environment variable is not set" in run.err


def test_diagnose_sends_a_token_found_only_in_the_injected_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WSR_INJECTED_ONLY", raising=False)
    argv = ["diagnose", "http://127.0.0.1:9", "--token-env", "WSR_INJECTED_ONLY", "--json"]
    run = Run([*argv, "--timeout", "2"], {"WSR_INJECTED_ONLY": "secret-token-value"})
    assert run.code == ExitStatus.CRITICAL  # nothing listens on port 9
    assert '"token_sent": true' in run.out
    assert "secret-token-value" not in run.out + run.err


def test_rollout_takes_its_token_variable_from_the_injected_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WSR_PROCESS_ONLY", "from-os-environ")
    (tmp_path / "deploy.py").write_text("")
    (tmp_path / "fleet.py").write_text('hosts = ["web1"]\n')
    bin_dir = str(Path(sys.executable).parent)  # where this environment's pyinfra is
    run = Run(["rollout", "fleet.py", "--token-env", "WSR_PROCESS_ONLY"], {"PATH": bin_dir})
    assert run.code == ExitStatus.UNKNOWN
    assert run.err == (
        "wsready rollout: --token-env = 'WSR_PROCESS_ONLY': "
        "environment variable is not set or empty\n"
    )


def test_environment_variable_is_refused_when_unset_or_empty() -> None:
    env = Environment(environ={"EMPTY": "", "SET": "value"})
    assert env.variable("--token-env", "SET") == "value"
    for name in ("EMPTY", "UNSET"):
        with pytest.raises(ConfigError, match=f"--token-env = '{name}': environment variable"):
            env.variable("--token-env", name)


FORBIDDEN = {"print", "exit", "quit", "os.environ", "os.getenv", "sys.stdout", "sys.stderr",
             "sys.stdin", "sys.exit"}  # fmt: skip


@pytest.mark.parametrize("module", sorted(COMMANDS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_commands_use_the_injected_environment_only(module: Path) -> None:
    """No command prints, exits or reads the process environment itself."""
    found = []
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            name = f"{node.value.id}.{node.attr}"
        else:
            continue
        if name in FORBIDDEN:
            found.append(f"line {node.lineno}: {name}")
    assert found == []
