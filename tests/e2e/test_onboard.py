"""`wsready onboard` on real sandbox hosts: a deployed one, and a fresh one whose port 80 is
taken by another process before nginx is installed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Fleet, host_ssh
from tests.waiting import wait_for
from wsready import sandbox

pytestmark = pytest.mark.e2e

SQUATTER = (
    "systemd-run --unit=port80-squatter perl -MIO::Socket::INET -e "
    "'my $s = IO::Socket::INET->new(LocalPort => 80, Listen => 5, ReuseAddr => 1) or die; "
    "sleep 3600'"
)


def wsready_onboard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["wsready", "onboard", *args], capture_output=True, text=True, timeout=120
    )


def test_deployed_host_is_ready_and_gets_its_deploy_command(fleet: Fleet):
    host = fleet.hosts[0]

    result = wsready_onboard("--inventory", str(fleet.inventory), "--limit", host.name)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{host.name}: ready"
    assert f"  ok   ssh: reachable as root@{host.address}" in lines
    assert "  ok   os: Debian GNU/Linux 12 (bookworm)" in lines
    assert "  ok   port 80: already served by nginx (the deploy configures it)" in lines
    assert lines[-1] == f"  next: pyinfra -y {fleet.inventory} deploy.py --limit {host.name}"


def test_fresh_host_with_port_80_taken_is_not_ready(tmp_path: Path):
    inventory = tmp_path / "squatted.py"
    try:
        (host,) = sandbox.up(1, inventory)
        fine = wsready_onboard("--inventory", str(inventory))
        host_ssh(host, SQUATTER)
        wait_for(
            lambda: host_ssh(host, "ss -Hltn 'sport = :80'"),
            10,
            "the port-80 squatter listening",
            until=lambda listening: ":80 " in listening,
        )
        pid = host_ssh(host, "systemctl show -p MainPID --value port80-squatter").strip()

        taken = wsready_onboard("--inventory", str(inventory), "--json")
    finally:
        sandbox.down(inventory)

    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert "  ok   port 80: free" in fine.stdout.splitlines()
    assert taken.returncode == 2, taken.stdout + taken.stderr
    (report,) = json.loads(taken.stdout)
    assert report["ready"] is False and report["next"] is None
    assert [item for item in report["findings"] if not item["ok"]] == [
        {
            "check": "port 80",
            "ok": False,
            "detail": f"taken by perl (pid {pid}): stop it, or choose another nginx_listen_port",
        }
    ]
