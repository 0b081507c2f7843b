"""The run's transaction on a host, as shell: record what a change replaces, note active units.

What an operation changes that the verify step may have to put back is first recorded with
`save_command` into `/etc/wsready/transaction/<run>/` (root only); tasks/transaction.py
(managed files, the rollback script) and tasks/verify.py (commit or roll back) use the same
layout. See tasks/transaction.py for the whole story.
"""

from __future__ import annotations

import os
import shlex
import time

TRANSACTIONS = "/etc/wsready/transaction"
ROLLBACK = "/usr/local/sbin/wsready-rollback"  # files/rollback/wsready-rollback.sh
# One id for the whole run (all hosts): sortable, so the newest transaction rolls back first.
RUN_ID = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}"
ACTIONS = ("app", "nginx", "nginx-unit", "firewall")  # nginx-unit: its drop-in (restart)


def run_dir(run_id: str | None = None) -> str:
    """The transaction directory of run `run_id` (this run's by default)."""
    return f"{TRANSACTIONS}/{run_id or RUN_ID}"


def save_command(paths: list[str] | tuple[str, ...], action: str, run_id: str | None = None) -> str:
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


def save_directories_command(
    paths: list[str] | tuple[str, ...], action: str, run_id: str | None = None
) -> str:
    """Shell: record each directory of `paths` as it is now, once per run, into the run's
    `dirs` (`MODE UID GID PATH`, or `absent - - PATH`): wsready-rollback puts mode and owner
    back (a directory that was absent is removed when it is empty again)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown transaction action {action!r}")
    d = shlex.quote(run_dir(run_id))
    steps = [f"mkdir -p -m 0700 {d}", f"echo {action} >> {d}/actions", f"touch {d}/dirs"]
    for path in paths:
        if not path.startswith("/") or any(char.isspace() for char in path):
            raise ValueError(f"not an absolute path without whitespace: {path!r}")
        p = shlex.quote(path)
        steps.append(
            f"{{ awk -v p={p} '$4 == p {{ found = 1 }} END {{ exit !found }}' {d}/dirs || "
            f"if [ -d {p} ] && [ ! -L {p} ]; then echo \"$(stat -c '%a %u %g' {p}) {path}\" "
            f">> {d}/dirs; else echo 'absent - - {path}' >> {d}/dirs; fi; }}"
        )
    return " && ".join(steps)


def units_command(app_name: str, run_id: str | None = None) -> str:
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
