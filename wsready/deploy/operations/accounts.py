"""
The app's system account.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from wsready.deploy.facts.accounts import SystemUser


@operation()
def system_user(user: str, group: str, home: str, shell: str, comment: str):
    """
    A system account without a home directory created for it (``useradd -r -M``), or the
    account's home, shell, primary group and comment set where they differ (``usermod``):
    the commands pyinfra's ``server.user`` gives for these arguments, read from the one
    account instead of every user of the host.

    + user: the account's name
    + group: its primary group (it must exist: e.g. ``server.group`` before)
    + home: its home directory (not created)
    + shell: its login shell (``/usr/sbin/nologin`` for a service account)
    + comment: its GECOS comment

    **Example:**

    .. code:: python

        accounts.system_user(
            name="Create the system user wsready (no login shell).",
            user="wsready",
            group="wsready",
            home="/opt/wsready-app",
            shell="/usr/sbin/nologin",
            comment="wsready app user",
        )
    """
    existing = host.get_fact(SystemUser, user=user)
    if existing is None:
        yield StringCommand(
            "useradd", "-d", QuoteString(home), "-s", QuoteString(shell), "-g",
            QuoteString(group), "-r", "-c", QuoteString(comment), "-M", QuoteString(user),
        )  # fmt: skip
        return
    changes: list = []
    for flag, wanted, field in (
        ("-d", home, "home"),
        ("-s", shell, "shell"),
        ("-g", group, "group"),
        ("-c", comment, "comment"),
    ):
        if existing[field] != wanted:
            changes += [flag, QuoteString(wanted)]
    if not changes:
        host.noop(f"the system user {user} exists ({home}, {shell}, group {group})")
        return
    yield StringCommand("usermod", *changes, QuoteString(user))
