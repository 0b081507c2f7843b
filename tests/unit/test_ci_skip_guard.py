"""tests/conftest.py: under CI=true a test not run as a test (skipped by a marker, in its body,
in a fixture or by importorskip; xfailed; xpassed) fails the run; elsewhere it does not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, body: str, ci: bool, **more: str) -> subprocess.CompletedProcess[str]:
    """pytest over test_sample.py holding `body` (and `more` modules, by name), with the
    suite's conftest.py."""
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "test_sample.py").write_text(body)
    for name, text in more.items():
        (tmp_path / f"{name}.py").write_text(text)
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


OK = "import pytest\n\n\ndef test_ok():\n    pass\n\n\n"
# Every way a test can end up not run as a test: (module body, the node that was not run).
NOT_RUN = {
    "skip() in the test": ("def test_it():\n    pytest.skip('no tool')\n", "::test_it"),
    "skip marker": ("@pytest.mark.skip(reason='later')\ndef test_it():\n    pass\n", "::test_it"),
    "skipif marker": (
        "@pytest.mark.skipif(True, reason='here')\ndef test_it():\n    pass\n",
        "::test_it",
    ),
    "skip() in a fixture": (
        "@pytest.fixture\ndef tool():\n    pytest.skip('no tool')\n\n\n"
        "def test_it(tool):\n    pass\n",
        "::test_it",
    ),
    "importorskip() in the test": (
        "def test_it():\n    pytest.importorskip('wsready_no_such_module')\n",
        "::test_it",
    ),
    "xfail marker": (
        "@pytest.mark.xfail(reason='known')\ndef test_it():\n    assert False\n",
        "::test_it",
    ),
    "xfail() in the test": ("def test_it():\n    pytest.xfail('known')\n", "::test_it"),
    "xpass": ("@pytest.mark.xfail(reason='known')\ndef test_it():\n    pass\n", "::test_it"),
}


@pytest.mark.parametrize("how", NOT_RUN)
@pytest.mark.parametrize(("ci", "status"), [(True, 1), (False, 0)])
def test_a_test_not_run_fails_the_run_only_under_ci(
    tmp_path: Path, how: str, ci: bool, status: int
) -> None:
    body, node = NOT_RUN[how]
    result = _run(tmp_path, OK + body, ci)
    assert result.returncode == status, result.stdout + result.stderr
    named = f"CI=true: 1 test(s) not run as tests: test_sample.py{node}\n"
    assert (named in result.stdout) is ci, result.stdout


@pytest.mark.parametrize(("ci", "status"), [(True, 1), (False, 0)])
def test_a_module_skipped_by_importorskip_fails_the_run_only_under_ci(
    tmp_path: Path, ci: bool, status: int
) -> None:
    skipped = "import pytest\n\npytest.importorskip('wsready_no_such_module')\n"
    result = _run(tmp_path, OK, ci, test_more=skipped)
    assert result.returncode == status, result.stdout + result.stderr
    assert ("CI=true: 1 test(s) not run as tests: test_more.py\n" in result.stdout) is ci


def test_a_clean_run_passes_under_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, "def test_ok():\n    pass\n", ci=True)
    assert result.returncode == 0, result.stdout + result.stderr
