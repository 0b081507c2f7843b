"""Run the bundled app's own Node tests (files/app/test) and require them to pass.

They cover the token check shared by REST and Socket.IO (jwt: none / expired / not yet valid /
wrong signature / wrong audience / valid; static hashes), the health JSON, the event echo and
the environment settings, against the real server on a loopback port; and the scale-out
(test/cluster.test.js): two server.js workers sharing a real redis-server that the test starts
on a free loopback port (broadcast across workers, health summed over siblings, Redis outage
and recovery). That test needs `redis-server` on PATH (scripts/setup installs it) and fails,
never skips, without it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[2] / "files" / "app"


def test_node_test_suite_passes() -> None:
    node = shutil.which("node")
    assert node, "node is not installed: the app tests need Node.js >= 18"
    assert (APP_DIR / "node_modules" / "socket.io-client").is_dir(), (
        f"run `npm ci` in {APP_DIR} first (dev dependencies are needed for the tests)"
    )
    test_files = sorted(str(path) for path in (APP_DIR / "test").glob("*.test.js"))
    assert len(test_files) >= 2, test_files
    assert str(APP_DIR / "test" / "cluster.test.js") in test_files, test_files
    result = subprocess.run(
        [node, "--test", *test_files],
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = "\n".join(line for line in result.stdout.splitlines() if line.startswith("# "))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in summary, summary
    assert "# pass 0" not in summary, summary
    # Nothing may pass by not running: no skipped, todo or cancelled node tests.
    for quiet in ("# skipped 0", "# todo 0", "# cancelled 0"):
        assert quiet in summary, summary
