"""tasks.firewall and tasks.nginx at operation level: facts in, commands out.

Covers what the sandbox cannot (Amazon Linux 2023: dnf, nftables) and the converged runs
that must produce no command at all.
"""

from __future__ import annotations

import hashlib

import fakehost

from tasks.firewall import NFT_FILE, configure_firewall
from tasks.nginx import (
    ACTIVATE,
    ACTIVATE_SCRIPT,
    CANDIDATE,
    LIVE,
    STAMP,
    configure_nginx,
    render_site,
)
from wsready import hostdata

APT_STAMP = "/var/lib/apt/periodic/update-success-stamp"
NOW = "2026-11-25T12:00:00"
DEBIAN = {
    "server.Which": {"apt-get": "/usr/bin/apt-get", "nginx": "/usr/sbin/nginx"},
    "server.Date": NOW,
    "server.LinuxDistribution": {"name": "Debian", "major": 12, "minor": None},
    "server.Os": "Linux",
}
AL2023 = {
    "server.Which": {"dnf": "/usr/bin/dnf"},
    "server.LinuxDistribution": {"name": "Amazon Linux", "major": 2023, "minor": None},
    "server.Os": "Linux",
}
UFW_CONVERGED = {
    "enabled": True,
    "input_policy": "DROP",
    "rules": {("tcp", 22, "0.0.0.0/0"), ("tcp", 22, "::/0"), ("tcp", 80, "0.0.0.0/0"),
              ("tcp", 80, "::/0")},
}  # fmt: skip


def _stat(mode: int) -> dict:
    return {"user": "root", "group": "root", "mode": mode, "size": 1, "mtime": NOW}


def _installed(package: str, version: str) -> dict:
    """Facts of a Debian host where `package` is installed and apt's lists are fresh."""
    return {
        **DEBIAN,
        "deb.DebPackages": {package: [version]},
        "files.File": {APT_STAMP: _stat(644)},
    }


def _run(deploy, facts: dict, **data):
    results = fakehost.run(deploy, facts, hostdata.with_defaults(data))
    return fakehost.commands(results), fakehost.changed(results)


def test_ufw_on_a_fresh_host_allows_ssh_first_then_denies_and_enables() -> None:
    commands, _ = _run(configure_firewall, DEBIAN)
    ufw = [c for c in commands if isinstance(c, str) and c.startswith("ufw ")]
    assert ufw == [
        "ufw allow proto tcp from 0.0.0.0/0 to any port 22",
        "ufw allow proto tcp from ::/0 to any port 22",
        "ufw allow proto tcp from 0.0.0.0/0 to any port 80",
        "ufw allow proto tcp from ::/0 to any port 80",
        "ufw default deny incoming",
        "ufw --force enable",
    ]


def test_ufw_converged_runs_nothing() -> None:
    facts = {**_installed("ufw", "0.36.2-1"), "firewall.UfwState": UFW_CONVERGED}
    assert _run(configure_firewall, facts) == ([], [])


def test_ufw_narrowed_adds_new_rules_before_deleting_stale_ones() -> None:
    facts = {**_installed("ufw", "0.36.2-1"), "firewall.UfwState": UFW_CONVERGED}
    commands, _ = _run(configure_firewall, facts, firewall_allow_cidrs=["198.51.100.0/24"])
    assert commands == [
        "ufw allow proto tcp from 198.51.100.0/24 to any port 80",
        "ufw delete allow proto tcp from 0.0.0.0/0 to any port 80",
        "ufw delete allow proto tcp from ::/0 to any port 80",
    ]


def test_firewall_disabled_touches_nothing() -> None:
    assert _run(configure_firewall, DEBIAN, firewall_enabled=False) == ([], [])


def test_al2023_gets_an_nftables_table_of_its_own() -> None:
    commands, _ = _run(configure_firewall, AL2023, nginx_tls=True)
    assert "dnf install -y nftables" in commands
    (upload,) = [c for c in commands if isinstance(c, dict) and c["upload"] == NFT_FILE]
    ruleset = "\n".join(upload["lines"])
    assert "policy drop;" in ruleset and "tcp dport 443 accept" in ruleset
    assert commands[-1] == f"nft -f {NFT_FILE}"
    assert "systemctl enable wsready-firewall.service" in commands


def _nginx_converged_facts(**data) -> dict:
    rendered = render_site(hostdata.with_defaults(data)).encode()
    digest = hashlib.sha256(rendered).hexdigest()
    script = ACTIVATE_SCRIPT.read_bytes()
    return {
        **_installed("nginx", "1.22.1-9"),
        "systemd.SystemdStatus": {"*": {"nginx.service": True}},
        "systemd.SystemdEnabled": {"*": {"nginx.service": True}},
        "files.File": {ACTIVATE: _stat(755), CANDIDATE: _stat(644), APT_STAMP: _stat(644)},
        "files.Directory": {"/etc/wsready/nginx": _stat(755), "/usr/local/sbin": _stat(755)},
        "files.Sha1File": {
            ACTIVATE: hashlib.sha1(script).hexdigest(),
            CANDIDATE: hashlib.sha1(rendered).hexdigest(),
        },
        "files.Sha256File": {LIVE: digest},
        "files.FileContents": {STAMP: [digest]},
    }


def test_nginx_converged_runs_nothing_and_reloads_nothing() -> None:
    assert _run(configure_nginx, _nginx_converged_facts()) == ([], [])


def test_nginx_site_change_is_tested_then_activated_without_a_second_reload() -> None:
    facts = _nginx_converged_facts()
    commands, changed = _run(configure_nginx, facts, nginx_proxy_read_timeout_s=90)
    assert commands[-1] == f"{ACTIVATE} {CANDIDATE} {LIVE} {STAMP}"
    assert [c for c in commands if isinstance(c, dict)][0]["upload"] == CANDIDATE
    assert not any("reload" in str(c) for c in commands)
    assert changed == [
        "Configure nginx | Render the wsready site config aside, as a candidate.",
        "Configure nginx | Test the candidate config with nginx -t, then make it the active site.",
    ]


def test_nginx_on_al2023_installs_with_dnf() -> None:
    commands, _ = _run(configure_nginx, AL2023)
    assert commands[0] == "dnf install -y nginx"
    assert "rm -f /etc/nginx/sites-enabled/default" in commands


def test_nginx_tls_without_files_generates_a_self_signed_pair_for_the_address() -> None:
    facts = _nginx_converged_facts(nginx_tls=True)
    commands, _ = _run(configure_nginx, facts, nginx_tls=True, verify_address="203.0.113.7")
    (openssl,) = [c for c in commands if isinstance(c, str) and "openssl req" in c]
    assert "-subj '/CN=203.0.113.7'" in openssl
    assert "subjectAltName=IP:203.0.113.7" in openssl
    assert commands[-1] == "systemctl reload nginx.service"
