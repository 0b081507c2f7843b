"""The errors a `wsready` command raises; `wsready.cli.main` turns each into its exit status
and one line on stderr, in one place.

    WsreadyError            status UNKNOWN (3) unless a subclass says otherwise
    ├── UsageError          the command line cannot be parsed (argparse)
    ├── InputError          an option, file or data value wsready refuses (ConfigError, …)
    ├── Unreachable         something the command needs cannot be reached or used (AWS, …)
    └── Failed              the command ran and the result is bad: carries its status
"""

from __future__ import annotations

from typing import ClassVar

from wsready.exitstatus import ExitStatus


class WsreadyError(Exception):
    """An error the CLI reports on one line and exits with `status`."""

    status: ExitStatus = ExitStatus.UNKNOWN
    # False when the message is a whole sentence that already names the command.
    prefixed: ClassVar[bool] = True


class UsageError(WsreadyError):
    """The command line cannot be parsed; printed after the parser's usage line."""

    def __init__(self, message: str, *, prog: str = "wsready", usage: str = "") -> None:
        super().__init__(message)
        self.prog = prog
        self.usage = usage


class InputError(WsreadyError):
    """An option, a file or a data value wsready refuses to use; nothing was probed or changed."""


class Unreachable(WsreadyError):
    """Something the command needs (an API, this machine's prerequisites) cannot be used."""


class Failed(WsreadyError):
    """The command ran and its outcome is bad; `status` says how bad (CRITICAL by default)."""

    def __init__(self, message: str, status: ExitStatus = ExitStatus.CRITICAL) -> None:
        super().__init__(message)
        self.status = status


class StdoutClosed(Exception):
    """Whoever read stdout has gone (`wsready check | head -1`). Not a `WsreadyError`: there
    is no one to tell; the run ends with status BROKEN_PIPE (141) and prints nothing more."""
