"""Can this machine run sandbox hosts? One clear line saying what is missing."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable

from wsready.errors import Unreachable

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


def require() -> None:
    reason = missing_prerequisite()
    if reason:
        raise SandboxUnavailable(reason)
