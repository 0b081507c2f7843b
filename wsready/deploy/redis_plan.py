"""Which Redis an app host's Socket.IO adapter uses, and how the Redis hosts are reached.

- `app_redis_url` set: that server (password from `redis_password`).
- else the first host of the inventory's `redis` group, at its `redis_address` (or SSH
  address) and `redis_port`, with that host's `redis_password`;
- else, with more than one app worker, a Redis on the app host itself, reached only over a
  unix socket that the app's user may use (group `redis`), never over the network;
- else none: one worker needs no adapter.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wsready.hostdata import HostConfig
from wsready.validate import ConfigError

REDIS_GROUP = "redis"
LOCAL_SOCKET = "/run/redis/redis-server.sock"
LOCAL_GROUP = "redis"  # Debian's redis-server package: the socket's group

HostData = tuple[str, Mapping[str, Any]]  # (inventory name, data with every key of all.py)


@dataclass(frozen=True)
class RedisEndpoint:
    url: str  # redis://HOST:PORT[/DB] or unix:///run/redis/redis-server.sock
    password: str | None
    local: bool  # a Redis on the app host itself, which this deploy installs

    def __repr__(self) -> str:  # never show the password (pyinfra -vvv prints arguments)
        return f"RedisEndpoint(url={self.url!r}, local={self.local})"


def _url(address: str, port: int) -> str:
    shown = f"[{address}]" if ":" in address else address
    return f"redis://{shown}:{port}"


def endpoint(
    data: HostConfig, redis_hosts: Sequence[HostConfig], workers: int
) -> RedisEndpoint | None:
    """The adapter's Redis for an app host with `data` and `workers` workers."""
    if data.app_redis_url:
        return RedisEndpoint(data.app_redis_url, data.redis_password, local=False)
    if redis_hosts:
        server = redis_hosts[0]
        url = _url(server.redis_server_address, server.redis_port)
        return RedisEndpoint(url, server.redis_password, local=False)
    if workers > 1:
        return RedisEndpoint(f"unix://{LOCAL_SOCKET}", None, local=True)
    return None


def client_cidrs(app_hosts: Sequence[HostConfig], extra: Sequence[str]) -> list[str]:
    """Who may connect to a Redis host: each app host's private address, then `extra`."""
    cidrs = []
    for data in app_hosts:
        address = data.network_address
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(
                f"{data.name}: private_address",
                address,
                "must be set to the host's private IP: the Redis firewall allows addresses",
            ) from None
        cidr = f"{parsed}/{parsed.max_prefixlen}"
        if cidr not in cidrs:
            cidrs.append(cidr)
    return cidrs + [cidr for cidr in extra if cidr not in cidrs]
