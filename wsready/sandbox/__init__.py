"""Throwaway local Debian hosts (systemd-nspawn in network namespaces) for deploys and tests.

Owns everything `wsready sandbox up|down|status` does on this machine: the cached image
(`image`), one netns + veth per host (`net`), the per-host registry-only proxy (`proxy`),
the state files and the processes started (`state`), the inventory it writes (`inventory`),
mounts under a tree about to be deleted (`mounts`) and the prerequisite check (`prereq`).
The host lifecycle (`hosts`) is the package's API:

    from wsready import sandbox
    hosts = sandbox.up(1, Path("/tmp/me/sandbox.py"))
    sandbox.ssh(hosts[0], "systemctl is-active ssh")
"""

from wsready.sandbox.hosts import (
    DEFAULT_INVENTORY,
    HostStatus,
    SandboxError,
    SandboxHost,
    down,
    feed,
    host,
    memory_kb,
    power_off,
    power_on,
    ssh,
    status,
    up,
)
from wsready.sandbox.prereq import SandboxUnavailable

__all__ = [
    "DEFAULT_INVENTORY",
    "HostStatus",
    "SandboxError",
    "SandboxHost",
    "SandboxUnavailable",
    "down",
    "feed",
    "host",
    "memory_kb",
    "power_off",
    "power_on",
    "ssh",
    "status",
    "up",
]
