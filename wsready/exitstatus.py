"""Exit statuses shared by every command (monitoring-plugin convention)."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """`wsready` exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; and, as shells report a
    signal (128 + its number), 130 for Ctrl-C and 141 for a reader that closed stdout."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3
    INTERRUPTED = 130  # SIGINT
    BROKEN_PIPE = 141  # SIGPIPE
