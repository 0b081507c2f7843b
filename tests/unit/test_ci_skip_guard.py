"""tests/conftest.py: under CI=true a skipped test fails the run; elsewhere it does not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, body: str, ci: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "test_sample.py").write_text(body)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


SKIPPING = (
    "import pytest\n\ndef test_ok():\n    pass\n\ndef test_skip():\n    pytest.skip('no tool')\n"
)


@pytest.mark.parametrize(("ci", "status"), [(True, 1), (False, 0)])
def test_a_skip_fails_the_run_only_under_ci(tmp_path: Path, ci: bool, status: int) -> None:
    result = _run(tmp_path, SKIPPING, ci)
    assert result.returncode == status, result.stdout + result.stderr
    assert ("not run as tests: test_sample.py::test_skip" in result.stdout) is ci


def test_a_clean_run_passes_under_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, "def test_ok():\n    pass\n", ci=True)
    assert result.returncode == 0, result.stdout + result.stderr
