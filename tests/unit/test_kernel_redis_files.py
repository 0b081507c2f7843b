"""What tasks/kernel.py and tasks/redis.py write on a host: the sysctl file and the Redis
configs (local unix socket; network with the password in a file of its own)."""

from __future__ import annotations

import pytest
from pyinfra.api.exceptions import DeployError

from tasks import kernel
from wsready import hostdata
from wsready.deploy import redis_conf as redis
from wsready.deploy import redis_plan
from wsready.hostdata import HostConfig
from wsready.validate import ConfigError

SECRET = "redis-password-for-unit-tests-0123456789abcdef"


def test_sysctl_file_has_one_line_per_setting() -> None:
    text = kernel.render({"net.core.somaxconn": 4096, "net.ipv4.ip_local_port_range": "1024 65000"})
    assert text == (
        "# Managed by wsready (tasks/kernel.py, data key kernel_sysctls).\n"
        "net.core.somaxconn = 4096\n"
        "net.ipv4.ip_local_port_range = 1024 65000\n"
    )


def test_sysctl_file_from_the_defaults() -> None:
    lines = kernel.render(HostConfig.from_data("wsr-1", {}).kernel_sysctls).splitlines()
    assert "net.core.somaxconn = 4096" in lines
    assert "net.ipv4.tcp_max_syn_backlog = 4096" in lines


@pytest.mark.parametrize(
    "sysctls",
    [
        {"net.core.somaxconn": "4096\nkernel.sysrq = 1"},
        {"net.core.somaxconn": "4096\r"},
        {"net.core.somaxconn\nkernel.sysrq": 1},
        {"net.core.somaxconn": "1 # comment"},
        {"net.core.somaxconn=1": 2},
    ],
)
def test_sysctl_render_refuses_anything_but_one_line(sysctls: dict) -> None:
    with pytest.raises(ConfigError, match="must be one line"):
        kernel.render(sysctls)


def test_local_redis_listens_on_the_socket_only() -> None:
    lines = redis.local_config().splitlines()
    assert "port 0" in lines  # no TCP at all
    assert f"unixsocket {redis_plan.LOCAL_SOCKET}" in lines
    assert "unixsocketperm 770" in lines  # owner and group redis (the workers' extra group)
    assert not any(line.startswith(("bind ", "requirepass", "include ")) for line in lines)
    for line in ('save ""', "appendonly no", "protected-mode yes", "supervised systemd"):
        assert line in lines


def test_network_redis_binds_the_private_address_and_loopback_and_needs_a_password() -> None:
    lines = redis.network_config("10.0.0.5", 6390).splitlines()
    assert "bind 10.0.0.5 127.0.0.1" in lines
    assert "port 6390" in lines
    assert f"include {redis.PASSWORD_CONFIG}" in lines
    assert not any("unixsocket" in line or "requirepass" in line for line in lines)
    assert 'save ""' in lines and "protected-mode yes" in lines
    # Loopback given as the address: listed once.
    assert "bind 127.0.0.1" in redis.network_config("127.0.0.1", 6379).splitlines()


def test_password_file_holds_only_the_password() -> None:
    assert redis.password_config(SECRET) == f"requirepass {SECRET}\n"


@pytest.mark.parametrize("bad", ["with space", 'quo"te', "quo'te", "back\\slash", "line\nbreak"])
def test_password_file_refuses_what_redis_conf_would_parse(bad: str) -> None:
    password = SECRET + bad
    with pytest.raises(DeployError) as raised:
        redis.password_config(password)
    assert password not in str(raised.value) and bad not in str(raised.value)


@pytest.mark.parametrize("bad", ["with space", 'quo"te', "quo'te", "back\\slash"])
def test_the_preflight_refuses_those_passwords_first(bad: str) -> None:
    (error,) = hostdata.validate({"redis_password": SECRET + bad})
    assert str(error).startswith("redis_password = '<hidden>': ")
