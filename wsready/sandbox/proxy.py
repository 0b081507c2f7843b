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

from wsready.sandbox import state as sandbox_state

PORT = 8888  # preferred; the next free port when something listens on *:8888
WILDCARDS = ("0.0.0.0", "*", "[::]")
DEFAULT_NPM_REGISTRY = "https://registry.npmjs.org/"


def proxy_url(state: sandbox_state.HostState) -> str:
    return f"http://{state.gateway}:{state.proxy_port}"


def free_port(listening: str, address: str, preferred: int = PORT, tries: int = 100) -> int:
    """First port from `preferred` that no listener in `ss -Hltn` output holds for `address`.

    A wildcard listener (e.g. the tinyproxy.service the Debian package starts on *:8888)
    blocks binding that port on any address.
    """
    taken = set()
    for line in listening.splitlines():
        words = line.split()
        if len(words) < 4:
            continue
        host, _, port = words[3].rpartition(":")
        if host.split("%")[0] in (*WILDCARDS, address) and port.isdigit():
            taken.add(int(port))
    for port in range(preferred, preferred + tries):
        if port not in taken:
            return port
    raise RuntimeError(f"no free port for the proxy on {address} in {preferred}-{port}")


def render_filter(hosts: Iterable[str]) -> str:
    """One anchored extended regex per allowed host name."""
    lines = ["# Hosts the sandbox may reach through this proxy (all others: 403 Filtered)."]
    lines += [f"^{re.escape(host)}$" for host in dict.fromkeys(hosts) if host]
    return "\n".join(lines) + "\n"


def render_config(
    listen: str, client: str, filter_file: Path, log_file: Path, port: int = PORT
) -> str:
    return f"""\
# tinyproxy for one wsready sandbox host; run in the foreground by `wsready sandbox up`.
User tinyproxy
Group tinyproxy
Listen {listen}
Port {port}
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
    state.proxy_port = free_port(_listening(), state.gateway)
    config.write_text(
        render_config(state.gateway, state.address, filter_file, log_file, state.proxy_port)
    )
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
    _wait_listening(f"{state.gateway}:{state.proxy_port}", process, directory)
    return process


def _listening() -> str:
    return subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout


def _wait_listening(needle: str, process: sandbox_state.Process, directory: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not process.alive():
            error = (directory / "tinyproxy.stderr").read_text().strip()
            raise RuntimeError(f"tinyproxy for {needle} exited: {error}")
        if f" {needle} " in _listening():
            return
        time.sleep(0.05)
    raise RuntimeError(f"tinyproxy did not listen on {needle} within 10s")
