"""`wsready …`: one entry point; each command lives in `wsready.commands.<name>`.

A command module exposes `register(subparsers)`, which adds its parser and sets
`handler=callable(args) -> int` as a default.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import traceback
from collections.abc import Sequence

from wsready.exitstatus import ExitStatus

COMMANDS: tuple[str, ...] = ("sandbox", "token", "sg", "rollout", "diagnose", "check", "onboard")


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but usage errors exit UNKNOWN (3), not 2 (which means CRITICAL here)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(ExitStatus.UNKNOWN, f"{self.prog}: error: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. An unexpected exception is UNKNOWN (3), never 1 (WARNING, which a
    monitor's unit counts as a result): one line on stderr, the traceback only with --debug."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((word for word in argv if not word.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print(f"wsready {args.command}: interrupted", file=sys.stderr)
        return ExitStatus.UNKNOWN
    except Exception as error:  # noqa: BLE001 - the one place errors become exit codes
        if args.debug:
            traceback.print_exc()
        print(
            f"wsready {args.command}: unexpected error: {type(error).__name__}: "
            f"{_one_line(error)} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return ExitStatus.UNKNOWN


def _one_line(error: Exception) -> str:
    """The error's message on one line, without URL credentials (user:password@)."""
    text = " ".join(str(error).split())[:300]
    return re.sub(r"(://)[^/@\s]*@", r"\1<hidden>@", text)


if __name__ == "__main__":
    sys.exit(main())
