"""tasks.firewall and tasks.nginx at operation level: facts in, commands out.

Covers what the sandbox cannot (Amazon Linux 2023: dnf, nftables) and the converged runs
that must produce no command at all.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import fakehost
import pytest

from tasks import transaction
from tasks.firewall import configure_firewall
from tasks.nginx import ACTIVATE, ACTIVATE_SCRIPT, DHPARAM_FILE, activate_nginx, prepare_nginx
from wsready.deploy import capacity, generations
from wsready.deploy.firewall_rules import NFT_FILE, NFT_UNIT
from wsready.deploy.nginx_config import (
    CANDIDATE,
    DHPARAM,
    LIVE,
    MAIN_CANDIDATE,
    MAIN_LIVE,
    SELF_SIGNED_CERT,
    SELF_SIGNED_KEY,
    STAMP,
    TLS_CERT,
    TLS_DIR,
    TLS_KEY,
    nginx_config,
)
from wsready.deploy.operations.firewall import UFW_FILES
from wsready.hostdata import HostConfig

APT_STAMP = "/var/lib/apt/periodic/update-success-stamp"
NOW = "2026-11-25T12:00:00"
DEBIAN = {
    "server.Which": {"nginx": "/usr/sbin/nginx"},
    "server.Date": NOW,
    "server.LinuxDistribution": {"name": "Debian", "major": 12, "minor": None},
    "server.Os": "Linux",
}
AL2023 = {
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
    results = fakehost.run(deploy, facts, data)
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
    # ufw's files are recorded in the run's transaction before the first rule changes.
    save = commands.index(transaction.save_command(UFW_FILES, "firewall"))
    assert save < commands.index(ufw[0])


def test_ufw_converged_runs_nothing() -> None:
    facts = {**_installed("ufw", "0.36.2-1"), "firewall.UfwState": UFW_CONVERGED}
    assert _run(configure_firewall, facts) == ([], [])


def test_ufw_narrowed_adds_new_rules_before_deleting_stale_ones() -> None:
    facts = {**_installed("ufw", "0.36.2-1"), "firewall.UfwState": UFW_CONVERGED}
    commands, _ = _run(configure_firewall, facts, firewall_allow_cidrs=["198.51.100.0/24"])
    assert commands == [
        transaction.save_command(UFW_FILES, "firewall"),  # recorded before the change
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
    at = commands.index(upload)
    assert commands[at - 2 : at] == [
        transaction.save_command([NFT_FILE], "firewall"),
        f"install -m 600 /dev/null {NFT_FILE}",  # a new file: its mode before its content
    ]
    ruleset = "\n".join(upload["lines"])
    assert "policy drop;" in ruleset and "tcp dport 443 accept" in ruleset
    assert commands[-1] == f"nft -f {NFT_FILE}"
    assert "systemctl enable wsready-firewall.service" in commands


def test_debian_with_firewall_backend_nftables_loads_the_table_then_turns_ufw_off() -> None:
    facts = {**DEBIAN, "firewall.UfwState": UFW_CONVERGED}
    commands, _ = _run(configure_firewall, facts, firewall_backend="nftables")
    apt = [c for c in commands if isinstance(c, str) and "apt-get" in c and "install" in c]
    assert len(apt) == 1 and apt[0].endswith("nftables")
    assert not any(isinstance(c, str) and c.startswith("ufw allow") for c in commands)
    loaded = commands.index(f"nft -f {NFT_FILE}")
    assert commands[loaded + 2 :] == ["ufw --force disable"]  # after its files are recorded
    # ufw already off: nothing for it
    off = {**facts, "firewall.UfwState": {**UFW_CONVERGED, "enabled": False}}
    assert (
        "ufw --force disable" not in _run(configure_firewall, off, firewall_backend="nftables")[0]
    )


def test_back_to_ufw_removes_the_nftables_table_and_its_unit() -> None:
    facts = {
        **DEBIAN,
        "firewall.UfwState": UFW_CONVERGED,
        "files.File": {NFT_FILE: _stat(600), NFT_UNIT: _stat(644)},
    }
    commands, _ = _run(configure_firewall, facts)
    assert commands[-4:] == [
        "systemctl disable wsready-firewall.service 2>/dev/null || true",
        f"rm -f {NFT_FILE} {NFT_UNIT}",
        "systemctl daemon-reload",
        "nft delete table inet wsready 2>/dev/null || true",
    ]


def test_ufw_is_refused_where_there_is_no_apt_get() -> None:
    with pytest.raises(ValueError, match=r'firewall_backend = "ufw": this host has no apt-get'):
        _run(configure_firewall, AL2023, firewall_backend="ufw")


def _config(cpus: int = 2, **data):
    values = HostConfig.from_data(fakehost.HOST, data)
    return nginx_config(values, capacity.plan(values, cpus), "debian")


def _nginx_converged_facts(cpus: int = 2, **data) -> dict:
    """A Debian host where nginx runs the config of `data` (live files, candidates, stamp)."""
    config = _config(cpus, **data)
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
            DHPARAM: _stat(600),
            generations.ACTIVE_FILE: _stat(644),  # the host's own: written once, never again
        },
        "files.Directory": {
            "/etc/wsready/nginx": _stat(755),
            "/usr/local/sbin": _stat(755),
            TLS_DIR: _stat(700),
        },
        "files.Sha1File": {
            ACTIVATE: hashlib.sha1(script).hexdigest(),
            DHPARAM: hashlib.sha1(DHPARAM_FILE.read_bytes()).hexdigest(),
            CANDIDATE: hashlib.sha1(config.site.encode()).hexdigest(),
            MAIN_CANDIDATE: hashlib.sha1(config.main.encode()).hexdigest(),
        },
        "files.Sha256File": dict(zip((MAIN_LIVE, LIVE), config.expected_stamp, strict=True)),
        "files.FileContents": {STAMP: config.expected_stamp},
    }


def configure_nginx() -> None:
    """prepare_nginx and activate_nginx as deploy.py runs them (the app deploys in between)."""
    prepare_nginx()
    activate_nginx()


PAIRS = f"{MAIN_CANDIDATE} {MAIN_LIVE} {CANDIDATE} {LIVE}"
TEST = f"{ACTIVATE} test {PAIRS}"
ACTIVATE_COMMAND = f"{ACTIVATE} activate {STAMP} {PAIRS}"
SAVE_LIVE = transaction.save_command([MAIN_LIVE, LIVE], "nginx")


def _test_and_activate(config) -> list[str]:
    return [
        f"Prepare nginx | Test the candidate nginx.conf and site with nginx -t"
        f" (config {config.fingerprint}).",
        f"Activate nginx | Make the tested nginx config active and reload nginx"
        f" (config {config.fingerprint}).",
    ]


def test_nginx_converged_runs_nothing_and_says_why() -> None:
    results = fakehost.run(configure_nginx, _nginx_converged_facts(), {})
    assert fakehost.commands(results) == [] and fakehost.changed(results) == []
    noops = [why for result in results for why in result.noops]
    assert "nginx already runs this config: nothing to test" in noops
    assert f"{LIVE} and {MAIN_LIVE} already hold this config and nginx has loaded it" in noops


def test_nginx_site_change_is_tested_then_recorded_then_activated() -> None:
    facts = _nginx_converged_facts()
    commands, changed = _run(configure_nginx, facts, nginx_proxy_read_timeout_s=90)
    config = _config(nginx_proxy_read_timeout_s=90)
    (upload,) = [c for c in commands if isinstance(c, dict)]
    assert upload["upload"] == CANDIDATE
    assert f'    add_header X-Wsready-Config "{config.fingerprint}" always;' in upload["lines"]
    # The test before anything live changes; the live files recorded before the rename.
    assert commands[-3:] == [TEST, SAVE_LIVE, ACTIVATE_COMMAND]
    assert SAVE_LIVE.startswith("mkdir -p -m 0700 /etc/wsready/transaction/")
    assert f"cp -a {MAIN_LIVE} " in SAVE_LIVE and f"cp -a {LIVE} " in SAVE_LIVE
    assert not any("reload" in str(c) for c in commands)  # the activate script reloads
    assert changed == ["Prepare nginx | Write wsready.conf aside, as a candidate.",
                       *_test_and_activate(config)]  # fmt: skip


def test_nginx_conf_change_changes_the_fingerprint_in_the_site_too() -> None:
    facts = _nginx_converged_facts()
    commands, _changed = _run(configure_nginx, facts, nginx_worker_connections=20000,
                              nginx_worker_rlimit_nofile=21000)  # fmt: skip
    main, site = [c for c in commands if isinstance(c, dict)]
    assert main["upload"] == MAIN_CANDIDATE and site["upload"] == CANDIDATE
    assert "worker_connections 20000;" in [line.strip() for line in main["lines"]]
    assert "worker_rlimit_nofile 21000;" in main["lines"]
    # Sized for app_max_clients: 20000 x 2 connections x 1.25 headroom / 20000 per worker.
    assert "worker_processes 3;" in main["lines"]
    new = _config(nginx_worker_connections=20000, nginx_worker_rlimit_nofile=21000)
    assert new.fingerprint != _config().fingerprint
    assert f'    add_header X-Wsready-Config "{new.fingerprint}" always;' in site["lines"]
    assert commands[-3:] == [TEST, SAVE_LIVE, ACTIVATE_COMMAND]
    assert MAIN_LIVE == "/etc/nginx/nginx.conf"


def test_nginx_files_live_but_stamp_old_is_activated_again() -> None:
    """A run killed between rename and reload: the next one finishes it."""
    facts = _nginx_converged_facts()
    facts["files.FileContents"] = {STAMP: facts["files.FileContents"][STAMP][:1]}
    commands, changed = _run(configure_nginx, facts)
    assert commands == [TEST, SAVE_LIVE, ACTIVATE_COMMAND]
    assert changed == _test_and_activate(_config())


def test_candidates_are_tested_before_the_app_changes_and_activated_after() -> None:
    """deploy.py: prepare (nginx -t) runs before deploy_app, activate after it."""
    source = (Path(ACTIVATE_SCRIPT).parents[2] / "deploy.py").read_text()
    order = [source.index(f"\n    {step}()") for step in
             ("prepare_nginx", "deploy_app", "activate_nginx", "verify_deploy")]  # fmt: skip
    assert order == sorted(order)


def test_more_cpus_mean_more_upstream_servers() -> None:
    facts = {**_nginx_converged_facts(cpus=2), "hardware.Cpus": 3}
    commands, changed = _run(configure_nginx, facts)
    assert changed == [
        "Prepare nginx | Write wsready.conf aside, as a candidate.",
        *_test_and_activate(_config(cpus=3)),
    ]  # nginx.conf: still 4 workers (sized for the clients)
    (upload,) = [c for c in commands if isinstance(c, dict)]
    # Both generations' upstreams (app_restart "generations", the default): slot b on +100.
    assert [line.strip() for line in upload["lines"] if "server 127.0.0.1:" in line] == [
        "server 127.0.0.1:3000 max_fails=0;",
        "server 127.0.0.1:3001 max_fails=0;",
        "server 127.0.0.1:3002 max_fails=0;",
        "server 127.0.0.1:3100 max_fails=0;",
        "server 127.0.0.1:3101 max_fails=0;",
        "server 127.0.0.1:3102 max_fails=0;",
    ]


def test_nginx_on_al2023_installs_with_dnf() -> None:
    commands, _ = _run(configure_nginx, AL2023)
    assert commands[0] == "dnf install -y nginx"
    assert not [c for c in commands if "sites-enabled" in str(c)]  # no default site there


def test_the_default_site_is_removed_when_the_package_installed_it() -> None:
    """The link is read when the operation runs, after nginx was installed in the same run."""
    link = {"link_target": "/etc/nginx/sites-available/default", "user": "root", "group": "root"}
    facts = {**DEBIAN, "files.Link": {"/etc/nginx/sites-enabled/default": link}}
    commands, changed = _run(configure_nginx, facts)
    assert "rm -f /etc/nginx/sites-enabled/default" in commands
    assert "Prepare nginx | Remove the distribution's default site." in changed


def test_nginx_tls_without_files_records_then_generates_a_self_signed_pair() -> None:
    facts = _nginx_converged_facts(nginx_tls=True, verify_address="203.0.113.7")
    commands, _ = _run(configure_nginx, facts, nginx_tls=True, verify_address="203.0.113.7")
    (openssl,) = [c for c in commands if isinstance(c, str) and "openssl req" in c]
    assert openssl.startswith(
        transaction.save_command([SELF_SIGNED_CERT, SELF_SIGNED_KEY], "nginx") + " && umask 077"
    )
    assert "-subj '/CN=203.0.113.7'" in openssl
    assert "subjectAltName=IP:203.0.113.7" in openssl
    assert commands[-1] == "systemctl reload nginx.service"  # the config itself is converged


def test_nginx_tls_given_files_are_recorded_before_upload(tmp_path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("CERT\n")
    key.write_text("KEY\n")
    data = {"nginx_tls": True, "nginx_tls_cert_file": str(cert), "nginx_tls_key_file": str(key)}
    commands, _ = _run(configure_nginx, _nginx_converged_facts(**data), **data)
    for path in (TLS_CERT, TLS_KEY):
        (upload,) = [i for i, c in enumerate(commands) if isinstance(c, dict)
                     and c["upload"] == path]  # fmt: skip
        assert commands[upload - 2 : upload] == [
            transaction.save_command([path], "nginx"),
            f"install -m 600 /dev/null {path}",  # the key is never readable by others
        ]
    assert commands[-1] == "systemctl reload nginx.service"


def _redis_host_firewall(facts: dict, **data):
    results = fakehost.run(
        configure_firewall,
        facts,
        {"redis_password": "r" * 40, **data},
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
        transaction.save_command(UFW_FILES, "firewall"),
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
