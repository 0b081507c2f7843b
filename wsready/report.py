"""`wsready check` output: a table for people, JSON for machines. Tokens never appear."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from wsready.check import CheckReport, TargetOutcome


def outcome_dict(outcome: TargetOutcome) -> dict[str, Any]:
    """One target as plain data (the token is left out on purpose)."""
    diagnosis = outcome.diagnosis
    return {
        "target": outcome.label,
        "url": outcome.target.url,
        "socketio_path": outcome.target.socketio_path,
        "status": outcome.status.name,
        "attempts": outcome.attempts,
        "duration_s": round(outcome.duration_s, 4),
        "latency_s": None if outcome.latency_s is None else round(outcome.latency_s, 4),
        "latency_note": outcome.latency_note,
        "error": outcome.error,
        "health": outcome.health or None,
        "diagnosis": None
        if diagnosis is None
        else {
            "layer": diagnosis.layer,
            "title": diagnosis.title,
            "evidence": list(diagnosis.evidence),
            "fix": diagnosis.fix,
            "status": diagnosis.status.name,
        },
        "probes": [
            {
                "probe": result.probe,
                "layer": result.layer,
                "ok": result.ok,
                "skipped": result.skipped,
                "expected": result.expected,
                "actual": result.actual,
                "duration_s": round(result.duration_s, 4),
            }
            for result in outcome.results
        ],
    }


def to_json(report: CheckReport) -> str:
    return json.dumps(
        {
            "status": report.status.name,
            "exit_code": int(report.status),
            "checked_at": datetime.fromtimestamp(report.started_at, UTC).isoformat(),
            "duration_s": round(report.duration_s, 4),
            "targets": [outcome_dict(outcome) for outcome in report.outcomes],
        },
        indent=2,
    )


def to_table(report: CheckReport) -> str:
    """One line per target, then the diagnosis of every target that is not OK."""
    header = ("TARGET", "STATUS", "LATENCY", "TRIES", "SUMMARY")
    rows = [header]
    for outcome in report.outcomes:
        latency = "-" if outcome.latency_s is None else f"{outcome.latency_s * 1000:.0f}ms"
        rows.append(
            (outcome.label, outcome.status.name, latency, str(outcome.attempts), summary(outcome))
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    lines = [
        "  ".join(
            [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)] + [row[-1]]
        ).rstrip()
        for row in rows
    ]
    for outcome in report.outcomes:
        if outcome.status.name != "OK":
            lines.extend(details(outcome))
    counts: dict[str, int] = {}
    for outcome in report.outcomes:
        counts[outcome.status.name] = counts.get(outcome.status.name, 0) + 1
    tally = ", ".join(f"{count} {name}" for name, count in sorted(counts.items()))
    plural = "" if len(report.outcomes) == 1 else "s"
    lines.append(
        f"{report.status.name}: {len(report.outcomes)} target{plural} ({tally}) in "
        f"{report.duration_s:.2f}s"
    )
    return "\n".join(lines)


def summary(outcome: TargetOutcome) -> str:
    if outcome.error:
        return f"check failed: {outcome.error}"
    if outcome.latency_note:
        return outcome.latency_note
    if outcome.diagnosis is not None:
        return f"[{outcome.diagnosis.layer}] {outcome.diagnosis.title}"
    return ""


def details(outcome: TargetOutcome) -> list[str]:
    lines = [f"\n{outcome.label}: {outcome.status.name}"]
    if outcome.error:
        lines.append(f"  error: {outcome.error}")
    diagnosis = outcome.diagnosis
    if diagnosis is not None and diagnosis.status.name != "OK":
        lines.append(f"  layer: {diagnosis.layer} - {diagnosis.title}")
        lines.extend(f"  evidence: {item}" for item in diagnosis.evidence)
        lines.append(f"  fix: {diagnosis.fix}")
    if outcome.latency_note:
        lines.append(f"  {outcome.latency_note}")
    failed = [result for result in outcome.results if not result.ok and not result.skipped]
    lines.extend(f"  failed: {result}" for result in failed)
    return lines
