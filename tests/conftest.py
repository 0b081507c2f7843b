"""Suite-wide rules. Under CI (CI=true) a skipped or xfailed test fails the run: a test that
CI does not run is not coverage, and a skip must not hide a missing install step."""

from __future__ import annotations

import os

import pytest

NOT_RUN = ("skipped", "xfailed", "xpassed")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    not_run = [report for kind in NOT_RUN for report in reporter.stats.get(kind, [])]
    if not_run and exitstatus == 0:
        names = ", ".join(sorted({report.nodeid for report in not_run})[:10])
        reporter.write_line(f"CI=true: {len(not_run)} test(s) not run as tests: {names}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
