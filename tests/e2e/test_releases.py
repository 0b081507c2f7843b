"""Each Debian release the sandbox runs is the release families.RELEASES documents: the
host's /etc/os-release finds its row, and nginx, Redis and systemd are the major.minor
versions the row (and docs/releases.md) name. A release without a row stops the deploy in
the preflight, naming it, before anything changes on the host.
"""

from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path

import pytest

from tests.e2e.conftest import RELEASES, Fleet, changed_rows, fleet_of, host_ssh, run_deploy
from tests.e2e.variants import inventory_variant
from wsready.deploy import families
from wsready.fleet import onboard

pytestmark = pytest.mark.e2e

CODENAMES = {"bookworm": ("debian", "12"), "trixie": ("debian", "13")}
VERSION_COMMANDS = {
    "nginx": ("nginx -v 2>&1", r"nginx/(\d+\.\d+)\."),
    "redis": ("redis-server --version", r"\bv=(\d+\.\d+)\."),
    "systemd": ("systemctl --version", r"^systemd (\d+) "),
    # the python3 apt installs (the monitor's; not on a host without the monitor)
    "python": ("apt-cache policy python3", r"Candidate: (\d+\.\d+)\."),
}
# Everything the deploy writes on a host (as in test_deploy.py), fingerprinted.
STATE = (
    "find /etc/nginx /etc/wsready /etc/wsready-app /etc/ufw /etc/systemd/system /opt/wsready-app"
    " -xdev -type f -exec sha256sum {} + 2>/dev/null | sort;"
    " systemctl show -p MainPID nginx wsready-app@0 redis-server"
)


@pytest.fixture(scope="module", params=RELEASES)
def fleet(request: pytest.FixtureRequest) -> Fleet:
    """The bookworm fleet and the trixie one."""
    return fleet_of(request)


def test_the_host_runs_the_versions_its_release_row_names(fleet: Fleet) -> None:
    assert fleet.deploy.returncode == 0, fleet.deploy.output[-3000:]
    host = fleet.hosts[0]
    os_release = onboard.parse_os_release(host_ssh(host, "cat /etc/os-release"))
    assert (os_release["ID"], os_release["VERSION_ID"]) == CODENAMES[fleet.release]
    assert os_release["VERSION_CODENAME"] == fleet.release
    row = families.release(os_release["ID"], os_release["VERSION_ID"])
    found = {}
    for name, (command, pattern) in VERSION_COMMANDS.items():
        output = host_ssh(host, command)
        match = re.search(pattern, output, re.MULTILINE)
        assert match, f"{name}: {command} said {output!r}"
        found[name] = match.group(1)
    print(f"{row.name}: {found}")
    assert found == dict(row.proven_versions)


def _alpn(address: str, port: int = 443) -> str | None:
    """The protocol the TLS port picks when a client offers h2 and http/1.1."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the self-signed pair; only ALPN is judged here
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection((address, port), timeout=5) as raw,
        context.wrap_socket(raw) as tls,
    ):
        return tls.selected_alpn_protocol()


def test_tls_turns_http2_on_the_way_the_releases_nginx_wants(fleet: Fleet, tmp_path: Path) -> None:
    """With TLS, `nginx -t` says nothing but success (no deprecated `listen … http2` on
    nginx 1.26) and the TLS port speaks HTTP/2 on both releases."""
    host = fleet.hosts[0]
    row = families.release(*CODENAMES[fleet.release])
    inventory = inventory_variant(fleet.inventory, tmp_path / "tls.py", [host.name], nginx_tls=True)
    try:
        result = run_deploy(inventory)
        assert result.returncode == 0, result.output[-3000:]
        site = host_ssh(host, "cat /etc/nginx/conf.d/wsready.conf")
        assert ("http2 on;" in site) == (row.nginx_http2 == families.HTTP2_DIRECTIVE)
        checked = host_ssh(host, "nginx -t 2>&1")
        assert "test is successful" in checked and "[warn]" not in checked, checked
        assert _alpn(host.address) == "h2"
    finally:
        restored = run_deploy(fleet.inventory, "--limit", host.name)
        assert restored.returncode == 0, restored.output[-3000:]


def test_an_unsupported_release_is_refused_by_name_before_any_change(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    before = host_ssh(host, STATE)
    host_ssh(
        host,
        "cp --remove-destination /usr/lib/os-release /etc/os-release && "
        "sed -i -e 's/^VERSION_ID=.*/VERSION_ID=\"14\"/' "
        "-e 's/^PRETTY_NAME=.*/PRETTY_NAME=\"Debian GNU\\/Linux 14 (forky)\"/' /etc/os-release",
    )
    try:
        result = run_deploy(fleet.inventory, "--limit", host.name)
    finally:
        host_ssh(host, "ln -sf ../usr/lib/os-release /etc/os-release")
    assert result.returncode != 0, result.output[-3000:]
    assert f"{host.name}: Debian GNU/Linux 14 (forky) is not supported" in result.output
    assert "nothing was changed on any host" in result.output
    assert host_ssh(host, STATE) == before


def test_nftables_firewall_on_debian_then_back_to_ufw(fleet: Fleet, tmp_path: Path) -> None:
    """`firewall_backend = "nftables"`: wsready's own table holds the rules (default drop),
    ufw goes off, the probes pass through it and a re-run changes nothing; back to the
    default, ufw is on again and the table, its file and its boot unit are gone."""
    host = fleet.hosts[1]
    inventory = inventory_variant(
        fleet.inventory, tmp_path / "nft.py", [host.name], firewall_backend="nftables"
    )
    try:
        first = run_deploy(inventory)
        assert first.returncode == 0, first.output[-3000:]
        assert "all probes passed" in first.output
        table = host_ssh(host, "nft list table inet wsready")
        assert "policy drop;" in table
        assert re.search(r"tcp dport 22 accept", table) and re.search(r"tcp dport 80 accept", table)
        assert "inactive" in host_ssh(host, "ufw status")
        assert host_ssh(host, "systemctl is-enabled wsready-firewall").strip() == "enabled"
        again = run_deploy(inventory)
        assert again.returncode == 0, again.output[-3000:]
        assert changed_rows(again.output) == [], again.output[-3000:]
    finally:
        restored = run_deploy(fleet.inventory, "--limit", host.name)
    assert restored.returncode == 0, restored.output[-3000:]
    assert "Status: active" in host_ssh(host, "ufw status")
    gone = host_ssh(host, "nft list tables; ls /etc/wsready/firewall.nft 2>&1", check=False)
    assert "inet wsready" not in gone and "No such file" in gone
    assert "wsready-firewall" not in host_ssh(host, "ls /etc/systemd/system")
