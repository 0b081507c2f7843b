"""HostConfig: a host's data resolved once (defaults of all.py, validated, typed, frozen),
its derived values, and one per pyinfra host."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from types import MappingProxyType

import pytest

from wsready.hostdata import (
    ConfigError,
    HostConfig,
    HostDataError,
    cached_defaults,
    host_config,
    load_defaults,
)
from wsready.hostdata.config import DATA_KEYS

SECRET = "jwt-secret-for-host-config-tests-0123456789"
REDIS_SECRET = "redis-secret-for-host-config-tests-012345"
HTPASSWD = "ops:$apr1$abcdefgh$0123456789abcdefghijkl"


def test_one_field_per_documented_key() -> None:
    assert sorted(DATA_KEYS) == sorted(load_defaults())


def test_defaults_are_those_of_all_py_in_their_types() -> None:
    config = HostConfig.from_data("web1", {})
    for key, default in load_defaults().items():
        value = getattr(config, key)
        if isinstance(default, list):
            assert value == tuple(default) and isinstance(value, tuple), key
        elif isinstance(default, dict):
            assert dict(value) == default and isinstance(value, MappingProxyType), key
        else:
            assert value == default and type(value) is type(default), key
    assert (config.name, config.ssh.hostname, config.ssh.port) == ("web1", None, 22)


def test_every_value_parsed_into_its_declared_type(tmp_path: Path) -> None:
    source = tmp_path / "app"
    source.mkdir()
    (source / "package.json").write_text("{}")
    pem = tmp_path / "pair.pem"
    pem.write_text("pem")
    config = HostConfig.from_data(
        "web1",
        {
            "app_source": str(source),
            "nginx_tls": True,
            "nginx_tls_cert_file": str(pem),
            "nginx_tls_key_file": str(pem),
            "verify_tls_ca_file": str(pem),
            "app_workers": 2,
            "nginx_worker_processes": "auto",
            "monitor_targets": ["http://10.0.0.1"],
            "app_env": {"LOG_LEVEL": "debug"},
            "ssh_port": "2222",
        },
    )
    hints = typing.get_type_hints(HostConfig)
    for field in dataclasses.fields(HostConfig):
        value = getattr(config, field.name)
        assert _is(value, hints[field.name]), f"{field.name} = {value!r}: {hints[field.name]}"
    assert isinstance(config.app_source, Path) and isinstance(config.verify_tls_ca_file, Path)
    assert config.monitor_targets == ("http://10.0.0.1",)
    assert config.ssh.port == 2222
    assert isinstance(config.nginx_ipv6, bool) and isinstance(config.app_port, int)


def _is(value: object, hint: object) -> bool:
    """`value` has the type `hint` (unions, Literal, tuple[X, ...], Mapping, classes)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        return any(_is(value, arg) for arg in args)
    if origin is tuple:
        return isinstance(value, tuple) and all(_is(item, args[0]) for item in value)
    if origin is not None:
        return isinstance(value, origin)
    return hint is typing.Any or isinstance(value, hint)


def test_frozen_and_read_only_all_the_way_down() -> None:
    config = HostConfig.from_data("web1", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.app_port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.kernel_sysctls["net.core.somaxconn"] = 1  # type: ignore[index]
    assert not hasattr(config, "__dict__")  # slots
    assert config == HostConfig.from_data("web1", {})


def test_secrets_stay_out_of_repr() -> None:
    config = HostConfig.from_data(
        "web1",
        {
            "app_auth": "jwt",
            "app_jwt_secret": SECRET,
            "redis_password": REDIS_SECRET,
            "app_env": {"API_KEY": "env-secret-value"},
            "monitor_status_htpasswd": HTPASSWD,
            "monitor_alert_webhook": "https://hooks.example.test/T0/secret-path",
            "ssh_password": "ssh-secret-value",
            "ssh_key_password": "passphrase-value",
        },
    )
    shown = repr(config)
    for secret in (SECRET, REDIS_SECRET, "env-secret-value", HTPASSWD, "secret-path"):
        assert secret not in shown
    assert "ssh-secret-value" not in shown and "passphrase-value" not in shown
    assert config.app_jwt_secret == SECRET and config.ssh.password == "ssh-secret-value"


def test_every_problem_at_once_naming_host_key_and_value() -> None:
    with pytest.raises(HostDataError) as caught:
        HostConfig.from_data("web1", {"app_port": 0, "nginx_tls": "yes", "nginx_listen_prot": 81})
    error = caught.value
    assert isinstance(error, ConfigError)
    assert [problem.key for problem in error.errors] == [
        "nginx_listen_prot",
        "app_port",
        "nginx_tls",
    ]
    assert str(error).splitlines() == [
        "web1: nginx_listen_prot = 81: is not a wsready data key (see all.py); "
        "did you mean nginx_listen_port?",
        "web1: app_port = 0: must be a TCP port between 1 and 65535",
        "web1: nginx_tls = 'yes': must be False, True or \"acme\"",
    ]
    assert (error.key, error.value) == ("nginx_listen_prot", 81)


def test_a_refused_secret_is_named_not_shown() -> None:
    with pytest.raises(HostDataError) as caught:
        HostConfig.from_data("web1", {"app_auth": "jwt", "app_jwt_secret": "short-secret"})
    assert "app_jwt_secret = '<hidden>'" in str(caught.value)
    assert "short-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "address", "url"),
    [
        ({}, "web1", "http://web1:80"),
        ({"ssh_hostname": "10.0.0.5"}, "10.0.0.5", "http://10.0.0.5:80"),
        ({"ssh_hostname": "10.0.0.5", "verify_address": "203.0.113.7"}, "203.0.113.7",
         "http://203.0.113.7:80"),
        ({"verify_address": "2001:db8::7", "nginx_listen_port": 8080}, "2001:db8::7",
         "http://[2001:db8::7]:8080"),
        ({"nginx_tls": True, "nginx_tls_port": 8443}, "web1", "https://web1:8443"),
    ],
)  # fmt: skip
def test_probe_address_and_url(data: dict, address: str, url: str) -> None:
    config = HostConfig.from_data("web1", data)
    assert (config.probe_address, config.url) == (address, url)
    target = config.target("a-token")
    assert (target.url, target.socketio_path, target.name) == (url, "/ws", "web1")
    assert (target.token, target.origin) == ("a-token", "http://localhost")


def test_tls_verification_rule(tmp_path: Path) -> None:
    pem = tmp_path / "pair.pem"
    pem.write_text("pem")
    pair = {"nginx_tls": True, "nginx_tls_cert_file": str(pem), "nginx_tls_key_file": str(pem)}
    assert HostConfig.from_data("w", {"nginx_tls": True}).tls_verify is False  # self-signed
    assert HostConfig.from_data("w", pair).tls_verify is True  # the system's CAs
    with_ca = HostConfig.from_data("w", {**pair, "verify_tls_ca_file": str(pem)})
    assert with_ca.tls_verify == str(pem) == with_ca.target().tls_verify


def test_an_acme_host_is_probed_at_its_certificate_name_on_its_address(tmp_path: Path) -> None:
    acme = {
        "nginx_tls": "acme",
        "acme_email": "ops@example.com",
        "nginx_server_name": "WS.example.com www.example.com",
        "ssh_hostname": "10.0.0.5",
    }
    target = HostConfig.from_data("web1", acme).target()
    assert (target.url, target.connect_address, target.tls_verify) == (
        "https://ws.example.com:443",
        "10.0.0.5",
        True,  # the system's CAs
    )
    ca = tmp_path / "pebble.pem"
    ca.write_text("a private ACME CA")
    private = HostConfig.from_data("web1", {**acme, "verify_tls_ca_file": str(ca)})
    assert private.target().tls_verify == str(ca)
    assert HostConfig.from_data("web1", {}).target().connect_address is None


def test_network_and_redis_addresses() -> None:
    bare = HostConfig.from_data("r1", {"ssh_hostname": "10.0.0.3"})
    assert (bare.ssh_address, bare.network_address, bare.redis_server_address) == (
        "10.0.0.3",
        "10.0.0.3",
        "10.0.0.3",
    )
    private = HostConfig.from_data("r1", {"private_address": "10.0.1.3"})
    assert (private.ssh_address, private.network_address) == ("r1", "10.0.1.3")
    assert private.redis_server_address == "10.0.1.3"
    named = HostConfig.from_data("r1", {"private_address": "10.0.1.3", "redis_address": "r.lan"})
    assert named.redis_server_address == "r.lan"


def test_ports_served() -> None:
    assert HostConfig.from_data("w", {}).served_ports == (80,)
    tls = HostConfig.from_data("w", {"nginx_tls": True, "nginx_tls_port": 8443})
    assert (tls.served_ports, tls.public_port, tls.scheme) == ((80, 8443), 8443, "https")


def test_a_connector_host_needs_a_verify_address() -> None:
    with pytest.raises(ConfigError, match=r"@local\.verify_address"):
        HostConfig.from_data("@local", {}).target()
    assert HostConfig.from_data("@local", {"verify_address": "127.0.0.1"}).target().host == (
        "127.0.0.1"
    )


class _Data:
    def __init__(self, values: dict) -> None:
        self.values = values

    def dict(self) -> dict:
        return dict(self.values)


class _Host:
    """What host_config reads of a pyinfra host: its name and data."""

    def __init__(self, name: str, values: dict) -> None:
        self.name = name
        self.data = _Data(values)


def test_one_config_per_host_until_its_data_changes() -> None:
    web1, web2 = _Host("web1", {"app_port": 4000}), _Host("web2", {"app_port": 4000})
    first = host_config(web1)
    assert host_config(web1) is first and first.app_port == 4000
    assert host_config(web2) is not first and host_config(web2) == dataclasses.replace(
        first, name="web2"
    )
    web1.data.values["app_port"] = 5000
    changed = host_config(web1)
    assert changed is not first and changed.app_port == 5000
    assert host_config(web1) is changed


def test_a_refused_host_is_not_cached() -> None:
    host = _Host("web1", {"app_port": 0})
    for _ in range(2):
        with pytest.raises(HostDataError):
            host_config(host)


def test_all_py_is_read_once() -> None:
    assert cached_defaults() is cached_defaults()
    assert dict(cached_defaults()) == load_defaults()
