"""nginx sandboxed by systemd: a drop-in for the distribution's nginx.service.

With `nginx_hardening` (the default), `DROPIN` (files/systemd/nginx-hardening.conf.j2) gives
nginx a read-only system with write access to its logs, temporary files and pid file only,
five capabilities, filtered syscalls and address families, and the kernel, clock, hostname
and other processes out of reach (docs/security.md lists each line and why). Off: the
drop-in is removed.

Sandboxing applies when a process starts, so a change of the drop-in restarts nginx (open
connections are dropped, once); `STAMP` records the drop-in nginx was started with, so a
run killed before the restart is finished by the next. The drop-in and the stamp are
recorded in the run's transaction: a drop-in that keeps nginx from starting fails the
verify step, which puts the previous one back and restarts nginx
(files/rollback/wsready-rollback.sh).
"""

from __future__ import annotations

from pathlib import Path

from pyinfra.api import deploy
from pyinfra.api.util import get_template

from wsready.deploy import families
from wsready.deploy.operations import nginx as nginx_op
from wsready.deploy.plan import host_plan
from wsready.deploy.shapes import ACTIVATION
from wsready.hostdata import HostConfig

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "files" / "systemd" / "nginx-hardening.conf.j2"
DROPIN = "/etc/systemd/system/nginx.service.d/wsready-hardening.conf"
STAMP = "/etc/wsready/nginx/unit.sha256"
# What nginx writes: its logs, its temporary files (client bodies, proxy buffers) and, in
# /run, its pid file (Debian's and RHEL's unit both expect /run/nginx.pid).
READ_WRITE_PATHS = ("/var/log/nginx", "/var/lib/nginx", "/run")


def render_dropin(family: str) -> str:
    """The drop-in for an nginx of OS `family` ("debian" or "rhel")."""
    return get_template(str(TEMPLATE)).render(
        read_write_paths=READ_WRITE_PATHS, user=families.FAMILIES[family].nginx_user
    )


def planned_dropin(data: HostConfig, family: str) -> str | None:
    """The drop-in this host's data asks for; None: no drop-in."""
    return render_dropin(family) if data.nginx_hardening else None


@deploy("Sandbox nginx")
def harden_nginx() -> None:
    plan = host_plan()
    content = planned_dropin(plan.data, plan.family.name)
    nginx_op.unit_dropin(
        name=(
            f"Sandbox nginx with its systemd drop-in {DROPIN} (restart nginx when it changed)."
            if content
            else f"Run nginx without the sandbox of {DROPIN} (restart nginx when removed)."
        ),
        path=DROPIN,
        content=content,
        stamp=STAMP,
        **ACTIVATION,
    )
