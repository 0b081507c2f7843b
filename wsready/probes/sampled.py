"""Runners that judge the sampled sessions (wsready/probes/session.py): the polling session,
its upgrade, the WebSocket-only path, every worker, and a broadcast across workers.

The sessions are opened once per run, by the first of these probes, and shared."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from wsready.probes import names
from wsready.probes import session as sessions
from wsready.probes.context import Clock, RunContext, finish, skip
from wsready.probes.model import Probe, ProbeResult
from wsready.probes.observed import Health, Sessions

# The steps of a polling session before its upgrade, and those of the upgrade.
POLLING_STEPS = ("handshake", "connect", "connect answer")
SAMPLE_BUDGET_FACTOR = 2.0  # the sessions of one run share twice the probe timeout


def expected_workers(ctx: RunContext) -> list[str] | None:
    """The workers /api/health listed as up (as strings), or None when it listed none."""
    rows = Health.of(ctx.results.get(names.HEALTH)).worker_list
    if not rows:
        return None
    return sorted({str(row["worker"]) for row in rows}, key=int)


def sample_of(probe: Probe, ctx: RunContext) -> sessions.Sample:
    if ctx.sample is None:
        if not ctx.idle:
            # The single probes' WebSocket is done with (only --idle holds it on): left open
            # it loads one worker in nginx's least_conn, and every polling handshake (whose
            # upgrade bypasses the upstream) would then go to the others.
            ctx.close_websocket()
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
    rows = Health.of(ctx.results.get(names.HEALTH)).worker_list
    return {str(row["worker"]): row for row in rows or []}


def _rows_of(sample: sessions.Sample) -> list[tuple[str | None, str]]:
    """The (host, worker) pairs to report: every worker a session reached and every worker
    health lists, on each host that answered (host None where one host or none answered)."""
    several = sample.several_hosts
    pairs = {(s.host if several else None, s.worker) for s in sample.sessions if s.worker}
    for host in sample.hosts_seen if several else [None]:
        pairs |= {(host, worker) for worker in sample.expected or ()}
    return sorted(pairs, key=lambda pair: (pair[0] or "", _key(pair[1])))


def host_table(sample: sessions.Sample, expected: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per app host that answered (X-Wsready-Host) or was expected (`expected`, else the
    sample's): the sessions it made, how many failed, its workers reached, the ways in
    (modes) and which steps it answered."""
    expected = tuple(expected) or sample.hosts
    table = []
    for host in dict.fromkeys([*sample.hosts_seen, *expected]):
        made = [s for s in sample.sessions if s.host == host]
        answered = Counter(
            step.name for s in sample.sessions for step in s.steps if step.host == host
        )
        table.append(
            {
                "host": host,
                "expected": host in expected,
                "sessions": len(made),
                "failed": sum(1 for s in made if not s.ok),
                "workers": sorted({s.worker for s in made if s.worker is not None}, key=_key),
                "modes": [mode for mode in sessions.MODES if any(s.mode == mode for s in made)],
                "steps": dict(answered),
            }
        )
    return table


def _hosts_text(table: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"host {row['host']}: workers {','.join(row['workers']) or 'none'}, "
        f"{row['sessions']} sessions"
        for row in table
    )


def workers(probe: Probe, ctx: RunContext) -> ProbeResult:
    """Every worker /api/health lists, reached by both kinds of session, each session ok;
    behind a front door, every worker of every host that answered."""
    clock = Clock()
    sample = sample_of(probe, ctx)
    rows = _worker_rows(ctx)
    listed = sample.expected
    several = sample.several_hosts
    table = []
    for host, worker in _rows_of(sample):
        mine = [
            s for s in sample.sessions if s.worker == worker and (host is None or s.host == host)
        ]
        failed = [s for s in mine if not s.ok]
        modes = {mode for mode in sample.modes if any(s.mode == mode for s in mine)}
        row = {
            "worker": worker,
            "listed": listed is None or worker in listed,
            "sessions": len(mine),
            "failed": len(failed),
            "unreached": sorted(set(sample.modes) - modes),
            "failures": [_failure(s) for s in failed],
            "says": rows.get(worker, {}),
        }
        if several:
            row.update(host=host, name=f"{host}/{worker}")
        table.append(row)
    unattributed = [s for s in sample.sessions if s.worker is None and not s.ok]
    # A listed worker no session reached counts as failing only where sessions of that kind
    # failed: a balancer may simply not have sent one there within the bound.
    failing_modes = {s.mode for s in sample.sessions if not s.ok}
    for row in table:
        row["unreached_failing"] = sorted(set(row["unreached"]) & failing_modes)
    bad = [_name(row) for row in table if row["failed"] or row["unreached_failing"]]
    hosts = host_table(sample)
    detail: dict[str, Any] = {
        "workers_failing": len(bad) + (1 if unattributed and not bad else 0),
        "failing": bad,
        "worker_table": table,
        "listed": listed,
        "sessions": len(sample.sessions),
        "bound": sample.bound,
        "unattributed": [_failure(s) for s in unattributed],
        "host_table": hosts,
    }
    total = len(table)
    on_hosts = f" ({_hosts_text(hosts)})" if several else ""
    if listed is None and not table:
        text = f"{len(sample.sessions)} sessions, none named its worker"
        return finish(probe, clock, text, detail={**detail, "workers_failing": len(unattributed)})
    if not bad and not unattributed:
        text = f"{total}/{total} ok, {len(sample.sessions)} sessions{on_hosts}"
        missed = [f"worker {_name(r)} by {', '.join(r['unreached'])}" for r in table
                  if r["listed"] and r["unreached"]]  # fmt: skip
        if missed:
            text += f" (not reached within the bound, no session failed: {'; '.join(missed)})"
        return finish(probe, clock, text, detail=detail)
    parts = []
    for row in table:
        if _name(row) not in bad:
            continue
        if row["failed"]:
            first = row["failures"][0]
            parts.append(
                f"worker {_name(row)}: {row['failed']}/{row['sessions']} sessions failed "
                f"at {first.get('step')} {first.get('said')}"
            )
        else:
            way = ", ".join(row["unreached_failing"])
            parts.append(f"worker {_name(row)}: not reached by {way}")
    if unattributed:
        parts.append(f"{len(unattributed)} sessions failed before any worker named itself")
    text = f"{len(bad) or 'some'} of {total} workers fail: " + "; ".join(parts) + on_hosts
    return finish(probe, clock, text, detail=detail)


def _name(row: dict[str, Any]) -> str:
    """A worker row's name: `host/worker` behind a front door, else the worker."""
    return str(row.get("name") or row.get("worker"))


def front_door_hosts(probe: Probe, ctx: RunContext) -> ProbeResult:
    """Every app host expected behind the front door (`Target.behind`) answered at least one
    step of the sampled sessions; a host that never did within the bound is named."""
    clock = Clock()
    sample = sample_of(probe, ctx)
    expected = list(ctx.target.behind)
    reached = sample.hosts_seen
    missing = [host for host in expected if host not in reached]
    detail: dict[str, Any] = {
        "expected": expected,
        "reached": reached,
        "missing": missing,
        "hosts_missing": len(missing),
        "unexpected": [host for host in reached if host not in expected],
        "sessions": len(sample.sessions),
        "bound": sample.bound,
        "host_table": host_table(sample, expected),
    }
    answered = [row for row in detail["host_table"] if row["host"] in reached]
    if not missing:
        text = f"{len(expected)}/{len(expected)} hosts answered ({_hosts_text(answered)})"
        return finish(probe, clock, text, detail=detail)
    text = (
        f"{len(missing)} of {len(expected)} hosts never answered through the front door in "
        f"{len(sample.sessions)} sessions: {', '.join(missing)}"
        + (f" (answered: {_hosts_text(answered)})" if answered else "")
    )
    return finish(probe, clock, text, detail=detail)


def _key(worker: str) -> tuple[int, str]:
    return (int(worker), worker) if worker.isdigit() else (1 << 30, worker)


def broadcast(probe: Probe, ctx: RunContext) -> ProbeResult:
    """A message emitted through one worker reaches a client held on every worker."""
    clock = Clock()
    health = ctx.results.get(names.HEALTH)
    if health is None or not Health.of(health).probe_events:
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
    result = next((r for r in results if r.probe == names.WORKERS and not r.skipped), None)
    if result is None:
        return []
    summary = []
    for row in Sessions.of(result).table:
        failures = row.failed_sessions
        first = failures[0] if failures else None
        bad = row.failed or row.unreached_failing
        says = row.says or {}
        summary.append(
            {
                "worker": row.name or row.worker,
                **({"host": row.host} if row.host else {}),
                "ok": not bad,
                "sessions": row.sessions if row.has("sessions") else 0,
                "failed": row.failed if row.has("failed") else 0,
                "unreached": row.unreached if row.has("unreached") else [],
                "failure": f"{first.step}: {first.said}" if first else None,
                **{key: says[key] for key in ("path", "transports", "config") if key in says},
            }
        )
    return summary
