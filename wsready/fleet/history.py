"""The last results of every target, kept in the `--state FILE` next to its alert state.

Each target's entry in the state file gains `history`: its last HISTORY_LIMIT runs, oldest
first, one small object per run (only the keys that are known):

    {"at": "2026-11-30T12:00:03+00:00", "status": "CRITICAL", "latency_s": 0.0042,
     "layer": "app", "tls_days_left": 80.5, "clients": 12, "max_clients": 20000}

and `changed_at`, when the observed status last changed (the status page's "since"; it moves
even when the alert for that change could not be delivered, unlike the alert's `since`).
A target that no run has checked for FORGET_AFTER_S is dropped, so the file stays bounded
when targets leave the fleet. State files written before history existed load as they are:
their targets start with an empty history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from wsready.exitstatus import ExitStatus
from wsready.fleet.sweep import CheckReport, TargetOutcome
from wsready.probes import names
from wsready.probes.observed import Certificate

HISTORY_LIMIT = 60  # runs per target: an hour at the monitor's default 60 s interval
FORGET_AFTER_S = 7 * 86400  # a target unchecked for a week leaves the state file


def tls_days_left(outcome: TargetOutcome) -> float | None:
    """Days until the certificate expires, from the TLS probe (None: no TLS, or no answer)."""
    for result in outcome.results:
        certificate = Certificate.of(result)
        if result.probe == names.TLS and not result.skipped and certificate.has("days_left"):
            return float(certificate.days_left)
    return None


def broken_layer(outcome: TargetOutcome) -> str | None:
    """The layer the diagnosis names when the target is not OK ("check": it could not run)."""
    if outcome.status == ExitStatus.OK:
        return None
    if outcome.error or outcome.diagnosis is None:
        return "check"
    if outcome.diagnosis.layer == "none":  # OK diagnosis, status from latency thresholds
        return "latency" if outcome.latency_note else None
    return outcome.diagnosis.layer


def entry(outcome: TargetOutcome, at: str) -> dict[str, Any]:
    """One run of one target, as stored in its history."""
    item: dict[str, Any] = {"at": at, "status": outcome.status.name}
    if outcome.latency_s is not None:
        item["latency_s"] = round(outcome.latency_s, 4)
    layer = broken_layer(outcome)
    if layer:
        item["layer"] = layer
    days = tls_days_left(outcome)
    if days is not None:
        item["tls_days_left"] = round(days, 1)
    for key in ("clients", "max_clients"):
        if key in outcome.health:
            item[key] = outcome.health[key]
    return item


def observe(record: dict[str, Any], outcome: TargetOutcome, at: str, limit: int) -> None:
    """Append this run to `record` (one target's state entry), keep the last `limit` runs,
    and move `changed_at` when the status differs from the last one seen."""
    history = [item for item in record.get("history", []) if isinstance(item, dict)]
    last = history[-1]["status"] if history else record.get("status")
    new = outcome.status.name
    if last != new:
        record["changed_at"] = at
    elif "changed_at" not in record:  # a state file from before history: the alert's since
        record["changed_at"] = record.get("since") or at
    history.append(entry(outcome, at))
    record["history"] = history[-limit:] if limit > 0 else []


def _seen_at(record: dict[str, Any]) -> float | None:
    history = record.get("history") or []
    stamp = history[-1].get("at") if history else record.get("checked_at")
    try:
        return datetime.fromisoformat(stamp).timestamp() if isinstance(stamp, str) else None
    except ValueError:
        return None


def forget_stale(
    targets: dict[str, dict[str, Any]], now: float, checked: Iterable[str]
) -> list[str]:
    """Drop the targets not checked now and not seen for FORGET_AFTER_S; their names."""
    current = set(checked)
    stale = [
        label
        for label, record in targets.items()
        if label not in current
        and ((seen := _seen_at(record)) is None or now - seen > FORGET_AFTER_S)
    ]
    for label in stale:
        del targets[label]
    return stale


def record_run(
    targets: dict[str, dict[str, Any]], report: CheckReport, at: str, limit: int = HISTORY_LIMIT
) -> None:
    """Every target of `report` observed into `targets` (the state file's object)."""
    for outcome in report.outcomes:
        record = dict(targets.get(outcome.label, {}))
        observe(record, outcome, at, limit)
        targets[outcome.label] = record
    forget_stale(targets, report.started_at, (outcome.label for outcome in report.outcomes))
