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
    MAIN_CANDIDATE,
    MAIN_LIVE,
    MAIN_STAMP,
    STAMP,
    configure_nginx,
    render_main,
    render_site,
)
from wsready import capacity, hostdata

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


def _nginx_converged_facts(cpus: int = 2, **data) -> dict:
    values = hostdata.with_defaults(data)
    sized = capacity.plan(values, cpus)
    rendered = render_site(values, sized.app_workers).encode()
    main = render_main(values, sized, "debian").encode()
    digest, main_digest = hashlib.sha256(rendered).hexdigest(), hashlib.sha256(main).hexdigest()
    script = ACTIVATE_SCRIPT.read_bytes()
    return {
        **_installed("nginx", "1.22.1-9"),
        "hardware.Cpus": cpus,
        "systemd.SystemdStatus": {"*": {"nginx.service": True}},
        "systemd.SystemdEnabled": {"*": {"nginx.service": True}},
        "files.File": {
            ACTIVATE: _stat(755),
            CANDIDATE: _stat(644),
            MAIN_CANDIDATE: _stat(644),
            APT_STAMP: _stat(644),
        },
        "files.Directory": {"/etc/wsready/nginx": _stat(755), "/usr/local/sbin": _stat(755)},
        "files.Sha1File": {
            ACTIVATE: hashlib.sha1(script).hexdigest(),
            CANDIDATE: hashlib.sha1(rendered).hexdigest(),
            MAIN_CANDIDATE: hashlib.sha1(main).hexdigest(),
        },
        "files.Sha256File": {LIVE: digest, MAIN_LIVE: main_digest},
        "files.FileContents": {STAMP: [digest], MAIN_STAMP: [main_digest]},
    }


SITE_CHANGED = [
    "Configure nginx | Write the wsready site config aside, as a candidate.",
    "Configure nginx | Test the candidate config with nginx -t, then make it the active site.",
]


def test_nginx_converged_runs_nothing_and_reloads_nothing() -> None:
    assert _run(configure_nginx, _nginx_converged_facts()) == ([], [])


def test_nginx_site_change_is_tested_then_activated_without_a_second_reload() -> None:
    facts = _nginx_converged_facts()
    commands, changed = _run(configure_nginx, facts, nginx_proxy_read_timeout_s=90)
    assert commands[-1] == f"{ACTIVATE} {CANDIDATE} {LIVE} {STAMP}"
    assert [c for c in commands if isinstance(c, dict)][0]["upload"] == CANDIDATE
    assert not any("reload" in str(c) for c in commands)
    assert changed == SITE_CHANGED


def test_nginx_conf_change_is_uploaded_aside_then_tested_and_activated() -> None:
    facts = _nginx_converged_facts()
    commands, changed = _run(configure_nginx, facts, nginx_worker_connections=20000,
                             nginx_worker_rlimit_nofile=21000)  # fmt: skip
    (upload,) = [c for c in commands if isinstance(c, dict)]
    assert upload["upload"] == MAIN_CANDIDATE
    assert "worker_connections 20000;" in [line.strip() for line in upload["lines"]]
    assert "worker_rlimit_nofile 21000;" in upload["lines"]
    # Sized for app_max_clients: 20000 x 2 connections x 1.25 headroom / 20000 per worker.
    assert "worker_processes 3;" in upload["lines"]
    assert commands[-1] == f"{ACTIVATE} {MAIN_CANDIDATE} {MAIN_LIVE} {MAIN_STAMP}"
    assert MAIN_LIVE == "/etc/nginx/nginx.conf"
    assert not any("reload" in str(c) for c in commands)  # the activate script reloads
    assert changed == [
        "Configure nginx | Write nginx.conf aside, as a candidate (3 workers x 20000 connections).",
        "Configure nginx | Test the candidate nginx.conf with nginx -t, then make it the active "
        "one.",
    ]


def test_nginx_conf_loaded_but_stamp_missing_is_activated_again() -> None:
    """A run killed between rename and reload: the next one finishes it."""
    facts = _nginx_converged_facts()
    facts["files.FileContents"] = {STAMP: facts["files.FileContents"][STAMP]}
    commands, _ = _run(configure_nginx, facts)
    assert commands == [f"{ACTIVATE} {MAIN_CANDIDATE} {MAIN_LIVE} {MAIN_STAMP}"]


def test_more_cpus_mean_more_upstream_servers() -> None:
    facts = {**_nginx_converged_facts(cpus=2), "hardware.Cpus": 3}
    commands, changed = _run(configure_nginx, facts)
    assert changed == SITE_CHANGED  # nginx.conf: still 4 workers (sized for the clients)
    (upload,) = [c for c in commands if isinstance(c, dict)]
    assert [line.strip() for line in upload["lines"] if "server 127.0.0.1:" in line] == [
        "server 127.0.0.1:3000;",
        "server 127.0.0.1:3001;",
        "server 127.0.0.1:3002;",
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


def _redis_host_firewall(facts: dict, **data):
    results = fakehost.run(
        configure_firewall,
        facts,
        hostdata.with_defaults({"redis_password": "r" * 40, **data}),
        others=[
            ("web1", {"ssh_hostname": "203.0.113.5", "private_address": "10.0.1.5"}),
            ("web2", {"ssh_hostname": "10.0.1.6"}),
        ],
        groups={"redis": (["testhost"], {}), "web": (["web1", "web2"], {})},
    )
    return fakehost.commands(results)


def test_ufw_on_a_redis_host_opens_ssh_and_redis_to_the_app_hosts_only() -> None:
    commands = _redis_host_firewall(DEBIAN, redis_allow_cidrs=["10.0.9.0/24"])
    assert [c for c in commands if isinstance(c, str) and c.startswith("ufw ")] == [
        "ufw allow proto tcp from 0.0.0.0/0 to any port 22",
        "ufw allow proto tcp from ::/0 to any port 22",
        "ufw allow proto tcp from 10.0.1.5/32 to any port 6379",
        "ufw allow proto tcp from 10.0.1.6/32 to any port 6379",
        "ufw allow proto tcp from 10.0.9.0/24 to any port 6379",
        "ufw default deny incoming",
        "ufw --force enable",
    ]


def test_ufw_on_a_converged_web_host_turned_redis_host_closes_port_80() -> None:
    facts = {**_installed("ufw", "0.36.2-1"), "firewall.UfwState": UFW_CONVERGED}
    commands = _redis_host_firewall(facts)
    assert commands == [
        "ufw allow proto tcp from 10.0.1.5/32 to any port 6379",
        "ufw allow proto tcp from 10.0.1.6/32 to any port 6379",
        "ufw delete allow proto tcp from 0.0.0.0/0 to any port 80",
        "ufw delete allow proto tcp from ::/0 to any port 80",
    ]


def test_nftables_on_a_redis_host() -> None:
    commands = _redis_host_firewall(AL2023)
    (upload,) = [c for c in commands if isinstance(c, dict) and c["upload"] == NFT_FILE]
    assert "        ip saddr 10.0.1.6/32 tcp dport 6379 accept" in upload["lines"]
    assert not any("dport 80" in line for line in upload["lines"])
