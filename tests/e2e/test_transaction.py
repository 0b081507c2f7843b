"""The verify gate on real sandbox hosts: the probes judge the config just activated, and a
failed deploy leaves the host serving exactly what it served before, whatever it changed.

Each breaking change below passes every pre-check (preflight, nginx -t, npm ci) and breaks
one layer; the deploy must fail, and the host must then answer with the fingerprints and
probe results it had before. Each test ends with the host deployed with the defaults.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import DEPLOY_FILE, ROOT, Fleet, host_ssh, redeploy
from tests.e2e.variants import app_variant, crash_at_start
from wsready.probes import Target, run_probes

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
SECRET = "e2e-jwt-secret-for-a-throwaway-host-0123456789"


def served(address: str) -> dict:
    """What answers on the host: nginx's config fingerprint, the app's release, config and
    workers, and the state of every probe."""
    response = requests.get(f"http://{address}/api/health", timeout=5)
    health = response.json()
    results = run_probes(Target(f"http://{address}", origin=f"http://{address}"), timeout_s=5)
    return {
        "site": response.headers.get("X-Wsready-Config"),
        "release": health.get("version"),
        "config": health.get("config"),
        # Each worker's row without its connection count: lingering sessions come and go.
        "workers": {
            **health.get("workers", {}),
            "list": [
                {key: value for key, value in row.items() if key != "connections"}
                for row in health.get("workers", {}).get("list", [])
            ],
        },
        "probes": {result.probe: result.state for result in results},
    }


def _data(**data) -> list[str]:
    args = []
    for key, value in data.items():
        args += ["--data", f"{key}={json.dumps(value)}"]
    return args


def _assert_failed_and_restored(fleet: Fleet, before: dict, result, layer: str) -> None:
    host = fleet.hosts[1]
    assert result.returncode != 0, f"{layer}: the deploy must fail\n{result.output[-3000:]}"
    assert "VerifyError" in result.output, result.output[-3000:]
    assert "it passes the probes again; the host serves what it served before" in result.output, (
        result.output[-3000:]
    )
    after = served(host.address)
    assert after == before, f"{layer}: before {before}\nafter {after}"
    assert host_ssh(host, "ls /etc/wsready/transaction 2>/dev/null; true").strip() == ""


@pytest.fixture
def host_before(fleet: Fleet) -> dict:
    """The second fleet host, deployed with the defaults, and what it serves."""
    result = redeploy(fleet, "--limit", fleet.hosts[1].name)
    assert result.returncode == 0, result.output[-3000:]
    state = served(fleet.hosts[1].address)
    assert state["site"] and state["config"] and set(state["probes"].values()) <= {"ok", "skipped"}
    return state


def test_a_directive_that_refuses_upgrades_fails_the_deploy_and_the_old_config_serves(
    fleet: Fleet, host_before: dict
) -> None:
    host = fleet.hosts[1]
    result = redeploy(
        fleet,
        "--limit",
        host.name,
        *_data(nginx_extra_directives=["if ($http_upgrade) { return 403; }"]),
    )
    assert "upgrade status (403) == 101" in result.output, result.output[-3000:]
    _assert_failed_and_restored(fleet, host_before, result, "nginx directive")


@pytest.mark.parametrize(
    "layer",
    ["app env", "unit", "release", "nginx site", "nginx unit", "firewall"],
)
def test_a_change_that_breaks_one_layer_is_put_back(
    fleet: Fleet, host_before: dict, layer: str, tmp_path: Path
) -> None:
    host = fleet.hosts[1]
    # A shorter probe budget: the breakages that never come up fail after 2 x 4 s.
    limit = ["--limit", host.name, "--data", "verify_timeout_s=4"]
    if layer == "app env":
        result = redeploy(fleet, *limit, *_data(app_env={"NODE_OPTIONS": "--no-such-flag"}))
    elif layer == "unit":
        result = redeploy(fleet, *limit, deploy_file=HERE / "deploy_broken_unit.py")
    elif layer == "release":
        source = app_variant(tmp_path / "app", "broken", crash_at_start)
        result = redeploy(fleet, *limit, *_data(app_source=str(source)))
    elif layer == "nginx unit":  # a sandbox that keeps nginx from starting
        result = redeploy(fleet, *limit, deploy_file=HERE / "deploy_broken_nginx_unit.py")
    elif layer == "nginx site":
        directive = "location ~ ^/ws/ { return 404; }"
        result = redeploy(fleet, *limit, *_data(nginx_extra_directives=[directive]))
    else:
        result = redeploy(fleet, *limit, *_data(firewall_allow_cidrs=["192.0.2.0/24"]))
    _assert_failed_and_restored(fleet, host_before, result, layer)


def test_a_deploy_killed_before_its_verify_is_finished_by_the_next_run(
    fleet: Fleet, host_before: dict
) -> None:
    host = fleet.hosts[1]
    args = ["pyinfra", "-y", str(fleet.inventory), str(DEPLOY_FILE), "--limit", host.name]
    args += _data(app_env={"NODE_OPTIONS": "--no-such-flag"})
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    deploy = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert deploy.stdout is not None
    seen = []
    deadline = time.monotonic() + 300
    for line in deploy.stdout:
        seen.append(line)
        if "Starting operation: Verify the deploy" in line or time.monotonic() > deadline:
            break
    deploy.send_signal(signal.SIGKILL)
    deploy.wait(timeout=30)
    assert any("Starting operation: Verify the deploy" in line for line in seen), "".join(seen)
    # Killed between activation and verify: the broken env is live, its transaction pending.
    assert "NODE_OPTIONS" in host_ssh(host, "cut -d= -f1 /etc/wsready-app/env")
    assert host_ssh(host, "ls /etc/wsready/transaction").strip()

    # The same data again changes nothing, fails its probes and puts back the killed run too.
    again = redeploy(
        fleet,
        "--data",
        "verify_timeout_s=4",
        "--limit",
        host.name,
        *_data(app_env={"NODE_OPTIONS": "--no-such-flag"}),
    )
    _assert_failed_and_restored(fleet, host_before, again, "killed run")
    # The next plain run converges to a proven state and changes nothing.
    plain = redeploy(fleet, "--limit", host.name)
    assert plain.returncode == 0, plain.output[-3000:]
    assert served(host.address) == host_before


def test_auth_on_in_one_step_proves_the_token_matrix(fleet: Fleet, host_before: dict) -> None:
    host = fleet.hosts[1]
    result = redeploy(fleet, "--limit", host.name, *_data(app_auth="jwt", app_jwt_secret=SECRET))
    try:
        assert result.returncode == 0, result.output[-3000:]
        assert "token accepted; a client without a token is refused" in result.output
        assert SECRET not in result.output
        assert "eyJ" not in result.output, "no token in the output"
        assert requests.get(f"http://{host.address}/api/whoami", timeout=5).status_code == 401
    finally:
        restored = redeploy(fleet, "--limit", host.name)
    assert restored.returncode == 0, restored.output[-3000:]
    assert served(host.address) == host_before  # auth off again: as the defaults serve
