"""tasks.monitor at the operation level: facts in, commands out, no host contacted."""

from __future__ import annotations

import fakehost
import pytest
from pyinfra.api.exceptions import DeployError

from tasks.monitor import install_monitor
from wsready.hostdata import HostConfig

MONITOR = "mon-1"
WEB = ("web-1", {"ssh_hostname": "10.200.1.2", "ssh_key": "/secret/key"})
DEBIAN = {
    **fakehost.DEBIAN12,
    "server.Which": {"useradd": "/usr/sbin/useradd"},
    "server.Os": "Linux",
}


def plan(data: dict, facts: dict | None = None, in_monitors: bool = True) -> list:
    """fakehost.run with an inventory that has a `monitors` group and a fleet host."""
    groups = {"monitors": ([MONITOR], {})} if in_monitors else {}
    facts = {**DEBIAN, **(facts or {})}
    return fakehost.run(install_monitor, facts, data, name=MONITOR, others=[WEB], groups=groups)


def uploaded(results: list, dest: str) -> list[str]:
    for command in fakehost.commands(results):
        if isinstance(command, dict) and command.get("upload") == dest and "lines" in command:
            return command["lines"]
    raise AssertionError(f"nothing uploaded to {dest}")


def shell(results: list) -> str:
    return "\n".join(c for c in fakehost.commands(results) if isinstance(c, str))


def test_a_host_outside_monitors_gets_nothing() -> None:
    assert fakehost.changed(plan({}, in_monitors=False)) == []


def test_pip_uses_the_proxy_and_the_system_ca_bundle() -> None:
    facts = {"files.File": {"/etc/ssl/certs/ca-certificates.crt": {"size": 1}}}
    results = plan({"proxy_url": "http://10.200.1.1:8888"}, facts)
    commands = shell(results)
    assert "python3 -m venv /opt/wsready-monitor/venv" in commands
    assert (
        "/opt/wsready-monitor/venv/bin/pip install --quiet --disable-pip-version-check "
        "--no-cache-dir --proxy http://10.200.1.1:8888 --cert /etc/ssl/certs/ca-certificates.crt "
        "/opt/wsready-monitor/src"
    ) in commands


def test_wheelhouse_installs_without_an_index(tmp_path) -> None:
    (tmp_path / "wsready-0.1.0-py3-none-any.whl").write_text("")
    results = plan({"monitor_wheelhouse": str(tmp_path), "proxy_url": "http://p:3128"})
    commands = shell(results)
    assert (
        "--no-index --find-links /opt/wsready-monitor/wheels /opt/wsready-monitor/src" in commands
    )
    assert "--proxy" not in commands


def test_targets_file_holds_the_fleet_but_not_the_monitor_nor_secrets() -> None:
    lines = uploaded(plan({}), "/etc/wsready-monitor/targets.py")
    text = "\n".join(lines)
    assert "'web-1'" in text and "'10.200.1.2'" in text
    assert MONITOR not in text
    assert "/secret/key" not in text


def test_token_and_webhook_only_in_the_0600_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_TOKEN", "tok-123")
    data = {"monitor_token_env": "OPS_TOKEN", "monitor_alert_webhook": "https://hooks.test/S3"}
    results = plan(data)
    assert uploaded(results, "/etc/wsready-monitor/env") == [
        "WSREADY_MONITOR_TOKEN=tok-123",
        "WSREADY_MONITOR_WEBHOOK=https://hooks.test/S3",
    ]
    assert "chmod 600 /etc/wsready-monitor/env" in shell(results)
    unit = "\n".join(
        str(c) for c in fakehost.commands(results) if "wsready-monitor.service" in str(c)
    )
    assert "tok-123" not in unit and "hooks.test" not in unit
    names = " ".join(result.name for result in results)
    assert "tok-123" not in names and "hooks.test" not in names


def test_token_variable_missing_where_pyinfra_runs_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPS_TOKEN", raising=False)
    with pytest.raises(DeployError, match="monitor_token_env = 'OPS_TOKEN': that environment"):
        plan({"monitor_token_env": "OPS_TOKEN"})


def test_nothing_to_check_is_an_error() -> None:
    groups = {"monitors": ([MONITOR], {})}
    with pytest.raises(DeployError, match="monitor has nothing to check"):
        fakehost.run(install_monitor, DEBIAN, {}, name=MONITOR, groups=groups)


HASH = "ops:$apr1$abcdefgh$0123456789abcdefghijkl"


def test_the_check_writes_the_status_page_and_nginx_serves_it_to_private_ranges() -> None:
    results = plan({})
    unit = "\n".join(str(c) for c in fakehost.commands(results) if "ExecStart" in str(c))
    assert "--html /var/lib/wsready-monitor/status.html --html-refresh 60" in unit
    location = "\n".join(uploaded(results, "/etc/wsready/status/location.conf.candidate"))
    assert "location = /status {" in location
    assert "allow 10.0.0.0/8;" in location and "allow 192.168.0.0/16;" in location
    assert "deny all;" in location and "auth_basic" not in location
    assert "alias /var/lib/wsready-monitor/status.html;" in location
    assert "Content-Security-Policy \"default-src 'none'; style-src 'sha256-" in location
    assert "if nginx -t -q; then" in shell(results)  # tested before nginx reloads it


def test_basic_auth_file_is_0640_root_www_data_and_never_shown() -> None:
    results = plan({"monitor_status_htpasswd": HASH, "monitor_status_allow_cidrs": ["0.0.0.0/0"]})
    assert uploaded(results, "/etc/wsready/status/htpasswd") == [HASH]
    commands = shell(results)
    assert "chown root:www-data /etc/wsready/status/htpasswd" in commands
    assert "chmod 640 /etc/wsready/status/htpasswd" in commands
    location = "\n".join(uploaded(results, "/etc/wsready/status/location.conf.candidate"))
    assert "auth_basic_user_file /etc/wsready/status/htpasswd;" in location
    assert "allow 0.0.0.0/0;" in location and "10.0.0.0/8" not in location
    assert all("$apr1$" not in result.name for result in results)


def test_no_status_path_removes_the_location() -> None:
    left = {"/etc/wsready/status/location.conf": {"size": 1, "mode": 644}}  # an earlier page
    results = plan({"monitor_status_path": None}, {"files.File": left})
    assert "rm -f /etc/wsready/status/location.conf" in shell(results)
    with pytest.raises(AssertionError, match="nothing uploaded"):
        uploaded(results, "/etc/wsready/status/location.conf.candidate")


def test_only_monitor_hosts_include_the_status_location_in_their_site() -> None:
    from wsready.deploy.nginx_config import render_site, status_include

    data = HostConfig.from_data("mon-1", {})
    assert status_include(data, ["monitors"]) == "/etc/wsready/status/*.conf"
    assert status_include(data, ["fleet"]) is None
    off = HostConfig.from_data("mon-1", {"monitor_status_path": None})
    assert status_include(off, ["monitors"]) is None
    assert "include /etc/wsready/status/*.conf;" in render_site(
        data, 1, "", "/etc/wsready/status/*.conf"
    )
    assert "/etc/wsready/status" not in render_site(data, 1)


def test_tls_thresholds_are_data_passed_to_the_scheduled_check() -> None:
    default = "\n".join(str(c) for c in fakehost.commands(plan({})) if "ExecStart" in str(c))
    assert "--tls-warn-days 21 --tls-crit-days 7" in default
    results = plan({"monitor_tls_warn_days": 45, "monitor_tls_crit_days": 20})
    unit = "\n".join(str(c) for c in fakehost.commands(results) if "ExecStart" in str(c))
    assert "--tls-warn-days 45 --tls-crit-days 20" in unit


def test_a_private_ca_of_the_fleet_is_uploaded_and_named_in_the_targets_file(tmp_path) -> None:
    """The monitor verifies a fleet host's certificate as its deploy's verify step does."""
    ca, pem = tmp_path / "private-ca.pem", tmp_path / "pair.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nthe CA\n-----END CERTIFICATE-----\n")
    pem.write_text("the pair")
    tls = {"nginx_tls": True, "nginx_tls_cert_file": str(pem), "nginx_tls_key_file": str(pem)}
    fleet = [
        ("web-1", {"ssh_hostname": "10.200.1.2", **tls, "verify_tls_ca_file": str(ca)}),
        ("web-2", {"ssh_hostname": "10.200.2.2", **tls}),
    ]
    results = fakehost.run(
        install_monitor,
        DEBIAN,
        {},
        name=MONITOR,
        others=fleet,
        groups={"monitors": ([MONITOR], {})},
    )
    text = "\n".join(uploaded(results, "/etc/wsready-monitor/targets.py"))
    (remote,) = [
        c["upload"]
        for c in fakehost.commands(results)
        if isinstance(c, dict) and str(c.get("upload", "")).startswith("/etc/wsready-monitor/ca-")
    ]
    assert f"'verify_tls_ca_file': '{remote}'" in text  # web-1: its private CA
    assert "'verify_tls_ca_file': '/etc/ssl/certs/ca-certificates.crt'" in text  # web-2
    assert str(tmp_path) not in text  # no path of the machine running pyinfra
    assert "ca-certificates" in shell(results)


def test_the_data_keys_defaults_travel_with_the_source() -> None:
    commands = fakehost.commands(plan({}))
    uploads = [c for c in commands if isinstance(c, dict)]
    assert any(
        c.get("upload") == "/opt/wsready-monitor/src/wsready/hostdata/all.py" for c in uploads
    ), uploads
