"""Host data from a pyinfra inventory file, resolved with pyinfra's precedence.

Highest first: host data, group data (the group's tuple data in the file, overridden by
`group_data/<group>.py` next to it; a later group wins), then the same for group `all`.
Like pyinfra, every host is also in a group named after the file (`fleet.py` → `fleet`).

Files are read with `runpy`, not with `pyinfra_cli`: importing `pyinfra_cli` monkey-patches
the whole process with gevent, which breaks later TLS probes in the same process.
"""

from __future__ import annotations

import os
import runpy
import types
from pathlib import Path
from typing import Any

from wsready.validate import ConfigError


def _public(names: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in names.items()
        if not key.startswith("_") and not isinstance(value, (types.ModuleType, type))
    }


def _group_hosts(value: Any) -> tuple[list, dict] | None:
    """`[host, …]` or `([host, …], data)` → (hosts, data); anything else → None."""
    hosts, data = value if isinstance(value, tuple) and len(value) == 2 else (value, {})
    if not isinstance(hosts, list) or not isinstance(data, dict):
        return None
    if not all(isinstance(item, (str, tuple)) for item in hosts):
        return None
    return hosts, data


def _run(path: Path, key: str) -> dict[str, Any]:
    try:
        return runpy.run_path(str(path))
    except Exception as error:  # user code: any error means "cannot load"
        raise ConfigError(key, str(path), f"cannot be loaded: {type(error).__name__}") from None


def load(inventory: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Host name → resolved data, in inventory order. ConfigError for a bad or empty file."""
    path = Path(inventory)
    if not path.is_file():
        raise ConfigError("--inventory", str(inventory), "no such inventory file")
    groups: dict[str, tuple[list, dict]] = {}
    for name, value in _run(path, "--inventory").items():
        if not name.startswith("_") and (group := _group_hosts(value)) is not None:
            groups[name] = group
    group_files: dict[str, dict] = {}
    folder = path.resolve().parent / "group_data"
    if folder.is_dir():
        for file in sorted(folder.glob("*.py")):
            group_files[file.stem] = _public(_run(file, "group_data"))

    all_hosts, all_data = groups.pop("all", ([], {}))
    host_own: dict[str, dict] = {}
    host_groups: dict[str, list[str]] = {}
    for group_name, (entries, _data) in [("all", (all_hosts, {})), *groups.items()]:
        for entry in entries:
            name, own = (entry[0], dict(entry[1])) if isinstance(entry, tuple) else (entry, {})
            host_own.setdefault(name, {}).update(own)
            if group_name != "all":
                host_groups.setdefault(name, []).append(group_name)
    if not host_own:
        raise ConfigError("--inventory", str(inventory), "defines no hosts")
    file_group = path.stem
    resolved = {}
    for name, own in host_own.items():
        names = host_groups.get(name, [])
        if file_group not in groups:
            names = [*names, file_group]
        data = {**all_data, **group_files.get("all", {})}
        for group_name in names:
            data.update(groups.get(group_name, ([], {}))[1])
            data.update(group_files.get(group_name, {}))
        data.update(own)
        resolved[name] = data
    return resolved
