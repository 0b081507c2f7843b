"""wsready.deploy.redis_plan: which Redis an app host's adapter uses, and who may reach a Redis
host."""

from __future__ import annotations

import pytest

from wsready.deploy import redis_plan
from wsready.hostdata import HostConfig
from wsready.validate import ConfigError

SECRET = "redis-password-for-unit-tests-0123456789abcdef"


def _data(name: str = "wsr-1", **overrides) -> HostConfig:
    return HostConfig.from_data(name, overrides)


def _redis_host(name: str = "redis1", **overrides) -> HostConfig:
    return _data(name, redis_password=SECRET, **overrides)


def test_an_explicit_url_wins_over_the_group_and_the_local_socket() -> None:
    data = _data(
        app_redis_url="redis://10.9.9.9:6380/1", redis_password="app-side-password-0123456789abcdef"
    )
    endpoint = redis_plan.endpoint(data, [_redis_host(private_address="10.0.0.5")], 4)
    assert endpoint == redis_plan.RedisEndpoint(
        "redis://10.9.9.9:6380/1", "app-side-password-0123456789abcdef", local=False
    )


def test_the_first_redis_group_host_at_its_redis_address() -> None:
    hosts = [
        _redis_host(redis_address="10.0.0.7", private_address="10.0.0.5", redis_port=6390),
        _redis_host("redis2", redis_address="10.0.0.8"),
    ]
    endpoint = redis_plan.endpoint(_data(), hosts, 1)
    assert endpoint == redis_plan.RedisEndpoint("redis://10.0.0.7:6390", SECRET, local=False)


def test_a_redis_group_host_without_redis_address_is_reached_at_its_private_address() -> None:
    hosts = [_redis_host(private_address="10.0.0.5", ssh_hostname="203.0.113.5")]
    assert redis_plan.endpoint(_data(), hosts, 2).url == "redis://10.0.0.5:6379"


def test_then_at_its_ssh_address_then_at_its_name() -> None:
    by_ssh = [_redis_host(ssh_hostname="10.0.0.6")]
    assert redis_plan.endpoint(_data(), by_ssh, 2).url == "redis://10.0.0.6:6379"
    by_name = [_redis_host("redis.internal")]
    assert redis_plan.endpoint(_data(), by_name, 2).url == "redis://redis.internal:6379"


def test_an_ipv6_redis_address_is_bracketed() -> None:
    hosts = [_redis_host(redis_address="fd00::7")]
    assert redis_plan.endpoint(_data(), hosts, 2).url == "redis://[fd00::7]:6379"


def test_several_workers_without_a_redis_get_the_local_socket() -> None:
    endpoint = redis_plan.endpoint(_data(), [], 2)
    assert endpoint == redis_plan.RedisEndpoint(
        "unix:///run/redis/redis-server.sock", None, local=True
    )
    assert endpoint.url == f"unix://{redis_plan.LOCAL_SOCKET}"


def test_one_worker_without_a_redis_needs_none() -> None:
    assert redis_plan.endpoint(_data(), [], 1) is None


def test_repr_never_shows_the_password() -> None:
    endpoint = redis_plan.endpoint(_data(), [_redis_host(private_address="10.0.0.5")], 2)
    assert endpoint.password == SECRET
    for text in (repr(endpoint), str(endpoint), repr([endpoint]), f"{endpoint!r}"):
        assert SECRET not in text
    assert repr(endpoint) == "RedisEndpoint(url='redis://10.0.0.5:6379', local=False)"


def test_client_cidrs_are_each_app_hosts_private_address_then_extra() -> None:
    app_hosts = [
        _data("web1", private_address="10.0.1.5", ssh_hostname="203.0.113.5"),
        _data("web2", ssh_hostname="10.0.1.6"),  # no private_address: its SSH address
        _data("web3", private_address="10.0.1.5"),  # the same address once
        _data("web4", private_address="fd00::4"),
    ]
    assert redis_plan.client_cidrs(app_hosts, ["10.0.2.0/24", "10.0.1.6/32"]) == [
        "10.0.1.5/32",
        "10.0.1.6/32",
        "fd00::4/128",
        "10.0.2.0/24",
    ]


@pytest.mark.parametrize(
    ("name", "data", "shown"),
    [
        ("web1", {"ssh_hostname": "web1.example.com"}, "'web1.example.com'"),
        ("web1.example.com", {}, "'web1.example.com'"),
    ],
)
def test_client_cidrs_refuse_an_address_that_is_not_an_ip(name, data, shown) -> None:
    with pytest.raises(ConfigError) as raised:
        redis_plan.client_cidrs([_data(name, **data)], [])
    assert str(raised.value).startswith(f"{name}: private_address = {shown}: must be set")


def test_server_address_prefers_redis_address_then_private_then_ssh() -> None:
    assert _data("r", redis_address="10.0.0.1").redis_server_address == "10.0.0.1"
    assert _data("r", private_address="10.0.0.2").redis_server_address == "10.0.0.2"
    assert _data("r", ssh_hostname="10.0.0.3").redis_server_address == "10.0.0.3"
    assert _data("r").redis_server_address == "r"
