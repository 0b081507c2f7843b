"""The monitor's pieces that need no host: its data keys and the targets file it writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsready import hostdata
from wsready.fleet import targets
from wsready.hostdata import HostConfig


def errors(**data) -> list[str]:
    return [str(error) for error in hostdata.validate(data)]


def test_monitor_defaults_are_valid() -> None:
    assert errors() == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"monitor_interval_s": 5}, "monitor_interval_s = 5: must be a whole number"),
        ({"monitor_interval_s": "60"}, "monitor_interval_s = '60'"),
        ({"monitor_targets": "http://a"}, "monitor_targets = 'http://a': must be None or"),
        ({"monitor_targets": []}, "monitor_targets = []"),
        ({"monitor_targets": ["ftp://a"]}, "monitor_targets[0] = 'ftp://a': scheme must be"),
        ({"monitor_alert_webhook": "hook"}, "monitor_alert_webhook = '<hidden>'"),
        ({"monitor_token_env": "MY-TOKEN"}, "monitor_token_env = 'MY-TOKEN'"),
        ({"monitor_token_file": "/nonexistent/t"}, "monitor_token_file = '/nonexistent/t'"),
        ({"monitor_prometheus_file": "wsready.prom"}, "must be an absolute path ending in .prom"),
        ({"monitor_intervall_s": 60}, "did you mean monitor_interval_s?"),
        (
            {"monitor_wheelhouse": "/nonexistent/wheels"},
            "monitor_wheelhouse = '/nonexistent/wheels'",
        ),
    ],
)
def test_bad_monitor_data_is_refused(data: dict, message: str) -> None:
    found = errors(**data)
    assert any(message in line for line in found), found


def test_token_env_and_file_together_are_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    found = errors(monitor_token_env="TOKEN", monitor_token_file=str(token))
    assert found == [
        "monitor_token_env = 'TOKEN': set monitor_token_env or monitor_token_file, not both"
    ]


def test_wheelhouse_without_wheels_is_refused(tmp_path: Path) -> None:
    found = errors(monitor_wheelhouse=str(tmp_path))
    why = "holds no .whl files (make it with `pip wheel -w DIR`)"
    assert found == [f"monitor_wheelhouse = {str(tmp_path)!r}: {why}"]


def test_rendered_targets_file_checks_the_same_urls(tmp_path: Path) -> None:
    """Each fleet host is probed from the monitor as its deploy's verify step probes it: the
    same URL, path and origin; a given certificate verified against the monitor's system CAs,
    one from a private CA against the uploaded copy of that CA."""
    pem = tmp_path / "pair.pem"
    pem.write_text("not read here")
    ca, ca_copy = tmp_path / "ca.pem", tmp_path / "ca-on-the-monitor.pem"
    ca.write_text("a CA")
    ca_copy.write_text("a CA")
    given = {"nginx_tls": True, "nginx_tls_cert_file": str(pem), "nginx_tls_key_file": str(pem)}
    fleet = [
        HostConfig.from_data(
            "web-1",
            {"ssh_hostname": "10.200.1.2", "ssh_key": "/root/.ssh/id", "app_jwt_secret": "x" * 40},
        ),
        HostConfig.from_data("web-2", {"verify_address": "10.200.2.2", "nginx_listen_port": 8080}),
        HostConfig.from_data(
            "web-3", {"ssh_hostname": "10.200.3.2", "nginx_tls": True, "nginx_tls_port": 8443}
        ),
        HostConfig.from_data("web-4", {"verify_address": "10.200.4.2", **given}),
        HostConfig.from_data(
            "web-5", {"verify_address": "10.200.5.2", "verify_tls_ca_file": str(ca), **given}
        ),
        HostConfig.from_data(
            "web-6",
            {
                "ssh_hostname": "10.200.6.2",
                "nginx_tls": "acme",
                "acme_email": "ops@example.com",
                "nginx_server_name": "ws6.example.com",
            },
        ),
    ]
    bundle = tmp_path / "system-cas.pem"
    bundle.write_text("the system's CAs")
    entries = [
        (config.name, targets.monitor_entry(config, {ca: str(ca_copy)}, str(bundle)))
        for config in fleet
    ]
    text = targets.render_inventory(entries)
    assert "ssh_key" not in text and "app_jwt_secret" not in text  # only what a target needs
    assert str(pem) not in text  # the certificate stays where the deploy runs
    path = tmp_path / "targets.py"
    path.write_text(text)
    read = {t.name: t for t in targets.from_inventory(path)}
    for config in fleet:
        deployed = config.target()
        seen = read[config.name]
        assert (seen.url, seen.socketio_path, seen.origin, seen.connect_address) == (
            deployed.url,
            deployed.socketio_path,
            deployed.origin,
            deployed.connect_address,
        )
    assert read["web-3"].url == "https://10.200.3.2:8443"
    assert [read[name].tls_verify for name in ("web-1", "web-3")] == [False, False]
    assert read["web-4"].tls_verify == str(bundle)  # fleet["web-4"]: True, the system's CAs
    assert read["web-5"].tls_verify == str(ca_copy)  # fleet["web-5"]: its private CA
    assert (read["web-6"].url, read["web-6"].connect_address) == (
        "https://ws6.example.com:443",  # an ACME host: at its certificate's name,
        "10.200.6.2",  # connecting to its address
    )
    assert read["web-6"].tls_verify == str(bundle)


def test_urls_render_as_a_targets_file(tmp_path: Path) -> None:
    urls = ["http://10.200.1.2", "https://ws.example.test/live", "http://10.200.2.2:8080/"]
    path = tmp_path / "targets.py"
    path.write_text(targets.render_inventory([targets.url_entry(url) for url in urls]))
    read = [
        (t.name, t.url, t.socketio_path, t.origin, t.tls_verify)
        for t in targets.from_inventory(path)
    ]
    assert read == [  # as `wsready check URL ...` probes them
        ("http://10.200.1.2", "http://10.200.1.2", "/ws", None, True),
        ("https://ws.example.test/live", "https://ws.example.test", "/live", None, True),
        ("http://10.200.2.2:8080", "http://10.200.2.2:8080", "/ws", None, True),
    ]
