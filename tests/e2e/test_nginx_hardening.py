"""nginx sandboxed by its systemd drop-in (tasks/nginx_hardening.py) on real sandbox hosts.

The fleet deployed with the defaults: `systemd-analyze security nginx.service` rates it at
most 4.0 (Debian's own unit: 9.6), nginx's master runs with five capabilities, no new
privileges, a syscall filter and a read-only /etc, and still serves: official Socket.IO
clients held across a reload and a log rotation (nginx creating the new log itself) all
receive a broadcast afterwards, new ones connect. `nginx_hardening = False` removes the
drop-in (and the rating goes back up); on again, it returns. A broken drop-in is rolled back
by the transaction (tests/e2e/test_transaction.py, layer "nginx unit").
"""

from __future__ import annotations

import pytest

from bench import ws_capacity
from tests.e2e.conftest import RELEASES, Fleet, exposure, fleet_of, host_ssh, redeploy
from tests.waiting import wait_for
from wsready import sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=RELEASES)
def fleet(request: pytest.FixtureRequest) -> Fleet:
    """This module runs on the bookworm fleet and on the trixie one (what differs between
    releases: systemd 252 / 257 and what it rates)."""
    return fleet_of(request)


MAX_EXPOSURE = 4.0
DROPIN = "/etc/systemd/system/nginx.service.d/wsready-hardening.conf"
# CAP_CHOWN (0), CAP_DAC_OVERRIDE (1), CAP_SETGID (6), CAP_SETUID (7), CAP_NET_BIND_SERVICE (10)
CAPABILITIES = (1 << 0) | (1 << 1) | (1 << 6) | (1 << 7) | (1 << 10)
CLIENTS = 200


def master_status(host: sandbox.SandboxHost) -> dict[str, str]:
    """/proc/<nginx master>/status as a dict."""
    text = host_ssh(host, "cat /proc/$(systemctl show -P MainPID nginx)/status")
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_nginx_is_sandboxed_on_every_fleet_host(fleet: Fleet) -> None:
    assert fleet.deploy.returncode == 0, str(fleet.deploy)
    for host in fleet.hosts:
        rating = exposure(host, "nginx.service")
        print(f"{host.name}: nginx.service exposure {rating}")
        assert rating <= MAX_EXPOSURE, f"{host.name}: nginx.service rated {rating}"
        assert DROPIN in host_ssh(host, "systemctl show -P DropInPaths nginx")
        status = master_status(host)
        assert int(status["CapBnd"], 16) == CAPABILITIES, status["CapBnd"]
        assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"
        # In nginx's mount namespace /etc is read-only, its log directory writable.
        enter = "nsenter -t $(systemctl show -P MainPID nginx) -m --"
        refused = sandbox.ssh(host, f"{enter} touch /etc/wsready-hardening-probe")
        assert refused.returncode != 0 and "Read-only file system" in refused.stderr, refused
        host_ssh(host, f"{enter} sh -c 'touch /var/log/nginx/.probe && rm /var/log/nginx/.probe'")
        assert host_ssh(host, "nginx -t 2>&1 && echo tested").strip().endswith("tested")


def _reload_and_rotate(run: ws_capacity.SshRunner, broadcast: ws_capacity.Trigger):
    """A trigger: reload nginx, rotate its logs as logrotate's postrotate does (the new
    access.log left for nginx to create), wait until a request lands in the new file, then
    broadcast to the clients held all along."""

    def trigger() -> object:
        for command in (
            "systemctl reload nginx",
            "mv /var/log/nginx/access.log /var/log/nginx/access.log.hardening-test",
            "invoke-rc.d nginx rotate",
        ):
            done = run(command)
            assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"

        def logged() -> bool:
            run("curl -s -o /dev/null http://127.0.0.1/api/health")
            found = run("stat -c '%U %s' /var/log/nginx/access.log").stdout.split()
            return found[:1] == ["www-data"] and int(found[1]) > 0

        wait_for(logged, 15, "a request logged in nginx's new access.log", interval_s=0.5)
        return broadcast()

    return trigger


def test_reload_and_log_rotation_keep_official_clients_and_new_ones_connect(
    fleet: Fleet,
) -> None:
    host = fleet.hosts[0]
    run = ws_capacity.sandbox_runner(host.name)
    marker = host_ssh(host, "wc -l < /var/log/nginx/error.log").strip()
    try:
        held = ws_capacity.run_load(
            f"http://{host.address}",
            CLIENTS,
            2,
            200.0,
            _reload_and_rotate(run, ws_capacity.ssh_trigger(run)),
            config="hardened",
            hold_s=1.0,
            connect_timeout_s=30.0,
            broadcast_timeout_s=20.0,
            max_seconds=120.0,
        )
        assert held["connected"] == CLIENTS and held["errors"] == 0, held
        assert held["broadcast_received"] == CLIENTS, held  # across the reload and reopen
        fresh = ws_capacity.run_load(
            f"http://{host.address}", 20, 1, 100.0, ws_capacity.ssh_trigger(run), max_seconds=60.0
        )
        assert fresh["connected"] == 20 and fresh["broadcast_received"] == 20, fresh
        errors = host_ssh(host, f"tail -n +{int(marker) + 1} /var/log/nginx/error.log")
        assert "[emerg]" not in errors and "Permission denied" not in errors, errors
        assert host_ssh(host, "stat -c '%U' /var/log/nginx/access.log").strip() == "www-data"
    finally:
        host_ssh(host, "rm -f /var/log/nginx/access.log.hardening-test")


def test_off_removes_the_drop_in_and_on_puts_it_back(fleet: Fleet) -> None:
    host = fleet.hosts[1]
    limit = ["--limit", host.name]
    try:
        off = redeploy(fleet, *limit, "--data", "nginx_hardening=False")
        assert off.returncode == 0, off.output[-3000:]
        assert host_ssh(host, f"ls {DROPIN} 2>/dev/null; true").strip() == ""
        assert exposure(host, "nginx.service") > MAX_EXPOSURE
        assert int(master_status(host)["CapBnd"], 16) != CAPABILITIES
    finally:
        on = redeploy(fleet, *limit)
    assert on.returncode == 0, on.output[-3000:]
    assert exposure(host, "nginx.service") <= MAX_EXPOSURE
    assert int(master_status(host)["CapBnd"], 16) == CAPABILITIES
