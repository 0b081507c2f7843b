"""What differs between the OS families and releases the deploy supports, as data: the one
place a per-OS choice is made.

A release is one row of RELEASES, found from the host's /etc/os-release (`ID`,
`VERSION_ID`: pyinfra's LinuxDistribution fact at deploy time, the file itself when
onboarding); a host whose release has no row is refused by the preflight before any change
(tasks/preflight.py) and by `wsready onboard`. Each row names its Family ("debian": apt,
"rhel": dnf), which holds the package names, nginx's own files and the firewall of that
family; the per-host plan (wsready/deploy/plan.py) reads the row once and every task takes
its choices from it.

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


@dataclass(frozen=True)
class Family:
    """What the deploy does differently on one OS family, as data (Ansible's
    vars/<Family>.yml): its package manager and package names, nginx's own files, the host
    firewall, and what wsready installs there only through apt."""

    name: str  # "debian" or "rhel": the vocabulary of every per-family choice
    package_manager: str  # "apt" or "dnf"
    nginx_user: str  # nginx.conf's `user`, owner of its workers
    nginx_modules_include: str
    nginx_sites_include: str | None
    firewall: str  # the host firewall with `firewall_backend = "auto"` (tasks/firewall.py)
    has_ufw: bool  # the package manager installs ufw
    # What the deploy installs from the distribution for each need; () = nothing to install
    # (the OS has it), None = not on this family (a step that needs it is refused by name).
    packages: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)

    @property
    def apt(self) -> bool:
        return self.package_manager == "apt"

    def nginx_main(self) -> dict[str, str | None]:
        """nginx.conf's per-family values (files/nginx/nginx.conf.j2)."""
        return {
            "user": self.nginx_user,
            "modules_include": self.nginx_modules_include,
            "sites_include": self.nginx_sites_include,
        }

    def firewall_backend(self, setting: str) -> str:
        """ "ufw" or "nftables" for `firewall_backend`; ValueError for ufw where the package
        manager has none."""
        backend = self.firewall if setting == "auto" else setting
        if backend == "ufw" and not self.has_ufw:
            raise ValueError(
                f'firewall_backend = "ufw": this host has no apt-get (family {self.name!r}); '
                'use "nftables" or "auto"'
            )
        return backend


DEBIAN = Family(
    name="debian",
    package_manager="apt",
    nginx_user="www-data",
    nginx_modules_include="/etc/nginx/modules-enabled/*.conf",
    nginx_sites_include="/etc/nginx/sites-enabled/*",
    firewall="ufw",
    has_ufw=True,
    packages={
        "nginx": ("nginx",),
        "nftables": ("nftables",),
        "ufw": ("ufw",),
        "openssl": ("openssl",),
        "certbot": ("certbot", "openssl"),
        "redis": ("redis-server",),
        "monitor": ("python3", "python3-venv", "ca-certificates"),
    },
)
RHEL = Family(
    name="rhel",
    package_manager="dnf",
    nginx_user="nginx",
    nginx_modules_include="/usr/share/nginx/modules/*.conf",
    nginx_sites_include=None,
    firewall="nftables",
    has_ufw=False,
    packages={
        "nginx": ("nginx",),
        "nftables": ("nftables",),
        "ufw": None,
        "openssl": (),  # in the base system
        "certbot": (),  # brought by the operator (docs/tls.md)
        "redis": None,
        "monitor": None,
    },
)
FAMILIES: dict[str, Family] = {family.name: family for family in (DEBIAN, RHEL)}


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
    family_name: str  # a key of FAMILIES
    nginx_http2: str = HTTP2_LISTEN
    # Major.minor of what the full e2e deploy ran on sandbox hosts of this release
    # (tests/e2e/test_releases.py reads them off the hosts); empty: not proven on real hosts.
    # "python" is the distribution's python3, which the monitor's virtual environment runs:
    # a wheelhouse (monitor_wheelhouse) must hold wheels for it.
    proven_versions: Mapping[str, str] = field(default_factory=dict)

    @property
    def proven(self) -> bool:
        return bool(self.proven_versions)

    @property
    def family(self) -> Family:
        return FAMILIES[self.family_name]


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
