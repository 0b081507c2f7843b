"""What a `wsready` command takes from its process, injected so tests can give their own.

`wsready.cli.main(argv, env)` hands one `Environment` to the command; commands write through
it and read variables from it, never from `sys.stdout` or `os.environ` directly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from wsready.errors import StdoutClosed
from wsready.validate import ConfigError


@dataclass
class Environment:
    """The streams and environment variables one command run sees."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def out(self, text: str = "", *, flush: bool = False) -> None:
        """One line (or several) on stdout."""
        self.write(text + "\n")
        if flush:
            self.flush()

    def write(self, text: str) -> None:
        """`text` as it is on stdout; StdoutClosed when the reader has gone."""
        try:
            self.stdout.write(text)
        except BrokenPipeError:
            raise StdoutClosed from None

    def flush(self) -> None:
        """Flush stdout; StdoutClosed when the reader has gone."""
        try:
            self.stdout.flush()
        except BrokenPipeError:
            raise StdoutClosed from None

    def err(self, text: str) -> None:
        """One line on stderr, flushed: notes, progress and errors."""
        print(text, file=self.stderr, flush=True)

    def variable(self, option: str, name: str) -> str:
        """The value of variable `name` that `option` (e.g. --token-env) names; ConfigError
        when it is not set or empty. The value is never part of the message."""
        value = self.environ.get(name)
        if not value:
            raise ConfigError(option, name, "environment variable is not set or empty")
        return value

    def drop_stdout(self) -> None:
        """Point a closed pipe's file descriptor at /dev/null, so the interpreter's last
        flush does not report the broken pipe again. Streams without one are left alone."""
        try:
            descriptor = self.stdout.fileno()
        except (AttributeError, OSError, ValueError):
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, descriptor)
        finally:
            os.close(devnull)
