"""What belongs to the host's system, and the settings that would weaken it.

`SYSTEM_NAMES` are the names a Debian host already uses (systemd unit stems, /etc entries,
users and groups), read from `system_names.txt`, which `scripts/system-names` writes from
a real Debian 12 host (the sandbox image and a deployed sandbox host). app_name becomes
`/etc/<app_name>`, `<app_name>@.service` and `<app_name>.target`, app_user a user and a
group: a system name there would take over the system's own (`default` is default.target,
`ssh` is /etc/ssh). What other packages add on a given host is refused at deploy time from
a fact (wsready/deploy/claims.py).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

NAMES_FILE = Path(__file__).with_name("system_names.txt")


def _read_names(path: Path = NAMES_FILE) -> frozenset[str]:
    lines = path.read_text().splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


SYSTEM_NAMES = _read_names()

# Directories directly under app_dir's roots that the distribution owns (the sandbox image's
# /var/lib/* and the packages wsready installs): app_dir is never one of them nor inside one.
_SYSTEM_APP_DIRS = (
    "/var/lib/apt /var/lib/dbus /var/lib/dpkg /var/lib/misc /var/lib/pam /var/lib/private "
    "/var/lib/sudo /var/lib/systemd /var/lib/ucf /var/lib/nginx /var/lib/redis /var/lib/python "
    "/var/lib/ufw /var/lib/polkit-1 /var/lib/sss /var/lib/nfs /var/lib/snapd /var/lib/cloud "
    "/var/lib/docker /var/lib/containerd /var/lib/letsencrypt /var/lib/amazon /opt/aws"
)
SYSTEM_APP_DIRS = frozenset(_SYSTEM_APP_DIRS.split())

# Sysctls that harden the host (docs/security.md): a lower value (or, for _MUST_BE_ZERO, any
# other than 0) weakens it and is refused.
_AT_LEAST = {
    "kernel.kptr_restrict": 1,
    "kernel.dmesg_restrict": 1,
    "kernel.yama.ptrace_scope": 1,
    "kernel.unprivileged_bpf_disabled": 1,
    "kernel.perf_event_paranoid": 2,
    "kernel.randomize_va_space": 2,
    "fs.protected_hardlinks": 1,
    "fs.protected_symlinks": 1,
    "fs.protected_fifos": 1,
    "fs.protected_regular": 1,
    "vm.mmap_min_addr": 65536,
}
_MUST_BE_ZERO = (
    "fs.suid_dumpable",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv6.conf.all.forwarding",
    "net.ipv4.conf.all.accept_redirects",
    "net.ipv4.conf.default.accept_redirects",
    "net.ipv6.conf.all.accept_redirects",
    "net.ipv6.conf.default.accept_redirects",
    "net.ipv4.conf.all.accept_source_route",
    "net.ipv4.conf.default.accept_source_route",
    "net.ipv6.conf.all.accept_source_route",
    "net.ipv4.conf.all.send_redirects",
    "net.ipv4.conf.default.send_redirects",
)
# Never set by wsready at all: they switch off protections or choose what runs as root.
_NEVER = ("kernel.modules_disabled", "kernel.core_pattern", "kernel.core_uses_pid")


def sysctl_weakens(name: str, value: str) -> str | None:
    """Why `name = value` weakens the host, or None. `value` is the sysctl grammar's text."""
    first = int(value.split()[0])
    if name in _AT_LEAST and first < _AT_LEAST[name]:
        return f"weakens the host: {name} must be at least {_AT_LEAST[name]}"
    if name in _MUST_BE_ZERO and first != 0:
        return f"weakens the host: {name} must be 0"
    if name in _NEVER:
        return f"is not a setting wsready writes ({name} belongs to the host's own policy)"
    return None


# Where a trusted proxy may be: the private, shared (CGNAT, used by some VPCs) and loopback
# ranges. A client from a trusted address may claim any address in X-Forwarded-For, and
# the /status ACL trusts private addresses.
PROXY_RANGES = tuple(
    ipaddress.ip_network(text)
    for text in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "fc00::/7",
        "::1/128",
    )
)


def is_private_network(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """`network` lies inside one of PROXY_RANGES."""
    return any(
        network.version == allowed.version and network.subnet_of(allowed)  # type: ignore[arg-type]
        for allowed in PROXY_RANGES
    )
