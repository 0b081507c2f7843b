"""Can this machine run sandbox hosts? One clear line saying what is missing."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable

from wsready.errors import Unreachable

# root's own PATH directories: debootstrap, ip and iptables live there, and a shell started
# with a bare PATH (cron, `env -i`, a non-login sudo) may not list them.
ROOT_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")

# Command -> the Debian package that provides it.
REQUIRED_COMMANDS: dict[str, str] = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "tinyproxy": "tinyproxy",
    "zstd": "zstd",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


class SandboxUnavailable(Unreachable, RuntimeError):
    """This machine cannot run sandbox hosts; the message says what to do."""

    prefixed = False  # the message names `wsready sandbox` itself


def missing_prerequisite(
    platform: str = sys.platform,
    euid: int | None = None,
    which: Callable[[str], str | None] | None = None,
) -> str | None:
    """The reason sandbox hosts cannot run here, or None when everything is in place."""
    which = which or shutil.which
    if not platform.startswith("linux"):
        return f"wsready sandbox needs Linux with systemd-nspawn (this is {platform})"
    if euid is None:
        euid = os.geteuid()
    if euid != 0:
        return "wsready sandbox needs root (network namespaces, systemd-nspawn): run it as root"
    missing = [cmd for cmd in REQUIRED_COMMANDS if which(cmd) is None]
    if missing:
        packages = " ".join(dict.fromkeys(REQUIRED_COMMANDS[cmd] for cmd in missing))
        return f"wsready sandbox needs {', '.join(missing)}: apt-get install {packages}"
    return None


def with_sbin(path: str) -> str:
    """`path` (a PATH value) with root's sbin directories appended where missing."""
    listed = [entry for entry in path.split(os.pathsep) if entry]
    return os.pathsep.join(listed + [d for d in ROOT_SBIN if d not in listed])


def require() -> None:
    """Raise SandboxUnavailable unless sandbox hosts can run here. Sandbox commands run as
    root, so this process (and every command it starts) gets root's sbin directories."""
    os.environ["PATH"] = with_sbin(os.environ.get("PATH", ""))
    reason = missing_prerequisite()
    if reason:
        raise SandboxUnavailable(reason)
