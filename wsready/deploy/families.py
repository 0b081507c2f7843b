"""What differs between the OS families and releases the deploy supports, as tables tasks/
and the preflight look up.

An OS family is named by what the deploy found on the host: "debian" (apt-get) or "rhel"
(dnf) for nginx's own files. A release is one row of RELEASES, found from the host's
/etc/os-release (`ID`, `VERSION_ID`: pyinfra's LinuxDistribution fact at deploy time, the
file itself when onboarding); a host whose release has no row is refused by the preflight
before any change (tasks/preflight.py) and by `wsready onboard`.

What does NOT differ between Debian 12 and 13, checked on sandbox hosts of both
(docs/releases.md): the package names (nginx, redis-server — real Redis on both, 7.0 and
8.0 —, certbot, ufw, openssl), their units (nginx.service, redis-server.service,
certbot.timer) and paths, ufw's files (it drives iptables' nft backend on both), and apt's
proxy setting (an apt.conf.d file: one-line and deb822 sources both honour it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# What differs between the distributions' own nginx.conf files (files/nginx/nginx.conf.j2).
NGINX_MAIN_BY_FAMILY = {
    "debian": {
        "user": "www-data",
        "modules_include": "/etc/nginx/modules-enabled/*.conf",
        "sites_include": "/etc/nginx/sites-enabled/*",
    },
    "rhel": {
        "user": "nginx",
        "modules_include": "/usr/share/nginx/modules/*.conf",
        "sites_include": None,
    },
}

# The host firewall each family gets with `firewall_backend = "auto"` (tasks/firewall.py);
# the families whose package manager installs ufw.
FIREWALL_BY_FAMILY = {"debian": "ufw", "rhel": "nftables"}
UFW_FAMILIES = frozenset({"debian"})


def firewall_backend(setting: str, family: str) -> str:
    """ "ufw" or "nftables" for `firewall_backend` on a host of `family`; ValueError for ufw
    where the package manager has none."""
    backend = FIREWALL_BY_FAMILY[family] if setting == "auto" else setting
    if backend == "ufw" and family not in UFW_FAMILIES:
        raise ValueError(
            f'firewall_backend = "ufw": this host has no apt-get (family {family!r}); '
            'use "nftables" or "auto"'
        )
    return backend


# How the TLS server turns HTTP/2 on: `listen … ssl http2` (nginx before 1.25.1), or the
# `http2 on;` directive (1.25.1 onwards, where the listen parameter is deprecated and
# `nginx -t` warns about it).
HTTP2_LISTEN = "listen"
HTTP2_DIRECTIVE = "directive"


@dataclass(frozen=True)
class Release:
    """One OS release the deploy supports and what differs on it."""

    os_id: str  # /etc/os-release ID
    version_id: str  # /etc/os-release VERSION_ID
    name: str
    family: str  # a key of NGINX_MAIN_BY_FAMILY
    nginx_http2: str = HTTP2_LISTEN
    # Major.minor of what the full e2e deploy ran on sandbox hosts of this release
    # (tests/e2e/test_releases.py reads them off the hosts); empty: not proven on real hosts.
    # "python" is the distribution's python3, which the monitor's virtual environment runs:
    # a wheelhouse (monitor_wheelhouse) must hold wheels for it.
    proven_versions: Mapping[str, str] = field(default_factory=dict)

    @property
    def proven(self) -> bool:
        return bool(self.proven_versions)


RELEASES: tuple[Release, ...] = (
    Release("debian", "11", "Debian 11 (bullseye)", "debian"),
    Release(
        "debian",
        "12",
        "Debian 12 (bookworm)",
        "debian",
        proven_versions={"nginx": "1.22", "redis": "7.0", "systemd": "252", "python": "3.11"},
    ),
    Release(
        "debian",
        "13",
        "Debian 13 (trixie)",
        "debian",
        nginx_http2=HTTP2_DIRECTIVE,
        proven_versions={"nginx": "1.26", "redis": "8.0", "systemd": "257", "python": "3.13"},
    ),
    Release("ubuntu", "22.04", "Ubuntu 22.04", "debian"),
    Release("ubuntu", "24.04", "Ubuntu 24.04", "debian"),
    Release("amzn", "2023", "Amazon Linux 2023", "rhel"),
)
_BY_ID = {(r.os_id, r.version_id): r for r in RELEASES}
SUPPORTED = ", ".join(r.name for r in RELEASES)


class UnsupportedRelease(ValueError):
    """The host runs an OS release without a row in RELEASES; the message names it."""


def release(os_id: str, version_id: str, pretty: str = "") -> Release:
    """The row for /etc/os-release's ID and VERSION_ID, else UnsupportedRelease naming it."""
    found = _BY_ID.get((os_id.strip().lower(), version_id.strip()))
    if found is None:
        named = pretty or f"{os_id or 'an unknown OS'} {version_id or '(no VERSION_ID)'}"
        raise UnsupportedRelease(f"{named.strip()} is not supported (supported: {SUPPORTED})")
    return found


# pyinfra's LinuxDistribution names, for a fact without os-release's ID and VERSION_ID
_ID_OF_NAME = {"Debian": "debian", "Ubuntu": "ubuntu", "Amazon Linux": "amzn"}


def release_of_distribution(distro: Mapping[str, Any]) -> Release:
    """The row for pyinfra's LinuxDistribution fact: its release_meta is /etc/os-release;
    without ID and VERSION_ID there, its name and major(.minor) version."""
    meta = distro.get("release_meta") or {}
    name, major, minor = distro.get("name"), distro.get("major"), distro.get("minor")
    os_id, version_id = str(meta.get("ID", "")), str(meta.get("VERSION_ID", ""))
    if not (os_id and version_id) and name and major is not None:
        os_id = _ID_OF_NAME.get(name, str(name).lower())
        version_id = str(major) if os_id != "ubuntu" else f"{major}.{minor or 0:02d}"
    pretty = meta.get("PRETTY_NAME") or " ".join(str(p) for p in (name, major) if p)
    return release(os_id, version_id, pretty)
