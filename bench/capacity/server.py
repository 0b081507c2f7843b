"""The server side of a run: the broadcast trigger (over SSH or HTTP), the RSS of its processes
and its health, on a sandbox host or on loopback.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.capacity.common import (
    APP_PORT,
    EVENT_RE,
    GENERATION_FILE,
    ROOT,
    SLOT_B_OFFSET,
    SLOT_B_UPSTREAM,
    CapacityError,
    RssReader,
    SshRunner,
    Trigger,
)
from bench.capacity.stats import check_target


def serving_port(port: int = APP_PORT, active_file: str = GENERATION_FILE) -> str:
    """Shell, run on the server host: the first worker port of the generation nginx serves
    (`port`, or `port` + 100 when the host serves slot b; the other slot runs nothing once a
    deploy finished)."""
    return (
        f"$(grep -qs {SLOT_B_UPSTREAM} {shlex.quote(active_file)} "
        f"&& echo {port + SLOT_B_OFFSET} || echo {port})"
    )


def broadcast_command(event: str = "bench", port: int = APP_PORT) -> str:
    """Shell command, run on the server host, that POSTs one broadcast stamped with its clock."""
    if not EVENT_RE.match(event):
        raise CapacityError(f"event {event!r}: letters, digits, _ and - only")
    body = f'\'{{"event":"{event}","data":{{"t":\'"$(date +%s%3N)"\'}}}}\''
    return (
        "curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' "
        f"-d {body} http://127.0.0.1:{serving_port(port)}/api/broadcast"
    )


def ssh_runner(ssh_argv: Sequence[str], timeout_s: float = 30.0) -> SshRunner:
    """Runs a command through an SSH command line such as ["ssh", "-i", KEY, "root@ADDR"]."""

    def run(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ssh_argv, command],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )

    return run


def sandbox_module() -> Any:
    """wsready.sandbox, importable also when this file runs outside the virtual environment."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from wsready import sandbox

    return sandbox


def sandbox_runner(name: str, timeout_s: float = 30.0) -> SshRunner:
    """Runs a command as root on the sandbox host `name` (wsready.sandbox.ssh)."""
    sandbox = sandbox_module()
    return lambda command: sandbox.ssh(name, command, timeout_s=timeout_s)


def ssh_trigger(run: SshRunner, event: str = "bench", port: int = APP_PORT) -> Trigger:
    """A trigger_broadcast that curls the app's /api/broadcast on the host through `run`."""
    command = broadcast_command(event, port)

    def trigger() -> dict[str, Any]:
        result = run(command)
        try:
            answer = json.loads(result.stdout)
        except ValueError:
            answer = None
        if result.returncode != 0 or not isinstance(answer, dict) or answer.get("sent") is not True:
            raise CapacityError(
                f"broadcast refused (exit {result.returncode}): "
                f"{(result.stdout + result.stderr).strip()[:300]}"
            )
        return answer

    return trigger


def http_trigger(broadcast_url: str, event: str = "bench") -> Trigger:
    """A trigger_broadcast that POSTs to a loopback /api/broadcast from this machine."""
    if not ipaddress.ip_address(check_target(broadcast_url)[0]).is_loopback:
        raise CapacityError(f"{broadcast_url}: the broadcast endpoint answers on loopback only")

    def trigger() -> dict[str, Any]:
        body = json.dumps({"event": event, "data": {"t": time.time() * 1000}}).encode()
        request = urllib.request.Request(
            broadcast_url, body, {"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    return trigger


# Process groups whose RSS is the server's: app workers, nginx (master and workers), Redis.
RSS_GROUPS = {"app": "node", "nginx": "nginx", "redis": "redis-server"}


def ps_rss_command() -> str:
    """One `ps -o rss= -C NAME` per group of RSS_GROUPS, each followed by a `--` line."""
    return "; ".join(f"ps -o rss= -C {command}; echo --" for command in RSS_GROUPS.values())


def parse_ps_rss(text: str) -> dict[str, int]:
    """Bytes per group from ps_rss_command()'s output (RSS in KiB, one line per process)."""
    parts = text.split("--")
    if len(parts) < len(RSS_GROUPS):
        raise CapacityError(f"unexpected ps output: {text[:200]!r}")
    return {
        name: 1024 * sum(int(n) for n in part.split() if n.isdigit())
        for name, part in zip(RSS_GROUPS, parts, strict=False)
    }


def ssh_rss(run: SshRunner) -> RssReader:
    """RSS of the host's app workers, nginx and Redis (RSS_GROUPS), read over SSH."""

    def read() -> dict[str, int]:
        result = run(ps_rss_command())
        if result.stdout.count("--") < len(RSS_GROUPS):
            raise CapacityError(f"ps over ssh failed: {result.stderr.strip()[:300]}")
        return parse_ps_rss(result.stdout)

    return read


def local_rss(pids: Mapping[str, int]) -> RssReader:
    """RSS bytes of local processes by name, from /proc/PID/status."""

    def read() -> dict[str, int]:
        sizes = {}
        for name, pid in pids.items():
            status = Path(f"/proc/{pid}/status").read_text()
            kib = next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            sizes[name] = kib * 1024
        return sizes

    return read


def http_health(url: str, timeout_s: float = 5.0) -> Callable[[], dict[str, Any]]:
    """GET URL/api/health (the target's own, through nginx on a sandbox host)."""
    check_target(url)
    health_url = url.rstrip("/").replace("ws://", "http://").replace("wss://", "https://")

    def read() -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"{health_url}/api/health", timeout=timeout_s) as answer:
                return json.load(answer)
        except (OSError, ValueError) as error:
            return {"error": str(error)[:200]}

    return read


def ssh_health(run: SshRunner, port: int = APP_PORT) -> Callable[[], dict[str, Any]]:
    """GET /api/health from the serving generation's first app worker on the host's loopback
    (not through nginx, which may be out of connections under load): host-wide clients and
    workers."""

    def read() -> dict[str, Any]:
        result = run(f"curl -sS --max-time 5 http://127.0.0.1:{serving_port(port)}/api/health")
        try:
            answer = json.loads(result.stdout)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            return {"error": f"exit {result.returncode}: {(result.stdout + result.stderr)[:200]}"}
        return answer

    return read
