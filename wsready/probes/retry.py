"""The one retry/backoff policy for probe runs: `wsready check`, the deploy's verify and
rollout's host checks all retry through it.

    policy = RetryPolicy(attempts=4, base_s=1.0, factor=2.0, max_s=5.0)
    policy.schedule()                        # [1.0, 2.0, 4.0]: three waits, the last <= 5
    results, attempts = policy.run(lambda _n: run_probes(target), passed)

`sleep` is injected: tests pass a fake and read the waits, never the wall clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from wsready.validate import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Up to `attempts` tries in all; before retry n (1-based) wait
    `min(base_s * factor ** (n - 1), max_s)` seconds."""

    attempts: int = 1
    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = math.inf
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ConfigError("attempts", self.attempts, "must be a whole number")
        if self.attempts < 1:
            raise ConfigError("attempts", self.attempts, "must be at least 1")
        if not self.base_s >= 0:  # also refuses nan
            raise ConfigError("base_s", self.base_s, "must not be negative")
        if not self.factor >= 1:
            raise ConfigError("factor", self.factor, "must be at least 1")
        if not self.max_s >= 0:
            raise ConfigError("max_s", self.max_s, "must not be negative")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 = the second attempt)."""
        return min(self.base_s * self.factor ** (retry - 1), self.max_s)

    def schedule(self) -> list[float]:
        """Every wait the policy may make, in order (attempts - 1 of them)."""
        return [self.delay(retry) for retry in range(1, self.attempts)]

    def run(self, attempt: Callable[[int], T], done: Callable[[T], bool]) -> tuple[T, int]:
        """Call `attempt(number)` until `done(outcome)` or the attempts are spent, sleeping
        the schedule in between; returns the last outcome and how many attempts it took."""
        number = 1
        while True:
            outcome = attempt(number)
            if done(outcome) or number >= self.attempts:
                return outcome, number
            self.sleep(self.delay(number))
            number += 1
