"""`wsready …`: one entry point; each command lives in `wsready.commands.<name>`.

A command module exposes `register(subparsers)`, which adds its parser and sets
`handler=callable(args, env) -> int` as a default (and, optionally, `name`: how its messages
start, `error_prefix`: how its error lines start, `interrupt_note`: what Ctrl-C left behind).
Handlers write through the `Environment` and raise `wsready.errors` types; `main` is the one
place where errors, Ctrl-C and a closed stdout become exit statuses.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from wsready.environment import Environment
from wsready.errors import StdoutClosed, UsageError, WsreadyError
from wsready.exitstatus import ExitStatus

COMMANDS: tuple[str, ...] = (
    "sandbox", "token", "sg", "rollout", "diagnose", "check", "onboard", "lb",
)  # fmt: skip


class HelpRequested(Exception):
    """--help was given: `text` goes to stdout and the run ends with status 0."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class ArgumentParser(argparse.ArgumentParser):
    """argparse that writes nothing and never exits: a usage error raises `UsageError`
    (exit UNKNOWN, 3, not argparse's 2, which means CRITICAL here), --help `HelpRequested`."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, prog=self.prog, usage=self.format_usage())

    def print_help(self, file: object = None) -> NoReturn:  # type: ignore[override]
        raise HelpRequested(self.format_help())


def build_parser(only: str | None = None) -> ArgumentParser:
    """The parser; with `only`, just that command's module is imported (cron runs of
    `wsready check` should not pay for paramiko or boto3)."""
    parser = ArgumentParser(
        prog="wsready",
        description="Provision, prove, diagnose and monitor Socket.IO behind nginx.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an unexpected error"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    for name in (only,) if only in COMMANDS else COMMANDS:
        importlib.import_module(f"wsready.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run one command and return its exit status; `argv` and `env` default to this
    process's arguments, streams and environment variables."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = Environment() if env is None else env
    try:
        status = _run(argv, env)
        env.flush()  # a closed pipe shows here at the latest, not at exit
    except StdoutClosed:
        env.drop_stdout()  # the reader has gone (`wsready check | head -1`): say nothing
        return ExitStatus.BROKEN_PIPE
    return status


def _run(argv: list[str], env: Environment) -> int:
    """Parse, run the handler, and map what it raises to an exit status."""
    name, args = "wsready", None
    try:
        command = next((word for word in argv if not word.startswith("-")), None)
        args = build_parser(command).parse_args(argv)
        name = getattr(args, "name", f"wsready {args.command}")
        return int(args.handler(args, env))
    except HelpRequested as shown:
        env.write(shown.text)
        return ExitStatus.OK
    except KeyboardInterrupt:
        note = getattr(args, "interrupt_note", None)
        env.err(f"{name}: interrupted" + (f"; {note}" if note else ""))
        return ExitStatus.INTERRUPTED
    except StdoutClosed:
        raise
    except UsageError as error:
        env.stderr.write(f"{error.usage}{error.prog}: error: {error}\n")
        return error.status
    except WsreadyError as error:
        prefix = getattr(args, "error_prefix", name)
        env.err(f"{prefix}: {error}" if error.prefixed else str(error))
        return error.status
    except Exception as error:  # noqa: BLE001 - the one place errors become exit codes
        if args is not None and args.debug:
            traceback.print_exc(file=env.stderr)
        env.err(
            f"{name}: unexpected error: {type(error).__name__}: "
            f"{_one_line(error)} (run with --debug for the traceback)"
        )
        return ExitStatus.UNKNOWN


def _one_line(error: Exception) -> str:
    """The error's message on one line, without URL credentials (user:password@)."""
    text = " ".join(str(error).split())[:300]
    return re.sub(r"(://)[^/@\s]*@", r"\1<hidden>@", text)


if __name__ == "__main__":
    sys.exit(main())
