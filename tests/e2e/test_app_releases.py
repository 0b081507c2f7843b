"""App releases on a sandbox host: a code-only change reuses node_modules, a release whose
`npm ci` fails leaves the previous release serving, and only the newest releases are kept.

Leaves the host on the bundled release (the fleet is shared).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import Fleet, changed_rows, host_ssh, redeploy
from tests.e2e.variants import BUNDLED_APP, app_variant
from wsready.deploy import app_release, generations

pytestmark = pytest.mark.e2e

APP_DIR = "/opt/wsready-app"
SERVING = f"cat {generations.ACTIVE_FILE}"


def served(host) -> dict:
    """/api/health asked inside the host, through nginx: the serving generation answers."""
    return json.loads(host_ssh(host, "curl -sf http://127.0.0.1/api/health"))


def current(host) -> str:
    return host_ssh(host, f"readlink {APP_DIR}/current").strip()


def listing(host, directory: str) -> list[str]:
    return sorted(host_ssh(host, f"ls -1 {APP_DIR}/{directory}").split())


def broken_lock(path: Path) -> Path:
    """A release whose lock file names a wrong integrity for express: npm ci must fail."""
    lock = path / "package-lock.json"
    data = json.loads(lock.read_text())
    data["packages"]["node_modules/express"]["integrity"] = "sha512-" + "A" * 86 + "=="
    lock.write_text(json.dumps(data, indent=2))
    return path


def test_releases_reuse_dependencies_survive_a_failed_install_and_are_pruned(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    limit = ("--limit", host.name)
    bundled = app_release.scan(BUNDLED_APP)
    assert current(host) == f"releases/{bundled.hash}"

    # A code-only change: new release, same node_modules, service restarted on it.
    code = app_variant(tmp_path / "code", "code-only")
    release = app_release.scan(code)
    assert release.deps_hash == bundled.deps_hash
    result = redeploy(fleet, *limit, "--data", f"app_source={code}")
    print(f"code-only release: {result.seconds:.1f}s")
    assert result.returncode == 0, result.output
    assert f"Upload release {release.hash}" in result.output
    assert not [row for row in changed_rows(result.output) if "Install dependencies" in row]
    assert served(host)["version"] == release.hash
    # The serving generation's first worker (app_restart "generations": slot a or b).
    first = generations.instances(generations.serving(host_ssh(host, SERVING)), 1)[0]
    worker = f"wsready-app@{first}"
    pid = host_ssh(host, f"systemctl show -p MainPID --value {worker}").strip()
    assert pid != "0"

    # A release whose npm ci fails: the deploy fails, the previous release keeps serving.
    broken = broken_lock(app_variant(tmp_path / "broken", "broken-lock"))
    failed = redeploy(fleet, *limit, "--data", f"app_source={broken}")
    assert failed.returncode != 0
    assert "EINTEGRITY" in failed.output, failed.output
    assert current(host) == f"releases/{release.hash}"
    assert served(host)["version"] == release.hash
    assert host_ssh(host, f"systemctl show -p MainPID --value {worker}").strip() == pid

    # Two more releases: the failed one and the oldest are removed, three remain.
    kept = []
    for marker in ("third", "fourth"):
        source = app_variant(tmp_path / marker, marker)
        kept.append(app_release.scan(source).hash)
        assert redeploy(fleet, *limit, "--data", f"app_source={source}").returncode == 0
    assert listing(host, "releases") == sorted([release.hash, *kept])
    assert listing(host, "deps") == [bundled.deps_hash]

    # Back to the bundled app (re-uploaded: it was pruned).
    restored = redeploy(fleet, *limit)
    assert restored.returncode == 0, restored.output
    assert current(host) == f"releases/{bundled.hash}"
    assert served(host)["version"] == bundled.hash
    assert re.search(
        r"Socket\.IO listening on http://127\.0\.0\.1:3000 path /ws",
        host_ssh(host, "journalctl -u 'wsready-app@*' -o cat --no-pager | tail -n 60"),
    )
