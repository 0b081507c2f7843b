"""RetryPolicy (wsready/probes/retry.py): its schedule and its loop, with a fake sleep."""

from __future__ import annotations

import math

import pytest

from wsready.fleet.sweep import CheckOptions
from wsready.probes.retry import RetryPolicy
from wsready.validate import ConfigError


def test_the_schedule_grows_by_the_factor_up_to_the_cap() -> None:
    assert RetryPolicy(5, 1.0, 2.0, 5.0).schedule() == [1.0, 2.0, 4.0, 5.0]
    assert RetryPolicy(4, 0.5, 3.0).schedule() == [0.5, 1.5, 4.5]
    assert RetryPolicy(3, 2.0, 1.0).schedule() == [2.0, 2.0]  # a fixed wait
    assert RetryPolicy(1).schedule() == []
    assert RetryPolicy().max_s == math.inf


def test_run_stops_at_the_first_good_outcome_and_sleeps_the_schedule() -> None:
    sleeps: list[float] = []
    seen: list[int] = []

    def attempt(number: int) -> str:
        seen.append(number)
        return "ok" if number == 3 else "bad"

    policy = RetryPolicy(5, 1.0, 2.0, 5.0, sleep=sleeps.append)
    assert policy.run(attempt, lambda outcome: outcome == "ok") == ("ok", 3)
    assert seen == [1, 2, 3] and sleeps == [1.0, 2.0]


def test_run_gives_up_after_the_attempts_with_the_last_outcome() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(4, 1.0, 2.0, 3.0, sleep=sleeps.append)
    assert policy.run(lambda number: number, lambda _outcome: False) == (4, 4)
    assert sleeps == [1.0, 2.0, 3.0] == policy.schedule()


def test_one_attempt_never_sleeps() -> None:
    sleeps: list[float] = []
    assert RetryPolicy(1, sleep=sleeps.append).run(lambda n: n, lambda _o: False) == (1, 1)
    assert sleeps == []


@pytest.mark.parametrize(
    ("arguments", "name"),
    [((0,), "attempts"), ((True,), "attempts"), ((2, -1.0), "base_s"), ((2, 1.0, 0.5), "factor"),
     ((2, 1.0, 2.0, -1.0), "max_s"), ((2, math.nan), "base_s")],
)  # fmt: skip
def test_a_bad_policy_is_refused(arguments, name) -> None:
    with pytest.raises(ConfigError, match=name):
        RetryPolicy(*arguments)


def test_check_options_give_doubling_backoff_over_retries_plus_one_attempts() -> None:
    policy = CheckOptions(retries=3, backoff_s=0.5).retry_policy()
    assert (policy.attempts, policy.schedule()) == (4, [0.5, 1.0, 2.0])
