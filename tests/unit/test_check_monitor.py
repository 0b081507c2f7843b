"""The monitor's pieces that need no host: its data keys and the targets file it writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsready import hostdata
from wsready.fleet import targets


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
    fleet = [
        (
            "web-1",
            {"ssh_hostname": "10.200.1.2", "ssh_key": "/root/.ssh/id", "app_jwt_secret": "x"},
        ),
        ("web-2", {"verify_address": "10.200.2.2", "nginx_listen_port": 8080}),
        ("web-3", {"ssh_hostname": "10.200.3.2", "nginx_tls": True, "nginx_tls_port": 8443}),
    ]
    text = targets.render_inventory(fleet)
    assert "ssh_key" not in text and "app_jwt_secret" not in text  # only what a target needs
    path = tmp_path / "targets.py"
    path.write_text(text)
    read = {t.name: (t.url, t.socketio_path, t.tls_verify) for t in targets.from_inventory(path)}
    expected = {name: targets.target_for_host(name, data) for name, data in fleet}
    assert read == {n: (t.url, t.socketio_path, t.tls_verify) for n, t in expected.items()}
    assert read["web-3"] == ("https://10.200.3.2:8443", "/ws", False)


def test_urls_render_as_a_targets_file(tmp_path: Path) -> None:
    urls = ["http://10.200.1.2", "https://ws.example.test/live", "http://10.200.2.2:8080/"]
    path = tmp_path / "targets.py"
    path.write_text(targets.render_inventory(targets.urls_as_hosts(urls)))
    read = [(t.url, t.socketio_path, t.origin) for t in targets.from_inventory(path)]
    assert read == [
        ("http://10.200.1.2:80", "/ws", None),
        ("https://ws.example.test:443", "/live", None),
        ("http://10.200.2.2:8080", "/ws", None),
    ]
