"""targets.py: URLs and pyinfra inventory files → probe targets, and their bad inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsready.fleet import targets
from wsready.validate import ConfigError

ALL_PY = Path(__file__).resolve().parents[2] / "inventory" / "group_data" / "all.py"


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_urls_keep_their_socketio_path_or_default_to_ws() -> None:
    plain, custom, secure = targets.from_urls(
        ["http://10.200.1.2", "http://10.200.1.2:8080/socket.io/", "wss://example.test/ws"]
    )
    assert (plain.url, plain.socketio_path) == ("http://10.200.1.2", "/ws")
    assert (custom.url, custom.socketio_path) == ("http://10.200.1.2:8080", "/socket.io")
    assert (secure.url, secure.socketio_path) == ("wss://example.test", "/ws")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://10.0.0.1", "scheme must be one of"),
        ("10.0.0.1", "scheme must be one of"),
        ("http://", "has no host"),
        ("http://10.0.0.1:99999", "invalid port"),
        ("http://10.0.0.1/w s", "must not contain spaces"),
    ],
)
def test_bad_urls_are_refused_with_key_and_value(url: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        targets.from_urls([url])
    assert why in str(caught.value)
    assert repr(url) in str(caught.value)


def test_token_goes_into_every_target() -> None:
    (target,) = targets.from_urls(["http://127.0.0.1"], token="s3cret")
    assert target.token == "s3cret"
    assert "s3cret" not in repr(target)


INVENTORY = """
web = [
    ("web-1", {"ssh_hostname": "10.200.1.2", "verify_address": "203.0.113.7"}),
    ("web-2", {"ssh_hostname": "10.200.2.2", "nginx_listen_port": 8080,
               "app_socketio_path": "/socket"}),
    ("web-3", {"ssh_hostname": "10.200.3.2", "nginx_tls": True, "nginx_tls_port": 8443}),
    "web-4.example.test",
]
monitors = [("mon-1", {"ssh_hostname": "10.200.9.2"})]
"""


def test_inventory_hosts_become_the_urls_the_deploy_serves(tmp_path: Path) -> None:
    path = write(tmp_path / "fleet.py", INVENTORY)
    found = {t.name: (t.url, t.socketio_path) for t in targets.from_inventory(path)}
    assert found == {
        "web-1": ("http://203.0.113.7:80", "/ws"),
        "web-2": ("http://10.200.2.2:8080", "/socket"),
        "web-3": ("https://10.200.3.2:8443", "/ws"),
        "web-4.example.test": ("http://web-4.example.test:80", "/ws"),
    }


def test_monitor_only_hosts_are_not_checked_unless_their_group_is_asked(tmp_path: Path) -> None:
    path = write(tmp_path / "fleet.py", INVENTORY)
    assert "mon-1" not in [t.name for t in targets.from_inventory(path)]
    (monitor,) = targets.from_inventory(path, group="monitors")
    assert monitor.url == "http://10.200.9.2:80"


def test_redis_hosts_serve_no_socketio_and_are_not_checked(tmp_path: Path) -> None:
    """A `redis` group host (the app hosts' shared Redis) listens on no HTTP port: checking it
    would report a dead target on a healthy fleet."""
    fleet = INVENTORY + 'redis = [("redis-1", {"ssh_hostname": "10.200.8.2"})]\n'
    path = write(tmp_path / "fleet.py", fleet)
    names = [t.name for t in targets.from_inventory(path)]
    assert "redis-1" not in names and "web-1" in names
    (redis_host,) = targets.from_inventory(path, group="redis")
    assert redis_host.name == "redis-1"


def test_group_data_next_to_the_inventory_is_applied_as_pyinfra_does(tmp_path: Path) -> None:
    (tmp_path / "group_data").mkdir()
    write(tmp_path / "group_data" / "all.py", "nginx_listen_port = 8081\n")
    write(tmp_path / "group_data" / "web.py", "app_socketio_path = '/live'\n")
    path = write(tmp_path / "fleet.py", 'web = [("w1", {"ssh_hostname": "10.0.0.5"})]\n')
    (target,) = targets.from_inventory(path)
    assert (target.url, target.socketio_path) == ("http://10.0.0.5:8081", "/live")


def test_token_applies_to_inventory_targets(tmp_path: Path) -> None:
    path = write(tmp_path / "fleet.py", INVENTORY)
    assert {t.token for t in targets.from_inventory(path, token="abc")} == {"abc"}


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("web = [\n", "cannot be loaded: SyntaxError"),
        (
            "raise RuntimeError('no fleet today')\n",
            "cannot be loaded: RuntimeError",
        ),
        ("x = 1\n", "defines no hosts"),
        ('monitors = ["mon-1"]\n', "contains no host to check"),
        ('web = [("w1", {"nginx_listen_port": 0})]\n', "w1: nginx_listen_port = 0"),
        ('web = [("w1", {"app_socketio_path": "ws"})]\n', "w1: app_socketio_path = 'ws'"),
        ('web = ["@local"]\n', "@local.verify_address"),
    ],
)
def test_invalid_inventories_are_refused(tmp_path: Path, content: str, why: str) -> None:
    path = write(tmp_path / "fleet.py", content)
    with pytest.raises(ConfigError) as caught:
        targets.from_inventory(path)
    assert why in str(caught.value)


def test_missing_directory_and_non_python_inventories_are_refused(tmp_path: Path) -> None:
    not_python = "must be a pyinfra inventory (.py) file"
    cases = {
        str(tmp_path / "missing.py"): "file does not exist",
        str(tmp_path): "is not a file",
        write(tmp_path / "hosts.ini", "[web]\n10.0.0.1\n"): not_python,
    }
    for path, why in cases.items():
        with pytest.raises(ConfigError) as caught:
            targets.from_inventory(path)
        assert str(caught.value) == f"--inventory = {path!r}: {why}"


def test_unknown_group_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "fleet.py", INVENTORY)
    with pytest.raises(ConfigError, match="--group = 'db'"):
        targets.from_inventory(path, group="db")


def test_unreadable_inventory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root, who reads any file: the permission answer is simulated."""
    path = write(tmp_path / "fleet.py", INVENTORY)
    monkeypatch.setattr(targets.os, "access", lambda file, mode: False)
    with pytest.raises(ConfigError) as caught:
        targets.from_inventory(path)
    assert str(caught.value) == f"--inventory = {path!r}: file is not readable"
