"""tasks/monitor.py on a real sandbox host: the timer runs `wsready check` on itself, a dead
target and another fleet host (over the sandbox LAN) and keeps a fresh, parsable Prometheus
file; the token sits only in a 0600 root file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Fleet, host_ssh, run_deploy
from wsready import sandbox
from wsready.inventory import host_data

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_MONITOR = ROOT / "tests" / "e2e" / "deploy_monitor.py"
PROM_FILE = "/var/lib/node_exporter/textfile/wsready.prom"
TOKEN_VARIABLE = "WSREADY_E2E_MONITOR_TOKEN"
TOKEN = "monitor-e2e-token-7f3a"
INTERVAL_S = 10
DOWN_TARGET = "http://127.0.0.1:1"  # nothing listens there: must show up as CRITICAL
DEAD_WEBHOOK = "http://127.0.0.1:9/hook"  # on the monitor itself; nothing listens either


def build_wheelhouse(directory: Path) -> Path:
    """Wheels of wsready and its pinned dependencies (sandbox hosts reach no package index)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "-w",
            str(directory),
            "setuptools>=68",
            str(ROOT),
        ],  # fmt: skip
        check=True,
        timeout=600,
    )
    return directory


def monitor_inventory(fleet_inventory: Path, monitor: str, extra: dict, path: Path) -> Path:
    """The fleet's inventory with `monitor` in the monitors group and `extra` host data."""
    hosts = host_data(fleet_inventory)
    entries = [
        (name, {**data, **extra} if name == monitor else data) for name, data in hosts.items()
    ]
    path.write_text(f"fleet = {entries!r}\nmonitors = [{monitor!r}]\n")
    return path


def prom_state(host: sandbox.SandboxHost) -> tuple[float, str] | None:
    """(mtime, content) of the Prometheus file on `host`, None while it does not exist."""
    out = host_ssh(host, f"stat -c %Y {PROM_FILE} 2>/dev/null && cat {PROM_FILE}", check=False)
    if not out.strip():
        return None
    mtime, _, content = out.partition("\n")
    return float(mtime), content


def wait_for(predicate, timeout_s: float, what: str):  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def install_and_prove(
    inventory: Path, host: sandbox.SandboxHost, tmp_path: Path, peer: sandbox.SandboxHost | None
) -> None:
    """Install the monitor on `host` and prove the timer. It checks itself, a dead target and
    `peer`, another fleet host, over the sandbox LAN (as a monitor in a VPC would)."""
    peer_url = f"http://{peer.lan_address}" if peer else None
    extra = {
        "monitor_interval_s": INTERVAL_S,
        "monitor_targets": [f"http://{host.address}", DOWN_TARGET, *([peer_url] if peer else [])],
        "monitor_token_env": TOKEN_VARIABLE,
        "monitor_alert_webhook": DEAD_WEBHOOK,
        "monitor_wheelhouse": str(build_wheelhouse(tmp_path / "wheels")),
    }
    inventory = monitor_inventory(inventory, host.name, extra, tmp_path / "monitor_fleet.py")
    os.environ[TOKEN_VARIABLE] = TOKEN
    try:
        result = run_deploy(inventory, deploy_file=DEPLOY_MONITOR)
    finally:
        del os.environ[TOKEN_VARIABLE]
    assert result.returncode == 0, str(result)
    assert TOKEN not in result.output

    assert host_ssh(host, "systemctl is-enabled wsready-monitor.timer").strip() == "enabled"
    assert host_ssh(host, "systemctl is-active wsready-monitor.timer").strip() == "active"
    assert host_ssh(host, "stat -c '%a %U' /etc/wsready-monitor/env").strip() == "600 root"
    assert host_ssh(host, "cat /etc/wsready-monitor/env") == (
        f"WSREADY_MONITOR_TOKEN={TOKEN}\nWSREADY_MONITOR_WEBHOOK={DEAD_WEBHOOK}\n"
    )
    unit = host_ssh(host, "systemctl cat wsready-monitor.service")
    assert TOKEN not in unit and "--token-env WSREADY_MONITOR_TOKEN" in unit
    assert DEAD_WEBHOOK not in unit and "--alert-webhook-env WSREADY_MONITOR_WEBHOOK" in unit

    first = wait_for(lambda: prom_state(host), 90, f"{PROM_FILE} on {host.name}")
    fresher = wait_for(
        lambda: (state := prom_state(host)) and state[0] > first[0] and state,
        INTERVAL_S * 4 + 30,
        f"the timer to rewrite {PROM_FILE}",
    )
    now = float(host_ssh(host, "date +%s"))
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(fresher[1])
        for sample in family.samples
    }
    own = f"http://{host.address}"
    healthy = [own, *([peer_url] if peer_url else [])]
    for target in healthy:
        assert samples[("wsready_target_status", (("target", target),))] == 0, target
        for probe in ("health", "upgrade", "connect", "rest-auth"):  # rest-auth: token arrived
            assert samples[("wsready_probe_success", (("probe", probe), ("target", target)))] == 1
    assert samples[("wsready_target_status", (("target", DOWN_TARGET),))] == 2
    assert samples[("wsready_probe_success", (("probe", "tcp"), ("target", DOWN_TARGET)))] == 0
    assert now - samples[("wsready_check_timestamp_seconds", ())] <= INTERVAL_S * 2 + 30
    # The webhook URL reached the check through systemd: each run tries the alert for the dead
    # target, fails, says so without the URL, and keeps that target's state for a retry.
    journal = host_ssh(host, "journalctl -u wsready-monitor.service -o cat --no-pager")
    refused = f"alert for {DOWN_TARGET} (NEW -> CRITICAL) not delivered: cannot connect"
    assert journal.count(refused) >= 2 and DEAD_WEBHOOK not in journal
    state = json.loads(host_ssh(host, "cat /var/lib/wsready-monitor/state.json"))["targets"]
    assert all(state[target]["status"] == "OK" for target in healthy)
    assert DOWN_TARGET not in state
    runs = host_ssh(
        host, "journalctl -u wsready-monitor.service -o cat --no-pager | grep -c 'targets ('"
    )
    assert int(runs.strip()) >= 2


def remove_monitor(host: sandbox.SandboxHost) -> None:
    """Leave the shared host as the deploy made it: no timer, no units."""
    host_ssh(
        host,
        "systemctl disable --now wsready-monitor.timer; cd /etc/systemd/system && "
        "rm -f wsready-monitor.service wsready-monitor.timer && systemctl daemon-reload",
        check=False,
    )


def test_monitor_timer_writes_a_fresh_prometheus_file(fleet: Fleet, tmp_path: Path) -> None:
    assert fleet.deploy.returncode == 0, str(fleet.deploy)
    monitor, peer = fleet.hosts[0], fleet.hosts[1]
    try:
        install_and_prove(fleet.inventory, monitor, tmp_path, peer)
    finally:
        remove_monitor(monitor)


if __name__ == "__main__":
    # On a sandbox of your own: python -m tests.e2e.test_monitor INVENTORY HOST_NAME [--keep]
    import tempfile

    own = sandbox.SandboxHost.of(sandbox.HostState.load(sys.argv[2]))
    with tempfile.TemporaryDirectory() as scratch:
        try:
            install_and_prove(Path(sys.argv[1]), own, Path(scratch), peer=None)
            print("monitor proven on", own.name)
        finally:
            if "--keep" not in sys.argv:
                remove_monitor(own)
