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

import shlex
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.api.command import FileUploadCommand, StringCommand
from pyinfra.api.util import get_file_sha1
from pyinfra.facts.files import File, Sha1File

from wsready.deploy.shapes import put_file
from wsready.deploy.transaction import (  # noqa: F401 (the builders, used as transaction.*)
    ACTIONS,
    ROLLBACK,
    RUN_ID,
    TRANSACTIONS,
    commit_command,
    rollback_command,
    run_dir,
    save_command,
    units_command,
)

ROOT = Path(__file__).resolve().parent.parent
ROLLBACK_SCRIPT = ROOT / "files" / "rollback" / "wsready-rollback.sh"


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
    put_file(
        "Install the script that puts a failed deploy's changes back.",
        ROLLBACK_SCRIPT,
        ROLLBACK,
        mode="0755",
    )
