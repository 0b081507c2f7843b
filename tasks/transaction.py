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

from pathlib import Path

from pyinfra.api import deploy

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


@deploy("Install the transaction rollback script")
def install_rollback() -> None:
    put_file(
        "Install the script that puts a failed deploy's changes back.",
        ROLLBACK_SCRIPT,
        ROLLBACK,
        mode="0755",
    )
