"""Exit statuses shared by every command (monitoring-plugin convention)."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """`wsready` exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3
