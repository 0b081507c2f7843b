"""Broadcasts across hosts: where several targets report the same Redis (`redis_id` in
/api/health: a digest of the Redis server's run_id), a message emitted on one host must reach
a client held on every other. `wsready check` runs this once per shared Redis, after every
target's own probes, and adds the result to each target's run."""

from __future__ import annotations

import time
from collections.abc import Sequence

from wsready.probes import names
from wsready.probes import session as sessions
from wsready.probes.conditions import Condition
from wsready.probes.context import Clock, finish
from wsready.probes.model import Probe, ProbeResult, Target
from wsready.probes.observed import Health

NAME = names.HOSTS_BROADCAST
DELIVERED = Condition("broadcast", "==", True, key="delivered", says="reaches every host")


def shared_redis(
    runs: Sequence[tuple[Target, list[ProbeResult]]], labels: Sequence[str] | None = None
) -> dict[str, list[int]]:
    """Indexes of the runs per Redis they share (two or more), from their health answers;
    only apps that answer the probe events (the bundled app). Targets whose health was
    answered by the same host (X-Wsready-Host: a front door and a host behind it) count
    once: the one labelled as that host, else the first. A front door is not a host: its
    clients land on any host behind it."""
    groups: dict[str, dict[str, int]] = {}
    for index, (_target, results) in enumerate(runs):
        result = next((r for r in results if r.probe == names.HEALTH and r.ok), None)
        health = Health.of(result)
        if result is None or not health.probe_events:
            continue
        redis_id = health.redis_id
        if not redis_id:
            continue
        host = health.host or f"#{index}"
        members = groups.setdefault(redis_id, {})
        named = labels is not None and labels[index] == host
        if host not in members or named:
            members[host] = index
    return {
        redis_id: sorted(members.values())
        for redis_id, members in groups.items()
        if len(members) > 1
    }


def _probe(labels: Sequence[str], timeout_s: float) -> Probe:
    return Probe(
        name=NAME,
        layer="broadcast across hosts",
        kind=names.Kind.HOSTS_BROADCAST,
        target=", ".join(labels),
        conditions=(DELIVERED,),
        timeout_s=timeout_s,
    )


def across(targets: Sequence[Target], labels: Sequence[str], redis_id: str, timeout_s: float
           ) -> ProbeResult:  # fmt: skip
    """One WebSocket-only client held on each target; the first target's emits; every other
    must receive. The result names the hosts by label."""
    probe = _probe(labels, timeout_s)
    clock = Clock()
    deadline = time.monotonic() + timeout_s * 2
    held = []
    for target, label in zip(targets, labels, strict=True):
        session = sessions.open_session(target, sessions.WEBSOCKET, timeout_s, deadline)
        session.worker = label
        held.append(session)
    sample = sessions.Sample(held, None, len(held), by_host=False)
    try:
        unreachable = [s.worker for s in held if s.socket is None]
        delivery = sessions.broadcast(sample, timeout_s)
    finally:
        sample.close()
    detail = {
        "redis_id": redis_id,
        "hosts": list(labels),
        "emitter": delivery.emitter,
        "missing": delivery.missing,
        "unreachable": unreachable,
        "delivered": delivery.ok and not unreachable,
    }
    if unreachable:
        text = f"no client could be held on {', '.join(unreachable)}"
        return finish(probe, clock, text, detail=detail)
    if delivery.error:
        return finish(probe, clock, delivery.error, detail={**detail, "error": delivery.error})
    if delivery.ok:
        text = f"emitted on {delivery.emitter}, received on {', '.join(labels)}"
        return finish(probe, clock, text, detail=detail)
    text = (f"emitted on {delivery.emitter}, not received on {', '.join(delivery.missing)} "
            "though every host reports the same Redis")  # fmt: skip
    return finish(probe, clock, text, detail=detail)


def failed(redis_id: str, labels: Sequence[str], error: BaseException) -> ProbeResult:
    """The cross-host check could not run at all: a failed result that says why."""
    probe = _probe(labels, 0)
    detail = {"redis_id": redis_id, "hosts": list(labels), "error": type(error).__name__}
    return finish(probe, Clock(), f"probe error: {type(error).__name__}: {error}", detail=detail)
