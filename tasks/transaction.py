"""One deploy = one transaction per host: what it changes is put back when its probes fail.

Every operation that changes a live file (the app's environment file and units, the release
link, nginx.conf and the site, TLS files, firewall rules) first records the file as it was
into this run's transaction directory on the host, `/etc/wsready/transaction/<run>/` (root
only): a copy under `files/<path>`, or a marker under `absent/<path>` when it did not exist,
once per path and run. The app's active units are noted in `units` before the first app
change, and each concern that changed is tagged in `actions` (app, nginx, firewall).

After the probes, `tasks/verify.py` either commits (removes the transaction directories) or
rolls back with `wsready-rollback` (files/rollback/wsready-rollback.sh): every pending
transaction, newest first, so a run killed before its verify is undone too; then the units
that were active are restarted, nginx reloaded, the firewall reloaded. Packages, the
kernel settings and the release directories themselves are not rolled back (docs/deploy.md).
A run that changes nothing records nothing.
"""

from __future__ import annotations

import os
import shlex
import time
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.api.command import FileUploadCommand, StringCommand
from pyinfra.api.util import get_file_sha1
from pyinfra.facts.files import File, Sha1File
from pyinfra.operations import files

ROOT = Path(__file__).resolve().parent.parent
ROLLBACK_SCRIPT = ROOT / "files" / "rollback" / "wsready-rollback.sh"
ROLLBACK = "/usr/local/sbin/wsready-rollback"
TRANSACTIONS = "/etc/wsready/transaction"
# One id for the whole run (all hosts): sortable, so the newest transaction rolls back first.
RUN_ID = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}"
ACTIONS = ("app", "nginx", "firewall")


def run_dir(run_id: str = RUN_ID) -> str:
    return f"{TRANSACTIONS}/{run_id}"


def save_command(paths: list[str] | tuple[str, ...], action: str, run_id: str = RUN_ID) -> str:
    """Shell: record each of `paths` as it is now (once per run), tag `action`."""
    if action not in ACTIONS:
        raise ValueError(f"unknown transaction action {action!r}")
    d = shlex.quote(run_dir(run_id))
    steps = [f"mkdir -p -m 0700 {d}", f"echo {action} >> {d}/actions"]
    for path in paths:
        # wsready-rollback walks the saved tree with `find` and word splitting.
        if not path.startswith("/") or any(char.isspace() for char in path):
            raise ValueError(f"not an absolute path without whitespace: {path!r}")
        p = shlex.quote(path)
        saved, absent = shlex.quote(f"files{path}"), shlex.quote(f"absent{path}")
        steps.append(
            f"{{ [ -e {d}/{saved} ] || [ -L {d}/{saved} ] || [ -e {d}/{absent} ] || "
            f'if [ -e {p} ] || [ -L {p} ]; then mkdir -p "$(dirname {d}/{saved})" && '
            f'cp -a {p} {d}/{saved}; else mkdir -p "$(dirname {d}/{absent})" && '
            f"touch {d}/{absent}; fi; }}"
        )
    return " && ".join(steps)


def units_command(app_name: str, run_id: str = RUN_ID) -> str:
    """Shell: note the app's active units (once per run) for the rollback to restart."""
    d = shlex.quote(run_dir(run_id))
    patterns = " ".join(shlex.quote(p) for p in (f"{app_name}@*.service", f"{app_name}.service"))
    return (
        f"mkdir -p -m 0700 {d} && {{ [ -e {d}/units ] || systemctl list-units --plain "
        f"--no-legend --state=active {patterns} | awk '{{print $1}}' > {d}/units; }}"
    )


def rollback_command(app_name: str) -> str:
    """Shell: undo every pending transaction on the host, newest first."""
    return f"{ROLLBACK} {shlex.quote(TRANSACTIONS)} {shlex.quote(app_name)}"


def commit_command() -> str:
    """Shell: the run's changes are proven: forget every pending transaction."""
    return f"rm -rf {shlex.quote(TRANSACTIONS)}"


@operation()
def managed_file(
    content: str, dest: str, user: str, group: str, mode: str = "600", action: str | None = None
):
    """Upload `content` to `dest` like files.put, but never show it (`pyinfra --diff` prints
    files.put changes line by line; these files may hold secrets). With `action`, the file
    as it was is first recorded in the run's transaction (see the module docstring)."""
    remote = host.get_fact(File, path=dest)
    content_changes = not remote or host.get_fact(Sha1File, path=dest) != get_file_sha1(
        StringIO(content)
    )
    owner_changes = not remote or remote.get("user") != user or remote.get("group") != group
    mode_changes = not remote or remote.get("mode") != int(mode)
    if not (content_changes or owner_changes or mode_changes):
        host.noop(f"{dest} is up to date")
        return
    if action:
        yield save_command([dest], action)
    if not remote:
        # A new file gets its mode before its content: the upload then writes into a file no
        # one else may read (sftp would create it 0644 for a moment).
        yield StringCommand("install", "-m", mode, "/dev/null", shlex.quote(dest))
    if content_changes:
        yield FileUploadCommand(
            StringIO(content), dest, remote_temp_filename=host.get_temp_filename(dest)
        )
    if owner_changes:
        yield StringCommand("chown", f"{user}:{group}", shlex.quote(dest))
    if mode_changes:
        yield StringCommand("chmod", mode, shlex.quote(dest))


@deploy("Install the transaction rollback script")
def install_rollback() -> None:
    files.put(
        name="Install the script that puts a failed deploy's changes back.",
        src=str(ROLLBACK_SCRIPT),
        dest=ROLLBACK,
        user="root",
        group="root",
        mode="0755",
    )
