"""tests/waiting.py: the shared wait returns the first accepted value, retries on connection
errors and, at the deadline, fails naming what it waited for and what it last saw."""

from __future__ import annotations

import pytest

from tests.waiting import wait_for


def test_returns_the_first_value_the_condition_accepts() -> None:
    values = iter([1, 2, 3, 4])
    assert wait_for(lambda: next(values), 5, "three", until=lambda v: v >= 3, interval_s=0) == 3
    assert next(values) == 4  # observed no further than needed


def test_connection_errors_count_as_not_yet() -> None:
    answers = iter([ConnectionRefusedError("refused"), ValueError("half a JSON"), {"ok": True}])

    def observe() -> dict:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_for(observe, 5, "an answer", interval_s=0) == {"ok": True}


def test_other_errors_are_not_swallowed() -> None:
    def observe() -> None:
        raise KeyError("status")

    with pytest.raises(KeyError):
        wait_for(observe, 5, "an answer", interval_s=0)


def test_at_the_deadline_it_fails_with_what_it_last_saw() -> None:
    seen = iter([{"status": "degraded"}, {"status": "starting"}])
    with pytest.raises(AssertionError) as failed:
        wait_for(lambda: next(seen), 0, "health ok", until=lambda h: h["status"] == "ok")
    assert str(failed.value) == "health ok: not within 0 s (last seen: {'status': 'degraded'})"


def test_a_last_error_is_reported_too() -> None:
    def observe() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(AssertionError, match=r"port open: not within 0 s \(last seen: Conn"):
        wait_for(observe, 0, "port open")
