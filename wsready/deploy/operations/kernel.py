"""
Apply kernel settings (sysctl) where the kernel lets the host change them.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.server import Command

WRITABLE = "[ -w /proc/sys/net/core/somaxconn ] && echo writable || echo read-only"


def _normal(value) -> str:
    return " ".join(str(value).split())


@operation()
def apply_sysctls(path: str, sysctls: dict):
    """
    Load the sysctl file ``path`` (``sysctl -p``) when a running value differs from
    ``sysctls``, if /proc/sys is writable; where it is read-only (a container), say so and
    leave the host's own settings.

    + path: the sysctl.d file that holds ``sysctls`` (written before, e.g. by files.put)
    + sysctls: ``{name: value}`` as the file sets them (whitespace inside values is not
      significant: the kernel prints tabs)

    **Example:**

    .. code:: python

        kernel.apply_sysctls(
            name="Apply /etc/sysctl.d/60-wsready.conf.",
            path="/etc/sysctl.d/60-wsready.conf",
            sysctls={"net.core.somaxconn": 4096},
        )
    """
    names = " ".join(sysctls)
    current = host.get_fact(Command, command=f"sysctl -n {names} 2>/dev/null; true") or ""
    running = [_normal(line) for line in current.splitlines()]
    wanted = [_normal(value) for value in sysctls.values()]
    if running == wanted:
        host.noop(f"the kernel already runs the {len(sysctls)} settings of {path}")
        return
    if (host.get_fact(Command, command=WRITABLE) or "").strip() != "writable":
        host.noop(
            f"/proc/sys is read-only here (a container): {path} is not applied; the host's "
            "own kernel settings hold"
        )
        return
    yield f"sysctl -q -p {path}"
