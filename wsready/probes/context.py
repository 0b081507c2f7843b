"""State shared by the probes of one run: resolved addresses, the open socket, earlier results."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from wsready.probes.conditions import judge
from wsready.probes.model import Probe, ProbeResult, Target
from wsready.probes.packets import EngineOpen


@dataclass
class RunContext:
    target: Target
    addresses: list[tuple[Any, ...]] = field(default_factory=list)  # getaddrinfo sockaddrs
    websocket: Any = None  # websocket.WebSocket once upgraded
    engine_open: EngineOpen | None = None
    opened_at: float = 0.0  # time.monotonic() when the open packet arrived
    idle: bool = False  # run the idle-survival probe (it takes pingInterval + pingTimeout)
    socket_accepted: bool | None = None  # Socket.IO CONNECT: True 40, False 44
    rest_accepted: bool | None = None  # protected REST path with the token
    results: dict[str, ProbeResult] = field(default_factory=dict)
    sample: Any = None  # wsready.probes.session.Sample, opened by the first sampled probe

    def close(self) -> None:
        if self.sample is not None:
            self.sample.close()
            self.sample = None
        self.close_websocket()

    def close_websocket(self) -> None:
        """Close the single probes' WebSocket (upgrade … ping, idle), if open."""
        if self.websocket is not None:
            with contextlib.suppress(Exception):  # closing a possibly dead socket
                self.websocket.close(timeout=1)
            self.websocket = None


class Clock:
    """Measures one probe."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start


def finish(
    probe: Probe, clock: Clock, actual: str, *, detail: dict[str, Any] | None = None
) -> ProbeResult:
    """The result of a probe that ran: its conditions judged on what it saw (`detail`),
    `actual` the words for what it saw. A passing probe that misses one of its `warn_unless`
    conditions is a WARNING."""
    seen = {"target": probe.target, **(detail or {})}
    verdict = judge(probe.conditions, seen)
    conditions = verdict.to_list()
    warning = False
    if verdict.ok and probe.warn_unless:
        warned = judge(probe.warn_unless, seen)
        warning = not warned.ok
        conditions += [{**item, "warning": True} for item in warned.to_list()]
    return ProbeResult(
        probe=probe.name,
        layer=probe.layer,
        ok=verdict.ok,
        expected=verdict.condition.expectation,
        actual=actual,
        duration_s=round(clock.elapsed, 4),
        detail=seen,
        subject=verdict.condition.subject,
        warning=warning,
        conditions=conditions,
    )


def skip(probe: Probe, why: str, detail: dict[str, Any] | None = None) -> ProbeResult:
    return ProbeResult(
        probe=probe.name,
        layer=probe.layer,
        ok=False,
        expected=probe.expected,
        actual=why,
        duration_s=0.0,
        skipped=True,
        detail={"target": probe.target, **(detail or {})},
        subject=probe.subject,
    )
