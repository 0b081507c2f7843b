"""Runners that judge the sampled sessions (wsready/probes/session.py): the polling session,
its upgrade, the WebSocket-only path, every worker, and a broadcast across workers.

The sessions are opened once per run, by the first of these probes, and shared."""

from __future__ import annotations

from collections import Counter
from typing import Any

from wsready.probes import session as sessions
from wsready.probes.context import Clock, RunContext, finish, skip
from wsready.probes.model import Probe, ProbeResult

# The steps of a polling session before its upgrade, and those of the upgrade.
POLLING_STEPS = ("handshake", "connect", "connect answer")
SAMPLE_BUDGET_FACTOR = 2.0  # the sessions of one run share twice the probe timeout


def expected_workers(ctx: RunContext) -> list[str] | None:
    """The workers /api/health listed as up (as strings), or None when it listed none."""
    health = ctx.results.get("health")
    rows = health.detail.get("worker_list") if health is not None else None
    if not rows:
        return None
    return sorted({str(row["worker"]) for row in rows}, key=int)


def sample_of(probe: Probe, ctx: RunContext) -> sessions.Sample:
    if ctx.sample is None:
        budget = probe.timeout_s * SAMPLE_BUDGET_FACTOR
        ctx.sample = sessions.sample(ctx.target, expected_workers(ctx), probe.timeout_s, budget)
    return ctx.sample


def _failure(session: sessions.Session) -> dict[str, Any]:
    step = session.failed
    data = {"mode": session.mode, "sid_worker": sessions.sid_worker(session.sid)}
    data.update(step.to_dict() if step else {})
    data["session_worker"] = session.worker
    # The host that made the session (its handshake's X-Wsready-Host), behind a balancer.
    data["session_host"] = session.steps[0].host if session.steps else None
    return data


def _where(failure: dict[str, Any]) -> str:
    answered, own = failure.get("worker"), failure.get("sid_worker")
    parts = []
    if answered is not None:
        parts.append(f"answered by worker {answered}")
    if own is not None and own != answered:
        parts.append(f"session of worker {own}")
    return f" ({', '.join(parts)})" if parts else ""


def _judge(
    probe: Probe, clock: Clock, chosen: list[sessions.Session], failed: list[sessions.Session]
) -> ProbeResult:
    failures = [_failure(session) for session in failed]
    workers = sorted({s.worker for s in chosen if s.worker is not None})
    detail: dict[str, Any] = {
        "sessions": len(chosen),
        "failed": len(failed) if chosen else None,
        "workers": workers,
        "failures": failures,
        "session_steps": [session.to_dict() for session in chosen],
    }
    if not chosen:
        return finish(probe, clock, "no session could be opened in the time budget", detail=detail)
    if not failed:
        reached = ",".join(workers) or "?"
        text = f"{len(chosen)}/{len(chosen)} ok, workers {reached}"
        return finish(probe, clock, text, detail=detail)
    first = failures[0]
    steps = Counter(failure.get("step") for failure in failures)
    at = ", ".join(f"{step} ×{count}" for step, count in steps.items())
    text = (
        f"{len(failed)} of {len(chosen)} sessions failed ({at}): {first.get('step')} "
        f"{first.get('said')}{_where(first)}"
    )
    return finish(probe, clock, text, detail=detail)


def polling_session(probe: Probe, ctx: RunContext) -> ProbeResult:
    """The default client's polling session: handshake, POST 40, GET 40 (every session)."""
    clock = Clock()
    chosen = sample_of(probe, ctx).of(sessions.POLLING)
    failed = [s for s in chosen if s.failed is not None and s.failed.name in POLLING_STEPS]
    return _judge(probe, clock, chosen, failed)


def session_upgrade(probe: Probe, ctx: RunContext) -> ProbeResult:
    """The upgrade of those same sessions: WebSocket with sid, 2probe/3probe, 5, messages."""
    clock = Clock()
    polled = sample_of(probe, ctx).of(sessions.POLLING)
    chosen = [s for s in polled if s.failed is None or s.failed.name not in POLLING_STEPS]
    if not chosen and polled:
        return skip(probe, "no polling session got as far as its upgrade")
    failed = [s for s in chosen if s.failed is not None]
    result = _judge(probe, clock, chosen, failed)
    result.detail["upgrades"] = sorted({",".join(s.upgrades or ()) for s in chosen})
    return result


def websocket_only(probe: Probe, ctx: RunContext) -> ProbeResult:
    """The `transports: ['websocket']` path: 101, open, CONNECT, messages (every session)."""
    clock = Clock()
    chosen = sample_of(probe, ctx).of(sessions.WEBSOCKET)
    failed = [s for s in chosen if s.failed is not None]
    return _judge(probe, clock, chosen, failed)


def _worker_rows(ctx: RunContext) -> dict[str, dict[str, Any]]:
    health = ctx.results.get("health")
    rows = health.detail.get("worker_list") if health is not None else None
    return {str(row["worker"]): row for row in rows or []}


def workers(probe: Probe, ctx: RunContext) -> ProbeResult:
    """Every worker /api/health lists, reached by both kinds of session, each session ok."""
    clock = Clock()
    sample = sample_of(probe, ctx)
    rows = _worker_rows(ctx)
    listed = sample.expected
    seen = sorted(
        {s.worker for s in sample.sessions if s.worker is not None} | set(listed or ()), key=_key
    )
    table = []
    for worker in seen:
        mine = [s for s in sample.sessions if s.worker == worker]
        failed = [s for s in mine if not s.ok]
        modes = {mode for mode in sessions.MODES if any(s.mode == mode for s in mine)}
        table.append(
            {
                "worker": worker,
                "listed": listed is None or worker in listed,
                "sessions": len(mine),
                "failed": len(failed),
                "unreached": sorted(set(sessions.MODES) - modes),
                "failures": [_failure(s) for s in failed],
                "says": rows.get(worker, {}),
            }
        )
    unattributed = [s for s in sample.sessions if s.worker is None and not s.ok]
    # A listed worker no session reached counts as failing only where sessions of that kind
    # failed: a balancer may simply not have sent one there within the bound.
    failing_modes = {s.mode for s in sample.sessions if not s.ok}
    for row in table:
        row["unreached_failing"] = sorted(set(row["unreached"]) & failing_modes)
    bad = [row["worker"] for row in table if row["failed"] or row["unreached_failing"]]
    detail: dict[str, Any] = {
        "workers_failing": len(bad) + (1 if unattributed and not bad else 0),
        "failing": bad,
        "worker_table": table,
        "listed": listed,
        "sessions": len(sample.sessions),
        "bound": sample.bound,
        "unattributed": [_failure(s) for s in unattributed],
    }
    total = len(table)
    if listed is None and not table:
        text = f"{len(sample.sessions)} sessions, none named its worker"
        return finish(probe, clock, text, detail={**detail, "workers_failing": len(unattributed)})
    if not bad and not unattributed:
        text = f"{total}/{total} ok, {len(sample.sessions)} sessions"
        missed = [f"worker {r['worker']} by {', '.join(r['unreached'])}" for r in table
                  if r["listed"] and r["unreached"]]  # fmt: skip
        if missed:
            text += f" (not reached within the bound, no session failed: {'; '.join(missed)})"
        return finish(probe, clock, text, detail=detail)
    parts = []
    for row in table:
        if row["worker"] not in bad:
            continue
        if row["failed"]:
            first = row["failures"][0]
            parts.append(
                f"worker {row['worker']}: {row['failed']}/{row['sessions']} sessions failed "
                f"at {first.get('step')} {first.get('said')}"
            )
        else:
            way = ", ".join(row["unreached_failing"])
            parts.append(f"worker {row['worker']}: not reached by {way}")
    if unattributed:
        parts.append(f"{len(unattributed)} sessions failed before any worker named itself")
    text = f"{len(bad) or 'some'} of {total} workers fail: " + "; ".join(parts)
    return finish(probe, clock, text, detail=detail)


def _key(worker: str) -> tuple[int, str]:
    return (int(worker), worker) if worker.isdigit() else (1 << 30, worker)


def broadcast(probe: Probe, ctx: RunContext) -> ProbeResult:
    """A message emitted through one worker reaches a client held on every worker."""
    clock = Clock()
    health = ctx.results.get("health")
    if health is None or not health.detail.get("probe_events"):
        why = "the app does not answer wsready's probe events (not the bundled app)"
        return skip(probe, why, detail={"note": why})
    delivery = sessions.broadcast(sample_of(probe, ctx), probe.timeout_s)
    detail = {
        "emitter": delivery.emitter,
        "holders": delivery.holders,
        "missing": delivery.missing,
        "delivered": delivery.ok,
    }
    if delivery.error:
        return finish(probe, clock, delivery.error, detail={**detail, "error": delivery.error})
    got = len(delivery.holders) - len(delivery.missing)
    holders = ",".join(str(worker) for worker in delivery.holders)
    if delivery.ok:
        text = f"emitted on worker {delivery.emitter}, received on workers {holders}"
        return finish(probe, clock, text, detail=detail)
    missing = ",".join(str(worker) for worker in delivery.missing)
    text = (
        f"emitted on worker {delivery.emitter}: {got}/{len(delivery.holders)} held clients "
        f"received it; none on worker(s) {missing}"
    )
    return finish(probe, clock, text, detail=detail)


def worker_summary(results: list[ProbeResult]) -> list[dict[str, Any]]:
    """Per worker, from a run's `workers` result: {worker, ok, sessions, failed, unreached,
    failure (the first failed step's words), and what health says of it}. check --json,
    Prometheus and the status page show this; [] when the probe did not run."""
    result = next((r for r in results if r.probe == "workers" and not r.skipped), None)
    if result is None:
        return []
    summary = []
    for row in result.detail.get("worker_table") or []:
        failures = row.get("failures") or []
        first = failures[0] if failures else {}
        bad = row.get("failed") or row.get("unreached_failing")
        says = row.get("says") or {}
        summary.append(
            {
                "worker": row.get("worker"),
                "ok": not bad,
                "sessions": row.get("sessions", 0),
                "failed": row.get("failed", 0),
                "unreached": row.get("unreached", []),
                "failure": f"{first.get('step')}: {first.get('said')}" if first else None,
                **{key: says[key] for key in ("path", "transports", "config") if key in says},
            }
        )
    return summary
