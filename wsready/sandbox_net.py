"""Network namespaces for sandbox hosts: one netns + veth /30 per host, 10.200.X.0/30.

Host side `vwsr-X` = 10.200.X.1/30, inside `eth0` = 10.200.X.2/30 with the default route via
.1. The host side neither forwards nor speaks IPv6, so the only thing the sandbox can reach is
the host machine itself (its proxy on 10.200.X.1): no NAT and no firewall rule is needed.

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

from wsready import sandbox_state

MAX_INDEX = 250
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


def used_indexes() -> set[int]:
    netns_dir = Path("/run/netns")
    netns = [p.name for p in netns_dir.iterdir()] if netns_dir.is_dir() else []
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
    except BaseException:
        delete(state)
        raise


def delete(state: sandbox_state.HostState) -> None:
    """Remove the veth and the netns when they exist (deleting either end removes both)."""
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
