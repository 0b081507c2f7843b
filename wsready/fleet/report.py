"""`wsready check` output: a table for people, JSON for machines. Tokens never appear."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from wsready import table
from wsready.fleet.sweep import CheckReport, TargetOutcome


def to_json(report: CheckReport) -> str:
    """The report as one JSON document (`json_chunks` joined)."""
    return "".join(json_chunks(report))


def json_chunks(report: CheckReport) -> Iterator[str]:
    """The report as JSON, in pieces a writer can send one by one (a fleet of 10,000 is
    ~130 MB of it: never held whole): the envelope indented, each target compact on a line
    of its own (Python's indenting encoder took ~1 ms per target)."""
    head = json.dumps(
        {
            "status": report.status.name,
            "exit_code": int(report.status),
            "checked_at": datetime.fromtimestamp(report.started_at, UTC).isoformat(),
            "duration_s": round(report.duration_s, 4),
        },
        indent=2,
    )
    if not report.outcomes:
        yield head[:-2] + ',\n  "targets": []\n}'
        return
    yield head[:-2] + ',\n  "targets": [\n    '
    for index, outcome in enumerate(report.outcomes):
        yield (",\n    " if index else "") + json.dumps(outcome.to_dict())
    yield "\n  ]\n}"


def to_table(report: CheckReport) -> str:
    """One line per target, then the diagnosis of every target that is not OK."""
    rows = [("TARGET", "STATUS", "LATENCY", "TRIES", "SUMMARY")]
    for outcome in report.outcomes:
        latency = "-" if outcome.latency_s is None else f"{outcome.latency_s * 1000:.0f}ms"
        rows.append(
            (outcome.label, outcome.status.name, latency, str(outcome.attempts), summary(outcome))
        )
    lines = [table.render(rows)]
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


def failed_texts(outcome: dict[str, Any]) -> list[str]:
    """The conditions that failed (`upgrade status (404) == 101`), from a target's dict."""
    return [probe["text"] for probe in outcome["probes"] if probe["state"] == "FAIL"]


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
    lines.extend(f"  failed: {text}" for text in failed_texts(outcome.to_dict()))
    return lines
