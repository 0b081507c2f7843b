"""What a probe expects, as data, and the one helper that judges and prints it (Gatus-style).

A `Condition` names a value in what the probe saw (a key of the result's `detail`, dotted for
nested keys), an operator and the expected value:

    Condition("status", "==", 101).judge({"status": 502})       # False
    Condition("status", "==", 101).text(502)                    # 'status (502) == 101'
    Condition("status", "==", 101).text(None)                   # 'status (missing) == 101'

A value that is absent never satisfies a condition (no answer is not a 101), except
`absent`. `subject` is how the value is named in the text when it differs from the key;
`says` replaces `OP EXPECTED` when that reads badly
(`Condition("name", "exists", key="addresses", says="resolves")`).
`parse("status == 101")` reads the same thing from text.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MISSING = "missing"  # what the text shows for a value the probe never saw

_ABSENT = object()


def _contains(value: Any, expected: Any) -> bool:
    return value in expected


def _not_contains(value: Any, expected: Any) -> bool:
    return value not in expected


def _startswith(value: Any, expected: Any) -> bool:
    return isinstance(value, str) and value.startswith(expected)


def _exists(value: Any, _expected: Any) -> bool:
    return True  # reached only for a value that is present


def _absent(_value: Any, _expected: Any) -> bool:
    return False  # reached only for a value that is present


UNARY = ("exists", "absent")  # operators without an expected value
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": _contains,
    "not in": _not_contains,
    "startswith": _startswith,
    "exists": _exists,
    "absent": _absent,
}


def describe(subject: str, actual: Any, expectation: str) -> str:
    """The one way a condition is printed: `status (502) == 101`; `(missing)` for None."""
    shown = MISSING if actual is None or actual == "" else actual
    prefix = f"{subject} " if subject else ""
    return f"{prefix}({shown}) {expectation}"


def lookup(detail: Mapping[str, Any], key: str) -> Any:
    """`detail[key]`, following dots into nested mappings; None when absent."""
    value: Any = detail
    for part in key.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part, _ABSENT)
        if value is _ABSENT:
            return None
    return value


@dataclass(frozen=True)
class Condition:
    """`subject OP expected`, judged on `detail[key]` (key defaults to subject)."""

    subject: str
    op: str
    expected: Any = None
    key: str | None = None
    says: str | None = None

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"unknown operator {self.op!r}: one of {', '.join(OPERATORS)}")

    @property
    def expectation(self) -> str:
        """What is expected, as printed after the actual value: `== 101`."""
        if self.says is not None:
            return self.says
        if self.op in UNARY:
            return self.op
        return f"{self.op} {_literal(self.expected)}"

    def value(self, detail: Mapping[str, Any]) -> Any:
        return lookup(detail, self.key or self.subject)

    def holds(self, value: Any) -> bool:
        """Whether `value` satisfies the condition; an absent (None) value satisfies only
        `absent`."""
        if value is None:
            return self.op == "absent"
        try:
            return bool(OPERATORS[self.op](value, self.expected))
        except TypeError:  # e.g. "502" < 7: a value of the wrong kind does not satisfy it
            return False

    def judge(self, detail: Mapping[str, Any]) -> bool:
        return self.holds(self.value(detail))

    def text(self, actual: Any) -> str:
        return describe(self.subject, actual, self.expectation)

    def __str__(self) -> str:
        return f"{self.key or self.subject} {self.expectation}"


@dataclass(frozen=True)
class Verdict:
    """How a probe's conditions came out: `ok`, the condition its text names (the first that
    failed, else the first), and each condition with whether it held."""

    ok: bool
    condition: Condition
    outcomes: tuple[tuple[Condition, bool], ...]

    def to_list(self) -> list[dict[str, Any]]:
        return [{"condition": str(cond), "ok": held} for cond, held in self.outcomes]


def judge(conditions: Iterable[Condition], detail: Mapping[str, Any]) -> Verdict:
    """Judge every condition on `detail`; all must hold."""
    outcomes = tuple((condition, condition.judge(detail)) for condition in conditions)
    if not outcomes:
        raise ValueError("a probe needs at least one condition")
    failed = next((condition for condition, held in outcomes if not held), None)
    return Verdict(failed is None, failed or outcomes[0][0], outcomes)


def _literal(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_literal(item) for item in value) + ")"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse(expression: str) -> Condition:
    """`status == 101`, `days_left >= 7`, `allow_origin in ["*", "https://a"]`, `sid exists`,
    `degraded absent`.

    The expected value is read as JSON when it is JSON (numbers, lists as tuples, true/false),
    else taken as text.
    """
    words = expression.split()
    if len(words) == 2 and words[1] in UNARY:
        return Condition(words[0], words[1])
    for op in sorted((op for op in OPERATORS if op not in UNARY), key=len, reverse=True):
        left, sep, right = expression.partition(f" {op} ")
        if sep and left.strip() and right.strip():
            return Condition(left.strip(), op, _value(right.strip()))
    raise ValueError(f"not a condition: {expression!r} (KEY OP VALUE, OP one of {list(OPERATORS)})")


def _value(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return tuple(value) if isinstance(value, list) else value
