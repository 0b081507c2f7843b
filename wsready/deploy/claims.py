"""Refuse a deploy whose app would take over what the host already has: a user or group,
`/etc/<app_name>`, a unit or `app_dir` that wsready did not make.

The static lists (wsready/hostdata/system.py) cover a Debian host's own names; this covers
what a given host has besides (other packages, login users such as `admin`), from the fact
wsready/deploy/facts/claims.py, at plan time: before anything changes on any host.

wsready marks what it makes: the app's user carries the comment USER_MARKER (GECOS), and
every file it renders starts with "# Written by wsready". A user of an older wsready (no
comment, home app_dir, shell nologin, a system uid) is taken as wsready's, and gets the
comment on this run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wsready.validate import ConfigError

USER_MARKER = "wsready app user"
NOLOGIN = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false")
SYSTEM_UID_MAX = 999


def _passwd(line: str) -> dict[str, str] | None:
    fields = line.split(":")
    if len(fields) < 7:
        return None
    return dict(zip(("name", "x", "uid", "gid", "gecos", "home", "shell"), fields, strict=False))


def user_is_ours(entry: Mapping[str, str], app_dir: str) -> bool:
    """`entry` (a passwd entry) is a user wsready made for an app in `app_dir`."""
    if entry["gecos"] == USER_MARKER:
        return True
    legacy = (
        entry["gecos"] == ""
        and entry["home"] == app_dir
        and entry["shell"] in NOLOGIN
        and entry["uid"].isdigit()
        and 0 < int(entry["uid"]) <= SYSTEM_UID_MAX
    )
    return legacy


def conflicts(claims: Mapping[str, Any], app_name: str, user: str, app_dir: str) -> list[str]:
    """Every refusal for the claims fact's answer, each naming the key."""
    errors: list[ConfigError] = []
    entry = _passwd(claims.get("passwd") or "")
    if entry and not user_is_ours(entry, app_dir):
        errors.append(
            ConfigError(
                "app_user",
                user,
                f"the host already has this user (uid {entry['uid']}, home {entry['home']}), "
                "not made by wsready: the deploy would take its home and shell; choose another",
            )
        )
    group = (claims.get("group") or "").split(":")
    if len(group) >= 3 and group[0] == user:
        ours = entry is not None and user_is_ours(entry, app_dir) and entry["gid"] == group[2]
        if not ours:
            errors.append(
                ConfigError(
                    "app_user",
                    user,
                    f"the host already has a group {user} (gid {group[2]}) that is not the "
                    "primary group of a user wsready made: the service would get its rights",
                )
            )
    if claims.get("etc") == "other":
        errors.append(
            ConfigError(
                "app_name",
                app_name,
                f"/etc/{app_name} exists and is not wsready's: the deploy would re-own it",
            )
        )
    for path, state in sorted((claims.get("units") or {}).items()):
        if state != "wsready" or not path.startswith("/etc/"):
            errors.append(
                ConfigError(
                    "app_name", app_name, f"{path} exists and is not wsready's: choose another"
                )
            )
    if claims.get("app_dir") == "other":
        errors.append(
            ConfigError(
                "app_dir",
                app_dir,
                "exists, is not empty and holds no wsready releases: the deploy would change "
                "its owner and mode; choose a directory of the app's own",
            )
        )
    return [str(error) for error in errors]
