"""`wsready …`: one entry point; each command lives in `wsready.commands.<name>`.

A command module exposes `register(subparsers)`, which adds its parser and sets
`handler=callable(args) -> int` as a default.
"""

from __future__ import annotations

import argparse
import importlib
import sys
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
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    for name in (only,) if only in COMMANDS else COMMANDS:
        importlib.import_module(f"wsready.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
