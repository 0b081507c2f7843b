"""The one way tests wait: poll a real condition until it holds or a deadline passes.

    state = wait_for(lambda: health(address), 20, "health ok", until=lambda h: h["status"] == "ok")

`observe()` is called every `interval_s`; its value is judged by `until` (truthiness by
default) and returned once it passes. An exception from `retry_on` (connection refused, a
half-written answer) counts as "not yet". At the deadline the test fails with `what` and the
last value or error seen, so a timeout says what the test saw instead of only that it waited.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

RETRY_ON: tuple[type[BaseException], ...] = (OSError, ValueError)  # requests' errors are OSError
SHOWN_CHARS = 2000  # of the last value seen, in the failure message


def wait_for(
    observe: Callable[[], T],
    timeout_s: float,
    what: str,
    *,
    until: Callable[[T], object] = bool,
    interval_s: float = 0.2,
    retry_on: tuple[type[BaseException], ...] = RETRY_ON,
) -> T:
    """The first value of `observe()` that `until` accepts; AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: object = "nothing (never observed)"
    while True:
        try:
            value = observe()
        except retry_on as error:
            last = error
        else:
            if until(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            seen = repr(last)
            if len(seen) > SHOWN_CHARS:
                seen = f"{seen[:SHOWN_CHARS]}... ({len(seen)} chars)"
            raise AssertionError(f"{what}: not within {timeout_s:g} s (last seen: {seen})")
        time.sleep(interval_s)


def accepting(address: str, port: int) -> bool:
    """True once `address:port` accepts a TCP connection (refused: an OSError, not yet)."""
    with socket.create_connection((address, port), timeout=1):
        return True
