"""prometheus.py: the textfile parses with prometheus_client's parser and holds the values."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from wsready.exitstatus import ExitStatus
from wsready.fleet import prometheus
from wsready.fleet.sweep import CheckReport, TargetOutcome
from wsready.probes import ProbeResult, Target
from wsready.validate import ConfigError

TRICKY = 'web "1"\\ \nnew'  # quote, backslash and newline: all must be escaped


def probe(name: str, ok: bool, duration_s: float, skipped: bool = False) -> ProbeResult:
    return ProbeResult(name, "http", ok, "== 200", "200", duration_s, skipped=skipped)


def sample_report() -> CheckReport:
    healthy = TargetOutcome(
        Target(url="http://10.200.1.2", name="web-1"),
        ExitStatus.OK,
        [probe("health", True, 0.012), probe("upgrade", True, 0.034)],
    )
    broken = TargetOutcome(
        Target(url="http://10.200.2.2", name=TRICKY),
        ExitStatus.CRITICAL,
        [probe("health", False, 0.5), probe("upgrade", False, 0.0, skipped=True)],
    )
    return CheckReport([healthy, broken], started_at=1_700_000_000.5, duration_s=0.6)


def samples(path: Path) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_textfile_parses_and_holds_the_expected_samples(tmp_path: Path) -> None:
    path = tmp_path / "wsready.prom"
    prometheus.write(sample_report(), str(path))
    found = samples(path)
    assert found == {
        ("wsready_probe_success", (("probe", "health"), ("target", "web-1"))): 1.0,
        ("wsready_probe_success", (("probe", "upgrade"), ("target", "web-1"))): 1.0,
        ("wsready_probe_success", (("probe", "health"), ("target", TRICKY))): 0.0,
        ("wsready_probe_duration_seconds", (("probe", "health"), ("target", "web-1"))): 0.012,
        ("wsready_probe_duration_seconds", (("probe", "upgrade"), ("target", "web-1"))): 0.034,
        ("wsready_probe_duration_seconds", (("probe", "health"), ("target", TRICKY))): 0.5,
        ("wsready_target_status", (("target", "web-1"),)): 0.0,
        ("wsready_target_status", (("target", TRICKY),)): 2.0,
        ("wsready_check_timestamp_seconds", ()): 1_700_000_000.5,
    }


def test_label_values_are_escaped_in_the_text(tmp_path: Path) -> None:
    path = tmp_path / "wsready.prom"
    prometheus.write(sample_report(), str(path))
    assert 'target="web \\"1\\"\\\\ \\nnew"' in path.read_text()


def test_write_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "wsready.prom"
    path.write_text("old content that does not parse {")
    inode_before = path.stat().st_ino
    prometheus.write(sample_report(), str(path))
    assert os.listdir(tmp_path) == ["wsready.prom"]
    assert path.stat().st_ino != inode_before  # renamed over, not rewritten in place
    assert samples(path)


@pytest.mark.parametrize(
    ("name", "why"),
    [("wsready.txt", "must end in .prom"), ("missing/wsready.prom", "does not exist")],
)
def test_bad_paths_are_refused(tmp_path: Path, name: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        prometheus.check_path(str(tmp_path / name))
