"""What already holds the names and places a deploy of the app would take (see
wsready/deploy/claims.py, which judges the answer)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
WSREADY_HEADER = "Written by wsready"  # the first line of every file the deploy renders


class SystemClaims(FactBase):
    """
    Returns what exists of the app's user and group, ``/etc/<app_name>``, its units and
    ``app_dir``, and whether wsready wrote it:

    .. code:: python

        {
            "passwd": "wsready:x:998:998:wsready app user:/opt/wsready-app:/usr/sbin/nologin",
            "group": "wsready:x:998:",
            "etc": "wsready",          # absent: None; "empty"; "wsready"; "other"
            "units": {"/etc/systemd/system/wsready-app.target": "wsready"},
            "app_dir": "wsready",      # absent: None; "empty"; "wsready"; "other"
        }
    """

    default = dict

    def command(self, app_name: str, user: str, app_dir: str) -> str:
        q = shlex.quote
        etc = f"/etc/{app_name}"
        units = [
            f"{directory}/{app_name}{suffix}"
            for directory in UNIT_DIRS
            for suffix in ("@.service", ".service", ".target")
        ]
        judge = (
            'judge() { if [ ! -e "$1" ] && [ ! -L "$1" ]; then return; fi;'
            ' if [ -d "$1" ] && [ -z "$(ls -A "$1" 2>/dev/null)" ]; then echo empty;'
            f' elif [ -n "$2" ] && head -n 1 "$2" 2>/dev/null | grep -q {q(WSREADY_HEADER)};'
            " then echo wsready; else echo other; fi; }"
        )
        steps = [
            judge,
            f'echo "passwd $(getent passwd {q(user)})"',
            f'echo "group $(getent group {q(user)})"',
            f'echo "etc $(judge {q(etc)} {q(etc + "/env")})"',
            f'echo "app_dir $(judge {q(app_dir)} {q(app_dir)}/releases)"',
            f"[ -d {q(app_dir + '/releases')} ] && echo 'app_dir_releases yes'",
        ]
        steps += [f'echo "unit {unit} $(judge {q(unit)} {q(unit)})"' for unit in units]
        return "; ".join(steps) + "; true"

    def process(self, output):
        claims: dict = {"passwd": "", "group": "", "etc": None, "app_dir": None, "units": {}}
        releases = False
        for line in output:
            kind, _, rest = line.strip().partition(" ")
            if kind in ("passwd", "group"):
                claims[kind] = rest
            elif kind in ("etc", "app_dir"):
                claims[kind] = rest or None
            elif kind == "app_dir_releases":
                releases = True
            elif kind == "unit":
                path, _, state = rest.partition(" ")
                if state:
                    claims["units"][path] = state
        if releases and claims["app_dir"] == "other":
            claims["app_dir"] = "wsready"  # an app_dir with releases/ is one wsready made
        return claims
