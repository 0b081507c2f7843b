"""Per-host tinyproxy on 10.200.X.1:8888: the sandbox's only way out, to package registries only.

It allows only the sandbox's own address and, with `FilterDefaultDeny`, only the registry
hosts (Debian mirrors from this machine's apt sources, the npm registry from `npm config`).
Any other host gets tinyproxy's own `403 Filtered` before a connection is attempted.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from wsready import sandbox_state

PORT = 8888
DEFAULT_NPM_REGISTRY = "https://registry.npmjs.org/"


def proxy_url(state: sandbox_state.HostState) -> str:
    return f"http://{state.gateway}:{PORT}"


def render_filter(hosts: Iterable[str]) -> str:
    """One anchored extended regex per allowed host name."""
    lines = ["# Hosts the sandbox may reach through this proxy (all others: 403 Filtered)."]
    lines += [f"^{re.escape(host)}$" for host in dict.fromkeys(hosts) if host]
    return "\n".join(lines) + "\n"


def render_config(listen: str, client: str, filter_file: Path, log_file: Path) -> str:
    return f"""\
# tinyproxy for one wsready sandbox host; run in the foreground by `wsready sandbox up`.
User tinyproxy
Group tinyproxy
Listen {listen}
Port {PORT}
Timeout 600
MaxClients 50
LogFile "{log_file}"
LogLevel Connect
Allow {client}
ConnectPort 443
ConnectPort 80
DisableViaHeader Yes
Filter "{filter_file}"
FilterType ere
FilterCaseSensitive Yes
FilterDefaultDeny Yes
"""


def npm_registry_host() -> str:
    """Host of `npm config get registry` on this machine (registry.npmjs.org without npm)."""
    registry = DEFAULT_NPM_REGISTRY
    if shutil.which("npm"):
        result = subprocess.run(
            ["npm", "config", "get", "registry"], capture_output=True, text=True, timeout=30
        )
        if result.returncode == 0 and result.stdout.strip().startswith("http"):
            registry = result.stdout.strip()
    return urlsplit(registry).hostname or urlsplit(DEFAULT_NPM_REGISTRY).hostname or ""


def start(state: sandbox_state.HostState, allowed_hosts: Iterable[str]) -> sandbox_state.Process:
    """Write this host's proxy config and start tinyproxy in the foreground, detached."""
    directory = state.directory
    filter_file = directory / "tinyproxy.filter"
    config = directory / "tinyproxy.conf"
    log_file = directory / "tinyproxy.log"
    filter_file.write_text(render_filter(allowed_hosts))
    config.write_text(render_config(state.gateway, state.address, filter_file, log_file))
    log_file.touch()
    shutil.chown(log_file, user="tinyproxy", group="tinyproxy")
    proc = subprocess.Popen(
        ["tinyproxy", "-d", "-c", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(directory / "tinyproxy.stderr", "w"),  # noqa: SIM115 - child owns it
        start_new_session=True,
    )
    process = sandbox_state.Process.of(proc.pid)
    _wait_listening(state.gateway, process, directory)
    return process


def _wait_listening(address: str, process: sandbox_state.Process, directory: Path) -> None:
    deadline = time.monotonic() + 10
    needle = f"{address}:{PORT}"
    while time.monotonic() < deadline:
        if not process.alive():
            error = (directory / "tinyproxy.stderr").read_text().strip()
            raise RuntimeError(f"tinyproxy for {address} exited: {error}")
        listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
        if needle in listening:
            return
        time.sleep(0.05)
    raise RuntimeError(f"tinyproxy did not listen on {needle} within 10s")
