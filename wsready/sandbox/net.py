"""Network namespaces for sandbox hosts: one netns + veth /30 per host, 10.200.X.0/30.

Host side `vwsr-X` = 10.200.X.1/30, inside `eth0` = 10.200.X.2/30 with the default route via
.1. The host side neither forwards nor speaks IPv6, so the only thing the sandbox can reach is
the host machine itself (its proxy on 10.200.X.1): no NAT and no firewall rule is needed.

The sandbox LAN: inside, `eth1` = 10.201.0.X/24 is plugged into a bridge that lives in a
namespace of its own (`wsr-lan`) with no other link, so sandbox hosts reach each other as
hosts of one VPC subnet do (a monitor checking the fleet), and still nothing else. The LAN
namespace is made with the first host and removed with the last.

Indexes are allocated under an exclusive lock, scanning every trace an index may leave
(netns, links, addresses, state directories), so concurrent `up`s never collide.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from wsready.sandbox import state as sandbox_state

MAX_INDEX = 250
LAN_NETNS = "wsr-lan"
LAN_BRIDGE = "br0"
LAN_PREFIX_LENGTH = 24
LOCK_FILE = Path("/run/wsready/sandbox.lock")
_ADDRESS = re.compile(r"\b10\.200\.(\d{1,3})\.\d{1,3}\b")


class NoFreeAddress(RuntimeError):
    pass


def allocate(used: Iterable[int], count: int, limit: int = MAX_INDEX) -> list[int]:
    """The `count` lowest indexes in 1..limit not in `used`."""
    if count < 1:
        raise ValueError(f"hosts = {count!r}: must be at least 1")
    taken = set(used)
    free = [i for i in range(1, limit + 1) if i not in taken]
    if len(free) < count:
        raise NoFreeAddress(
            f"only {len(free)} of 10.200.1-{limit}.0/30 are free, {count} needed: "
            "`wsready sandbox down --all` removes stale hosts"
        )
    return free[:count]


def indexes_in(netns: Iterable[str], links: Iterable[str], addresses: str) -> set[int]:
    """Indexes already in use according to netns names, link names and `ip addr` output."""
    used = {i for n in netns if (i := sandbox_state.index_of(n)) is not None}
    used |= {i for link in links if (i := sandbox_state.index_of(link.removeprefix("v")))}
    used |= {int(m.group(1)) for m in _ADDRESS.finditer(addresses)}
    return used


def netns_names() -> list[str]:
    """Every network namespace `ip netns` knows (anyone's)."""
    netns_dir = Path("/run/netns")
    return [entry.name for entry in netns_dir.iterdir()] if netns_dir.is_dir() else []


def host_netns_names() -> list[str]:
    """The namespaces of sandbox hosts (`wsr-N`), not the LAN's."""
    return [name for name in netns_names() if sandbox_state.index_of(name) is not None]


def used_indexes() -> set[int]:
    netns = netns_names()
    links = [
        line.split(":")[1].strip().split("@")[0]
        for line in _ip("-o", "link", "show").splitlines()
        if line.count(":") >= 2
    ]
    names = sandbox_state.known_names()
    return indexes_in([*netns, *names], links, _ip("-o", "addr", "show"))


@contextmanager
def allocation_lock() -> Iterator[None]:
    """Exclusive across processes: hold it from scanning until the netns exists."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def create(state: sandbox_state.HostState) -> None:
    """The netns with eth0 inside and the host side of the veth, all up."""
    ns, veth = state.netns, state.veth
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _sysctl(f"net/ipv6/conf/{veth}/disable_ipv6", "1")
        _sysctl(f"net/ipv4/conf/{veth}/forwarding", "0")
        _ip("addr", "add", f"{state.gateway}/30", "dev", veth)
        _ip("link", "set", veth, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "addr", "add", f"{state.address}/30", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "route", "add", "default", "via", state.gateway)
        _plug_into_lan(state)
    except BaseException:
        delete(state)
        raise


def _plug_into_lan(state: sandbox_state.HostState) -> None:
    """`eth1` inside the host, its peer a port of the LAN bridge (call it holding the lock)."""
    if not Path(f"/run/netns/{LAN_NETNS}").exists():
        _ip("netns", "add", LAN_NETNS)
        _ip("-n", LAN_NETNS, "link", "add", LAN_BRIDGE, "type", "bridge")
        _ip("-n", LAN_NETNS, "link", "set", LAN_BRIDGE, "up")
    port = f"p{state.name}"
    _ip("-n", state.netns, "link", "add", "eth1", "type", "veth", "peer", "name", port,
        "netns", LAN_NETNS)  # fmt: skip
    _ip("-n", LAN_NETNS, "link", "set", port, "master", LAN_BRIDGE, "up")
    _ip("-n", state.netns, "addr", "add", f"{state.lan_address}/{LAN_PREFIX_LENGTH}",
        "dev", "eth1")  # fmt: skip
    _ip("-n", state.netns, "link", "set", "eth1", "up")


def lan_ports() -> list[str]:
    """Names of the LAN bridge's ports (one per sandbox host), [] without a LAN."""
    if not Path(f"/run/netns/{LAN_NETNS}").exists():
        return []
    out = _ip("-n", LAN_NETNS, "-o", "link", "show", "master", LAN_BRIDGE)
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def remove_lan_if_unused() -> None:
    """Delete the LAN namespace once no sandbox host namespace is left (hold the lock)."""
    if LAN_NETNS in netns_names() and not host_netns_names():
        _ip("netns", "del", LAN_NETNS)


def delete(state: sandbox_state.HostState) -> None:
    """Remove the veth and the netns when they exist (deleting either end removes both; the
    netns takes `eth1` and its LAN port with it)."""
    if Path(f"/sys/class/net/{state.veth}").exists():
        _ip("link", "del", state.veth)
    if Path(f"/run/netns/{state.netns}").exists():
        _ip("netns", "del", state.netns)


def tidy_netns_dir() -> None:
    """Undo what the first `ip netns add` did to /run/netns once no namespace is left in it.

    iproute2 bind-mounts /run/netns onto itself (to make it a shared mount); left behind, that
    mount would outlive the sandbox. Call it holding `allocation_lock()`.
    """
    netns_dir = Path("/run/netns")
    if not netns_dir.is_dir() or any(netns_dir.iterdir()):
        return
    if os.path.ismount(netns_dir):
        subprocess.run(["umount", str(netns_dir)], check=False, capture_output=True)
    if not os.path.ismount(netns_dir):
        with contextlib.suppress(OSError):
            netns_dir.rmdir()


def _sysctl(key: str, value: str) -> None:
    Path("/proc/sys", key).write_text(value)


def _ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout
