"""One system account, read alone: pyinfra's `server.Users` lists every user of the host,
each with a few commands (lastlog, id, /etc/shadow), which is most of a no-change deploy's
time on a small host; an account's password hash is not needed to judge it."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class SystemUser(FactBase):
    """
    Returns the account ``user`` (its passwd entry and its primary group's name), or
    ``None`` when there is none:

    .. code:: python

        {"comment": "wsready app user", "home": "/opt/wsready-app",
         "shell": "/usr/sbin/nologin", "group": "wsready"}
    """

    def command(self, user: str) -> str:
        q = shlex.quote(user)
        return f'getent passwd {q} || true; echo "group $(id -gn {q} 2>/dev/null)"'

    def process(self, output: list[str]) -> dict | None:
        entry = next((line for line in output if line.count(":") >= 6), None)
        if entry is None:
            return None
        _name, _pw, _uid, _gid, comment, home, shell = entry.split(":", 6)
        group = next((line[6:] for line in output if line.startswith("group ")), "")
        return {"comment": comment, "home": home, "shell": shell, "group": group}
