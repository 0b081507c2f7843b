"""Hosts of a pyinfra inventory file, loaded by pyinfra itself.

`pyinfra INVENTORY debug-inventory --json` runs in a child process, so the data is exactly
what a deploy sees (host > groups > `all`, `group_data/` next to the file, the group named
after the file, dynamic inventories such as `inventory/ec2.py`), and pyinfra_cli's gevent
monkey-patching stays out of our process. The child runs in an empty temporary directory, so
a `pyinfra-debug.log` it may write never lands next to the inventory.

Errors never echo host data: a broken inventory is reported by its exception type only.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsready.validate import ConfigError

TIMEOUT_S = 120.0  # a dynamic inventory may call cloud APIs; cron must not hang on it
# pyinfra's line before the traceback of an inventory (or its data) that raised
_EXCEPTION_MARKER = "exception occurred"
_EXCEPTION_TYPE = re.compile(r"[A-Za-z_][\w.]*")


@dataclass(frozen=True)
class Host:
    name: str
    groups: tuple[str, ...]
    data: dict[str, Any]


def load(
    inventory: str | os.PathLike[str],
    limit: str | None = None,
    *,
    require_hosts: bool = True,
    timeout_s: float = TIMEOUT_S,
) -> list[Host]:
    """Hosts of `inventory` in inventory order, each with its groups and resolved data.

    `limit` keeps the hosts named by it, in one of its groups, or matching it as a glob (as
    `pyinfra --limit`). ConfigError (key `--inventory` or `--limit`) when the file is missing
    or does not load, defines no hosts (unless `require_hosts` is false), or `limit` matches
    nothing.
    """
    path = Path(inventory)
    if not path.is_file():
        raise ConfigError("--inventory", str(inventory), "no such file")
    hosts = [
        Host(entry["name"], tuple(entry["groups"]), entry["data"])
        for entry in _debug_inventory(path, str(inventory), timeout_s)
    ]
    if not hosts and require_hosts:
        raise ConfigError("--inventory", str(inventory), "defines no hosts")
    if limit:
        hosts = [
            host for host in hosts if limit in host.groups or fnmatch.fnmatch(host.name, limit)
        ]
        if not hosts:
            raise ConfigError("--limit", limit, f"matches no host or group in {inventory}")
    return hosts


def host_data(inventory: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Host name → resolved data, in inventory order."""
    return {host.name: host.data for host in load(inventory)}


def _debug_inventory(path: Path, shown: str, timeout_s: float) -> list[dict[str, Any]]:
    command = [sys.executable, "-m", "pyinfra", str(path.resolve()), "debug-inventory", "--json"]
    with (
        tempfile.TemporaryDirectory(prefix="wsready-inventory-") as workdir,
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=workdir,
            env={**os.environ, "PYINFRA_PROGRESS": "off"},
        ) as process,
    ):
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            raise ConfigError(
                "--inventory", shown, f"did not load within {timeout_s:g} s"
            ) from None
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    if result.returncode != 0:
        raise ConfigError("--inventory", shown, _why_not_loaded(result, shown))
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise ConfigError("--inventory", shown, "pyinfra printed no inventory JSON") from None


def _why_not_loaded(result: subprocess.CompletedProcess[str], shown: str) -> str:
    """One line without values: the exception type pyinfra reports, or the inventory's own
    exit message (`raise SystemExit("…")`, as inventory/ec2.py does), never a traceback."""
    hint = f"pyinfra did not load it; see `pyinfra {shown} debug-inventory`"
    lines = [line.rstrip() for line in result.stderr.splitlines()]
    marker = next((n for n, line in enumerate(lines) if _EXCEPTION_MARKER in line), None)
    if marker is not None:
        return f"cannot be loaded: {_exception_type(lines[marker + 1 :])} ({hint})"
    messages = [line.strip() for line in lines if line.strip() and not line.startswith("-->")]
    if messages:
        return f"cannot be loaded: {messages[-1]}"
    return f"cannot be loaded: pyinfra exited with status {result.returncode} ({hint})"


def _exception_type(traceback: list[str]) -> str:
    """The type on the first unindented line after the first frame: the message after it
    (and any line of a multi-line message) is left out."""
    frames = next((n for n, line in enumerate(traceback) if line.startswith("  File ")), None)
    if frames is not None:
        for line in traceback[frames:]:
            if line and not line[0].isspace():
                kind = line.split(":", 1)[0]
                return kind if _EXCEPTION_TYPE.fullmatch(kind) else "an exception"
    return "an exception"
