"""Stand-ins shared by the check, report and alert tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from wsready.exitstatus import ExitStatus


@dataclass
class FakeDiagnosis:
    """Has the fields of wsready.probes.diagnosis.Diagnosis that checks, reports and alerts read."""

    layer: str
    title: str
    status: ExitStatus
    evidence: list[str] = field(default_factory=list)
    fix: str = ""
