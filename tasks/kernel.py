"""Kernel settings for many concurrent connections (`kernel_sysctls`).

Written to /etc/sysctl.d/60-wsready.conf (so they hold after a reboot) and applied now with
`sysctl -p` when a value differs. Where /proc/sys is read-only (a container), applying is
skipped with a one-line notice: the host's own settings apply there.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from wsready.deploy.operations import kernel
from wsready.deploy.plan import host_plan
from wsready.deploy.shapes import put_text
from wsready.validate import ConfigError

SYSCTL_FILE = "/etc/sysctl.d/60-wsready.conf"


def render(sysctls: dict) -> str:
    lines = ["# Managed by wsready (tasks/kernel.py, data key kernel_sysctls)."]
    for name, value in sysctls.items():
        text = str(value)
        if any(char in text + name for char in "\n\r=#"):
            raise ConfigError(f"kernel_sysctls[{name!r}]", value, "must be one line")
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"


@deploy("Tune the kernel for many connections")
def tune_kernel() -> None:
    sysctls = dict(host_plan().data.kernel_sysctls)
    if not sysctls:
        host.noop("kernel_sysctls is empty: the kernel is left alone")
        return
    put_text(f"Write {SYSCTL_FILE}.", render(sysctls), SYSCTL_FILE)
    kernel.apply_sysctls(
        name=f"Apply {SYSCTL_FILE} where the kernel allows it.", path=SYSCTL_FILE, sysctls=sysctls
    )
