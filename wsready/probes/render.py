"""Probe results as a layer table, from their one shape (`ProbeResult.to_dict`): the text
table of `wsready diagnose` and the deploy's verify, and the rows of the status page."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wsready import table
from wsready.probes.model import ProbeResult

HEADER = ("LAYER", "PROBE", "STATE", "RESULT")
TIMED_HEADER = ("LAYER", "PROBE", "STATE", "TIME", "RESULT")

Result = ProbeResult | Mapping[str, Any]


def _as_dict(result: Result) -> Mapping[str, Any]:
    return result.to_dict() if isinstance(result, ProbeResult) else result


def rows(results: Iterable[Result], timed: bool = False) -> list[tuple[str, ...]]:
    """One row per probe: layer, probe, ok/FAIL/WARN/skipped, [time,] the Gatus-style
    condition with its actual value (or why the probe was skipped)."""
    out = []
    for result in map(_as_dict, results):
        time = (f"{result['duration_s'] * 1000:.0f} ms",) if timed else ()
        out.append((result["layer"], result["probe"], result["state"], *time, result["condition"]))
    return out


def text_table(results: Iterable[Result], timed: bool = False, indent: str = "") -> str:
    """The layer table as text, with its header."""
    return table.render([TIMED_HEADER if timed else HEADER, *rows(results, timed)], indent)
