"""Socket.IO capacity: N concurrent clients held, one broadcast to all, then released.

    python bench/ws_capacity.py --clients 20000                  # stock and wsready, sandbox
    python bench/ws_capacity.py --clients 5000 --loopback test-server --processes 1
    python bench/ws_capacity.py --clients 2000 --url http://10.200.3.2 --sandbox-host wsr-3

Each client does the real Engine.IO v4 + Socket.IO handshake (npm socket.io-client, the app's
pinned devDependency, run by bench/ws_clients.js), is held while it answers pings, receives
one broadcast (POST /api/broadcast on the host's loopback), and is released. Clients are
spread over several generator processes (each process is capped at 20,000 open files) and
opened at a bounded ramp rate, printed. One JSON row per configuration on stdout:
{config, clients, connected, errors, connect_p50_ms, connect_p99_ms, broadcast_received,
broadcast_last_ms, server_rss_bytes_per_client, ...}; without --url/--loopback, a sandbox host
is started and deployed twice ("stock": the tuning off, "wsready": the defaults; CONFIGS
below) and a ratio row follows.

Traffic goes only to loopback or to sandbox host addresses (10.200.0.0/16): any other target
is refused. Every wait has a deadline; the whole run is bounded by --max-seconds.

Library: run_load(url, clients, processes, ramp_per_s, trigger_broadcast, ...) -> dict.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import math
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from wsready.processes import stop_processes

ROOT = Path(__file__).resolve().parents[1]
CLIENTS_JS = ROOT / "bench" / "ws_clients.js"
TEST_SERVER_JS = ROOT / "bench" / "ws_test_server.js"
APP_SERVER_JS = ROOT / "files" / "app" / "server.js"

# Data overrides per configuration (`pyinfra --data key=value`, values JSON-encoded).
# "stock": the same deploy with the tuning off: Debian's nginx defaults (worker_processes
# auto, 768 connections, no rlimit, backlog 511, no reuseport), one app worker with Node's
# default backlog, no sysctls; app_max_clients says what that can hold (2 CPUs x 768 / 2),
# or the capacity preflight refuses the deploy. "wsready": the defaults of
# inventory/group_data/all.py.
CONFIGS: dict[str, dict[str, Any]] = {
    "stock": {
        "app_workers": 1,
        "app_max_clients": 768,
        "app_listen_backlog": 511,
        "nginx_worker_processes": "auto",
        "nginx_worker_connections": 768,
        "nginx_worker_rlimit_nofile": None,
        "nginx_listen_backlog": None,
        "nginx_reuseport": False,
        "kernel_sysctls": {},
    },
    "wsready": {},
}

ALLOWED_NETWORKS = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("10.200.0.0/16"),  # sandbox host veth addresses
)
MAX_CLIENTS = 28_000  # ephemeral ports 32768-60999 from one source address to one destination
MAX_CLIENTS_PER_PROCESS = 15_000  # each process: at most 20,000 open files
DEFAULT_CLIENTS_PER_PROCESS = 5_000
MAX_PROCESSES = 32
APP_PORT = 3000  # the first app worker's port on a sandbox host (app_port)
PROGRESS_EVERY_S = 2.0
EVENT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

Log = Callable[[str], None]
Trigger = Callable[[], object]
RssReader = Callable[[], Mapping[str, int]]


class CapacityError(RuntimeError):
    """The load run could not be carried out; the message says why."""


def _stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- pure logic -------------------------------------------------------------------------------


def check_target(url: str) -> tuple[str, int]:
    """(address, port) of an http(s)/ws(s) URL whose host is loopback or in 10.200.0.0/16."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        raise CapacityError(f"{url}: scheme must be http, https, ws or wss")
    host = parts.hostname
    if host is None:
        raise CapacityError(f"{url}: no host")
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        raise CapacityError(
            f"{url}: the target must be an IP address (loopback or 10.200.0.0/16), not a name"
        ) from None
    if not any(address in network for network in ALLOWED_NETWORKS):
        raise CapacityError(
            f"{url}: refused: load goes only to loopback or sandbox hosts (10.200.0.0/16)"
        )
    try:
        port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    except ValueError:
        raise CapacityError(f"{url}: bad port") from None
    return str(address), port


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def split_clients(clients: int, processes: int) -> list[int]:
    """Shares of `clients` over `processes`, differing by at most one, none empty."""
    processes = min(processes, clients)
    base, extra = divmod(clients, processes)
    return [base + (1 if i < extra else 0) for i in range(processes)]


def default_processes(clients: int) -> int:
    return max(1, math.ceil(clients / DEFAULT_CLIENTS_PER_PROCESS))


def heap_mb(clients: int) -> int:
    """--max-old-space-size for a generator holding `clients` (~100 kB each, 256 MB floor)."""
    return max(256, 128 + clients // 10)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _merge_counts(maps: Sequence[Mapping[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for counts in maps:
        for kind, n in counts.items():
            merged[kind] = merged.get(kind, 0) + n
    return dict(sorted(merged.items(), key=lambda item: -item[1]))


def summarize(
    *,
    config: str,
    clients: int,
    processes: int,
    ramp_per_s: float,
    transports: Sequence[str],
    results: Sequence[Mapping[str, Any]],
    connected: int,
    trigger_epoch_ms: float | None,
    rss_before: Mapping[str, int] | None = None,
    rss_holding: Mapping[str, int] | None = None,
    health: Mapping[str, Any] | None = None,
    idle: Mapping[str, Any] | None = None,
    hold_s: float = 0.0,
    duration_s: float | None = None,
) -> dict[str, Any]:
    """The JSON row of one run from the generators' final results and the server samples."""
    latencies = [ms for r in results for ms in r["connect_ms"]]
    arrivals = [ms for r in results for ms in r["received_at_ms"]]
    payload_ts = {r["payload_t"] for r in results if r.get("payload_t") not in (None, -1)}
    # The payload's t is stamped on the server host just before the broadcast (same clock for
    # sandbox hosts); without it, the moment this process called the trigger.
    reference = min(payload_ts) if payload_ts else trigger_epoch_ms
    last_ms = max(arrivals) - reference if arrivals and reference is not None else None
    ramp_seconds = [r["ramp_seconds"] for r in results if r.get("ramp_seconds")]
    opened = sum(r["opened"] for r in results)
    row: dict[str, Any] = {
        "config": config,
        "clients": clients,
        "connected": connected,
        "errors": sum(r["errors"] for r in results),
        "connect_p50_ms": _round(percentile(latencies, 50)),
        "connect_p99_ms": _round(percentile(latencies, 99)),
        "broadcast_received": len(arrivals) if trigger_epoch_ms is not None else None,
        "broadcast_last_ms": _round(last_ms),
        "server_rss_bytes_per_client": None,
        "ramp_per_s": ramp_per_s,
        "ramp_achieved_per_s": _round(opened / max(ramp_seconds)) if ramp_seconds else None,
        "processes": processes,
        "transports": list(transports),
        "hold_s": hold_s,
        "connect_max_ms": _round(max(latencies) if latencies else None),
        "errors_by_kind": _merge_counts([r.get("error_kinds", {}) for r in results]),
        "generator_rss_bytes_max": max((r.get("memory_rss_bytes", 0) for r in results), default=0),
    }
    # The generators' own event-loop lateness and CPU: a connect time includes those stalls.
    delays = [r["loop_delay_p99_ms"] for r in results if r.get("loop_delay_p99_ms") is not None]
    if delays:
        row["generator_loop_delay_p99_ms_max"] = max(delays)
        row["generator_loop_delay_max_ms"] = max(r.get("loop_delay_max_ms", 0) for r in results)
    if any(r.get("cpu_s") is not None for r in results):
        row["generator_cpu_s"] = round(sum(r.get("cpu_s") or 0 for r in results), 1)
    if rss_before is not None and rss_holding is not None and connected > 0:
        row["server_rss_bytes_per_client"] = round(
            (sum(rss_holding.values()) - sum(rss_before.values())) / connected
        )
        row["server_rss_bytes"] = {
            name: {"before": rss_before.get(name, 0), "holding": rss_holding.get(name, 0)}
            for name in sorted({*rss_before, *rss_holding})
        }
    if idle is not None:
        row.update(idle)
    if health is not None:
        keys = ("clients", "connections", "workers", "error")
        row["health"] = {k: health[k] for k in keys if k in health}
    if duration_s is not None:
        row["duration_s"] = round(duration_s, 1)
    return row


def ratio_row(base: Mapping[str, Any], tuned: Mapping[str, Any]) -> dict[str, Any]:
    """tuned / base for each numeric figure of two rows (None where undefined)."""
    keys = (
        "connected",
        "errors",
        "connect_p50_ms",
        "connect_p99_ms",
        "broadcast_received",
        "broadcast_last_ms",
        "server_rss_bytes_per_client",
    )
    ratios: dict[str, Any] = {"ratio": f"{tuned['config']}/{base['config']}"}
    for key in keys:
        a, b = base.get(key), tuned.get(key)
        ratios[key] = (
            round(b / a, 2) if isinstance(a, int | float) and a and b is not None else None
        )
    return ratios


# --- generator processes ----------------------------------------------------------------------


@dataclass
class _Generator:
    index: int
    clients: int
    process: subprocess.Popen[str]
    stderr: IO[str]
    latest: dict[str, Any] = field(default_factory=dict)
    settled: bool = False
    snapshot: dict[str, Any] | None = None
    broadcast_done: bool = False
    result: dict[str, Any] | None = None
    exited: bool = False

    def send(self, command: str) -> None:
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return "\n".join(self.stderr.read().splitlines()[-15:])


class _Fleet:
    """The generator processes and one queue of the JSON lines they print."""

    def __init__(self, log: Log) -> None:
        self.generators: list[_Generator] = []
        self.lines: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        self.log = log

    def start(self, argv: list[str], clients: int) -> None:
        index = len(self.generators)
        stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by stop())
        process = subprocess.Popen(
            [*argv, "--id", str(index)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=ROOT,
        )
        self.generators.append(_Generator(index, clients, process, stderr))
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(index, process.stdout), daemon=True).start()

    def _read(self, index: int, stream: IO[str]) -> None:
        for line in stream:
            try:
                record = json.loads(line)
            except ValueError:
                record = {"type": "noise", "line": line.rstrip()[:200]}
            self.lines.put((index, record))
        self.lines.put((index, {"type": "eof"}))

    def pump(self, done: Callable[[], bool], deadline: float, tick: Callable[[], None]) -> bool:
        """Handle lines until done() or the deadline (False); tick() at least every 0.5 s."""
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                index, record = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                tick()
                continue
            self._handle(self.generators[index], record)
            tick()
        return True

    def _handle(self, gen: _Generator, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind in ("progress", "settled", "snapshot", "broadcast_done", "result"):
            gen.latest = record
        if kind == "settled":
            gen.settled = True
        elif kind == "snapshot":
            gen.snapshot = record
        elif kind == "broadcast_done":
            gen.broadcast_done = True
        elif kind == "result":
            gen.result = record
        elif kind in ("log", "noise"):
            self.log(f"generator {gen.index}: {record.get('message') or record.get('line')}")
        elif kind == "fatal":
            raise CapacityError(f"generator {gen.index}: {record.get('message')}")
        elif kind == "eof":
            gen.exited = True
            if gen.result is None:
                code = gen.process.wait(timeout=5)
                raise CapacityError(
                    f"generator {gen.index} exited ({code}) without a result:\n{gen.stderr_tail()}"
                )

    def total(self, key: str) -> int:
        return sum(int(g.latest.get(key, 0)) for g in self.generators)

    def send_all(self, command: str) -> None:
        for gen in self.generators:
            gen.send(command)

    def stop(self) -> None:
        """Ask every generator to release; kill the ones still running after a grace period."""
        self.send_all("release")
        for gen in self.generators:
            with contextlib.suppress(OSError, ValueError):
                assert gen.process.stdin is not None
                gen.process.stdin.close()
        deadline = time.monotonic() + 10
        for gen in self.generators:
            try:
                gen.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                gen.process.kill()
                gen.process.wait(timeout=5)
            gen.stderr.close()


def ports_in_use(address: str, port: int) -> int | None:
    """Local TCP sockets towards address:port in any state (TIME-WAIT too); None without ss."""
    host = f"[{address}]" if ":" in address else address
    try:
        result = subprocess.run(
            ["ss", "-Htan", "dst", f"{host}:{port}"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return len(result.stdout.splitlines()) if result.returncode == 0 else None


def wait_for_ports(address: str, port: int, clients: int, timeout_s: float, log: Log) -> None:
    """Wait (bounded) until `clients` ephemeral ports towards address:port are free, e.g.
    while the previous run's sockets leave TIME-WAIT; logs and goes on when they do not."""
    deadline = time.monotonic() + timeout_s
    while True:
        used = ports_in_use(address, port)
        if used is None or used + clients <= MAX_CLIENTS:
            return
        if time.monotonic() >= deadline:
            log(f"{used} sockets to {address}:{port} still in use: expect address errors")
            return
        time.sleep(1)  # TIME-WAIT expiry has no event to wait on; bounded by the deadline


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise CapacityError("node is not on PATH (the load generator is bench/ws_clients.js)")
    return node


# --- the run ----------------------------------------------------------------------------------


def run_load(
    url: str,
    clients: int,
    processes: int | None = None,
    ramp_per_s: float = 1000.0,
    trigger_broadcast: Trigger | None = None,
    *,
    config: str = "",
    path: str = "/ws",
    transports: Sequence[str] = ("websocket",),
    event: str = "bench",
    hold_s: float = 0.0,
    connect_timeout_s: float = 20.0,
    broadcast_timeout_s: float = 30.0,
    max_seconds: float = 600.0,
    server_rss: RssReader | None = None,
    server_health: Callable[[], Mapping[str, Any]] | None = None,
    token_env: str | None = None,
    log: Log = _stderr_log,
) -> dict[str, Any]:
    """Open `clients` Socket.IO clients to `url`, hold them, broadcast once, release; one row.

    `trigger_broadcast()` makes the server emit `event` to every client (its data may carry
    {"t": epoch ms} stamped on the server host); None skips the broadcast. `server_rss()`
    returns RSS bytes by process group ({"app": ..., "nginx": ...}), read before the clients
    connect and while they are held. Raises CapacityError when a bound is hit or a generator
    fails; the generators are always stopped.
    """
    address, port = check_target(url)
    if not 1 <= clients <= MAX_CLIENTS:
        raise CapacityError(f"clients must be 1..{MAX_CLIENTS} (one source address)")
    processes = processes or default_processes(clients)
    shares = split_clients(clients, min(processes, MAX_PROCESSES))
    if max(shares) > MAX_CLIENTS_PER_PROCESS:
        raise CapacityError(
            f"{max(shares)} clients per process: at most {MAX_CLIENTS_PER_PROCESS} "
            "(20,000 open files per process); use more --processes"
        )
    if not EVENT_RE.match(event):
        raise CapacityError(f"event {event!r}: letters, digits, _ and - only")
    started = time.monotonic()
    run_deadline = started + max_seconds
    per_process_ramp = ramp_per_s / len(shares)
    log(
        f"[{config or 'run'}] {clients} clients to {url}{path} over {len(shares)} process(es), "
        f"ramp {ramp_per_s:g} clients/s ({per_process_ramp:g}/s each), "
        f"transports {','.join(transports)}"
    )
    wait_for_ports(address, port, clients, min(60.0, max_seconds / 4), log)
    idle = None
    if server_health is not None:
        idle = wait_idle(server_health, min(IDLE_WAIT_S, max_seconds / 4), log, config)
    rss_before = server_rss() if server_rss else None
    fleet = _Fleet(log)
    last_progress = [time.monotonic()]

    def progress(phase: str) -> Callable[[], None]:
        def tick() -> None:
            if time.monotonic() - last_progress[0] >= PROGRESS_EVERY_S:
                last_progress[0] = time.monotonic()
                log(
                    f"[{config or 'run'}] {phase}: opened {fleet.total('opened')}/{clients} "
                    f"connected {fleet.total('connected')} failed {fleet.total('failed')} "
                    f"dropped {fleet.total('dropped')} received {fleet.total('received')}"
                )

        return tick

    def deadline(seconds: float) -> float:
        return min(time.monotonic() + seconds, run_deadline)

    try:
        node = _node()
        for share in shares:
            fleet.start(
                [
                    node,
                    f"--max-old-space-size={heap_mb(share)}",
                    str(CLIENTS_JS),
                    "--url", url,
                    "--clients", str(share),
                    "--ramp", f"{per_process_ramp:g}",
                    "--path", path,
                    "--transports", ",".join(transports),
                    "--event", event,
                    "--connect-timeout-ms", str(round(connect_timeout_s * 1000)),
                    "--max-seconds", f"{max(1.0, run_deadline - time.monotonic()):.0f}",
                    *(["--token-env", token_env] if token_env else []),
                ],
                share,
            )  # fmt: skip
        gens = fleet.generators
        settle_s = max(shares) / per_process_ramp + connect_timeout_s + 10
        if not fleet.pump(
            lambda: all(g.settled for g in gens), deadline(settle_s), progress("ramp")
        ):
            raise CapacityError(
                f"clients not settled within {settle_s:.0f}s: connected "
                f"{fleet.total('connected')} failed {fleet.total('failed')} of {clients}"
            )
        hold_end = deadline(hold_s)
        fleet.pump(lambda: time.monotonic() >= hold_end, hold_end, progress("hold"))

        for gen in gens:
            gen.snapshot = None
        fleet.send_all("snapshot")
        if not fleet.pump(lambda: all(g.snapshot for g in gens), deadline(10), lambda: None):
            raise CapacityError("generators did not answer a snapshot within 10s")
        connected = sum(int(g.snapshot["connected"]) for g in gens if g.snapshot)
        health = server_health() if server_health else None
        rss_holding = server_rss() if server_rss else None

        trigger_ms = None
        if trigger_broadcast is not None:
            trigger_ms = time.time() * 1000
            trigger_broadcast()
            if not fleet.pump(
                lambda: all(g.broadcast_done for g in gens),
                deadline(broadcast_timeout_s),
                progress("broadcast"),
            ):
                log(
                    f"[{config or 'run'}] broadcast reached {fleet.total('received')} of "
                    f"{connected} within {broadcast_timeout_s:g}s"
                )

        fleet.send_all("release")
        if not fleet.pump(lambda: all(g.result for g in gens), deadline(30), lambda: None):
            raise CapacityError("generators did not report a result within 30s of the release")
        results = [g.result for g in gens if g.result is not None]
    finally:
        fleet.stop()

    return summarize(
        config=config,
        clients=clients,
        processes=len(shares),
        ramp_per_s=ramp_per_s,
        transports=transports,
        results=results,
        connected=connected,
        trigger_epoch_ms=trigger_ms,
        rss_before=rss_before,
        rss_holding=rss_holding,
        health=health,
        idle=idle,
        hold_s=hold_s,
        duration_s=time.monotonic() - started,
    )


# At most this long for the previous load's clients to be gone: a deploy's polling probes
# leave Engine.IO sessions that expire only after pingInterval + pingTimeout (25 + 20 s).
IDLE_WAIT_S = 60.0
IDLE_POLL_S = 0.5


def wait_idle(
    server_health: Callable[[], Mapping[str, Any]],
    timeout_s: float,
    log: Log,
    config: str = "",
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll the server's health until it reports 0 clients, so that the RSS read next ("before")
    is the idle server, not one still holding a warm-up's or a previous run's clients (read
    while they were there, stock's RSS per client came out negative). Bounded by timeout_s;
    a health answer without a client count (older apps) is not waited on.
    Returns {"clients_before": N or None, "idle_wait_s": seconds}."""
    started = clock()
    deadline = started + timeout_s
    while True:
        answer = server_health()
        clients = answer.get("clients") if isinstance(answer, Mapping) else None
        if not isinstance(clients, int) or clients == 0 or clock() >= deadline:
            break
        sleep(IDLE_POLL_S)
    waited = clock() - started
    if isinstance(clients, int) and clients:
        log(f"[{config or 'run'}] still {clients} clients after {waited:.0f}s; RSS read anyway")
    return {
        "clients_before": clients if isinstance(clients, int) else None,
        "idle_wait_s": round(waited, 1),
    }


# --- server side: triggers, RSS, health -------------------------------------------------------

SshRunner = Callable[[str], "subprocess.CompletedProcess[str]"]


def broadcast_command(event: str = "bench", port: int = APP_PORT) -> str:
    """Shell command, run on the server host, that POSTs one broadcast stamped with its clock."""
    if not EVENT_RE.match(event):
        raise CapacityError(f"event {event!r}: letters, digits, _ and - only")
    body = f'\'{{"event":"{event}","data":{{"t":\'"$(date +%s%3N)"\'}}}}\''
    return (
        "curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' "
        f"-d {body} http://127.0.0.1:{port}/api/broadcast"
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


def _sandbox() -> Any:
    """wsready.sandbox, importable also when this file runs outside the virtual environment."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from wsready import sandbox

    return sandbox


def sandbox_runner(name: str, timeout_s: float = 30.0) -> SshRunner:
    """Runs a command as root on the sandbox host `name` (wsready.sandbox.ssh)."""
    sandbox = _sandbox()
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
    """GET /api/health from the first app worker on the host's loopback (not through nginx,
    which may be out of connections under load): host-wide clients and workers."""

    def read() -> dict[str, Any]:
        result = run(f"curl -sS --max-time 5 http://127.0.0.1:{port}/api/health")
        try:
            answer = json.loads(result.stdout)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            return {"error": f"exit {result.returncode}: {(result.stdout + result.stderr)[:200]}"}
        return answer

    return read


# --- loopback servers -------------------------------------------------------------------------


@dataclass(frozen=True)
class LoopbackServer:
    url: str
    broadcast_url: str
    pid: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def loopback_server(
    kind: str = "test-server", extra_args: Sequence[str] = (), ready_timeout_s: float = 15.0
) -> Iterator[LoopbackServer]:
    """A Socket.IO server on 127.0.0.1 for the length of the block, stopped after.

    kind "test-server": bench/ws_test_server.js (extra_args: --refuse-every N, --drop-every N,
    --ping-interval-ms MS ...); kind "app": files/app/server.js (needs its /api/broadcast).
    """
    node = _node()
    if kind == "test-server":
        argv = [node, str(TEST_SERVER_JS), "--port", "0", *extra_args]
        env = dict(os.environ)
    elif kind == "app":
        argv = [node, str(APP_SERVER_JS), *extra_args]
        env = {**os.environ, "APP_PORT": str(_free_port()), "APP_BIND": "127.0.0.1"}
        env.setdefault("APP_LOG_CONNECTIONS", "0")
    else:
        raise CapacityError(f"unknown loopback server {kind!r}")
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
            env=env,
        )  # fmt: skip
        try:
            port = _wait_listening(kind, env, output, process, time.monotonic() + ready_timeout_s)
            url = f"http://127.0.0.1:{port}"
            yield LoopbackServer(url, f"{url}/api/broadcast", process.pid)
        finally:
            stop_processes(process)


def _wait_listening(
    kind: str, env: Mapping[str, str], output: IO[str], process: subprocess.Popen[str], until: float
) -> int:
    while time.monotonic() < until:
        if process.poll() is not None:
            output.seek(0)
            raise CapacityError(f"{kind} exited ({process.returncode}): {output.read()[-1000:]}")
        if kind == "test-server":
            output.seek(0)
            first = output.readline()
            if first.endswith("\n"):
                return int(json.loads(first)["port"])
        else:
            port = int(env["APP_PORT"])
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return port
        time.sleep(0.05)  # polling a child's first output line; bounded by `until`
    raise CapacityError(f"{kind} not listening within its start-up deadline")


# --- sandbox deploys --------------------------------------------------------------------------


def deploy_argv(inventory: Path, overrides: Mapping[str, Any]) -> list[str]:
    """`pyinfra -y INVENTORY deploy.py --data key=<json> ...` run from the repository root."""
    data = [
        arg for key, value in overrides.items() for arg in ("--data", f"{key}={json.dumps(value)}")
    ]
    return [sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploy.py", *data]


def deploy(inventory: Path, overrides: Mapping[str, Any], timeout_s: float) -> float:
    """Seconds of one deploy; raises with pyinfra's last lines when it fails."""
    started = time.monotonic()
    try:
        result = subprocess.run(
            deploy_argv(inventory, overrides),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise CapacityError(f"deploy not done within {timeout_s:.0f}s") from None
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise CapacityError(f"deploy failed after {time.monotonic() - started:.0f}s:\n{tail}")
    return time.monotonic() - started


def sandbox_rows(
    args: argparse.Namespace, emit: Callable[[dict[str, Any]], None], log: Log
) -> None:
    """Start one sandbox host, deploy and load each configuration in turn, then remove it."""
    sandbox = _sandbox()
    run_deadline = time.monotonic() + args.max_seconds
    rows = []
    with tempfile.TemporaryDirectory(prefix="wsready-capacity-") as work:
        inventory = Path(work) / "sandbox.py"
        try:
            (host,) = sandbox.up(1, inventory, log=log)
            run = sandbox_runner(host.name)
            url = f"http://{host.address}"
            for config in args.configs:
                remaining = run_deadline - time.monotonic()
                seconds = deploy(inventory, CONFIGS[config], timeout_s=min(900, remaining))
                log(f"[{config}] deployed in {seconds:.0f}s")
                row = measure(
                    args,
                    url,
                    config,
                    ssh_trigger(run, args.event),
                    run_deadline,
                    server_rss=ssh_rss(run),
                    server_health=ssh_health(run),
                    log=log,
                )
                rows.append(row)
                emit(row)
        finally:
            sandbox.down(inventory)
    if len(rows) == 2:
        emit(ratio_row(rows[0], rows[1]))


def measure(
    args: argparse.Namespace,
    url: str,
    config: str,
    trigger: Trigger,
    run_deadline: float,
    *,
    server_rss: RssReader | None,
    server_health: Callable[[], Mapping[str, Any]] | None,
    log: Log,
) -> dict[str, Any]:
    """One row for one configuration, after a small unreported warm-up load (a freshly
    restarted server is slower on its first connections: JIT, lazy loading)."""
    options: dict[str, Any] = {
        "path": args.path,
        "transports": args.transports.split(","),
        "event": args.event,
        "connect_timeout_s": args.connect_timeout_s,
        "broadcast_timeout_s": args.broadcast_timeout_s,
        "token_env": args.token_env,
        "log": log,
    }
    if args.warmup_clients:
        warm = run_load(
            url,
            min(args.warmup_clients, args.clients),
            1,
            min(args.ramp, 250.0),
            trigger,
            config=f"{config}-warmup",
            max_seconds=max(1.0, min(120.0, run_deadline - time.monotonic())),
            **options,
        )
        log(
            f"[{config}] warm-up: {warm['connected']}/{warm['clients']} connected, "
            f"p99 {warm['connect_p99_ms']} ms"
        )
    return run_load(
        url,
        args.clients,
        args.processes,
        args.ramp,
        trigger,
        config=config,
        hold_s=args.hold_s,
        max_seconds=max(1.0, run_deadline - time.monotonic()),
        server_rss=server_rss,
        server_health=server_health,
        **options,
    )


# --- CLI --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=(
            "Targets: only loopback (127.0.0.0/8, ::1) or sandbox host addresses "
            "(10.200.0.0/16) are accepted; any other address, or a host name, is refused. "
            "Without --url/--loopback: starts a sandbox host (root), deploys 'stock' and "
            "'wsready' (CONFIGS in this file) and removes the host at the end."
        ),
    )
    parser.add_argument("--clients", type=int, required=True, help=f"1..{MAX_CLIENTS}")
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help=f"generator processes (default: one per {DEFAULT_CLIENTS_PER_PROCESS} clients)",
    )
    parser.add_argument(
        "--ramp", type=float, default=500.0, help="new clients per second, all processes"
    )
    parser.add_argument(
        "--warmup-clients",
        type=int,
        default=200,
        help="clients of an unreported load before each measured one (0: none)",
    )
    parser.add_argument("--hold-s", type=float, default=30.0, help="seconds to hold all clients")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="bound on the whole run")
    parser.add_argument("--connect-timeout-s", type=float, default=20.0)
    parser.add_argument("--broadcast-timeout-s", type=float, default=30.0)
    parser.add_argument(
        "--transports",
        default="websocket",
        help='"websocket" (default) or "polling,websocket" (socket.io-client default: upgrade)',
    )
    parser.add_argument("--path", default="/ws", help="Socket.IO path")
    parser.add_argument("--event", default="bench", help="broadcast event name")
    parser.add_argument("--token-env", help="environment variable holding a token for auth")
    parser.add_argument(
        "--configs",
        type=lambda text: text.split(","),
        default=list(CONFIGS),
        help=f"configurations for the sandbox run (default: {','.join(CONFIGS)})",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--url",
        help="an existing target (http://ADDR[:PORT]); needs --sandbox-host or --broadcast-url",
    )
    target.add_argument(
        "--loopback",
        choices=["test-server", "app"],
        help="start a local server: bench/ws_test_server.js or files/app/server.js",
    )
    parser.add_argument(
        "--sandbox-host", help="with --url: sandbox host name for SSH (broadcast, RSS)"
    )
    parser.add_argument("--broadcast-url", help="with --url: a loopback /api/broadcast to POST to")
    parser.add_argument("--config", default="", help="config label for --url/--loopback rows")
    args = parser.parse_args(argv)
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; known: {list(CONFIGS)}")
    if args.url and not (args.sandbox_host or args.broadcast_url):
        parser.error("--url needs --sandbox-host NAME or --broadcast-url URL")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    log = _stderr_log

    def emit(row: Mapping[str, Any]) -> None:
        print(json.dumps(row), flush=True)

    try:
        run_deadline = time.monotonic() + args.max_seconds
        if args.loopback:
            with loopback_server(args.loopback) as server:
                emit(
                    measure(
                        args,
                        server.url,
                        args.config or f"loopback-{args.loopback}",
                        http_trigger(server.broadcast_url, args.event),
                        run_deadline,
                        server_rss=local_rss({"app": server.pid}),
                        server_health=http_health(server.url),
                        log=log,
                    )
                )
        elif args.url:
            if args.sandbox_host:
                run = sandbox_runner(args.sandbox_host)
                trigger, rss, health = ssh_trigger(run, args.event), ssh_rss(run), ssh_health(run)
            else:
                trigger, rss = http_trigger(args.broadcast_url, args.event), None
                health = http_health(args.url)
            emit(
                measure(
                    args,
                    args.url,
                    args.config,
                    trigger,
                    run_deadline,
                    server_rss=rss,
                    server_health=health,
                    log=log,
                )
            )
        else:
            sandbox_rows(args, emit, log)
    except RuntimeError as error:  # CapacityError, and sandbox errors (not root, host not up)
        log(f"ws_capacity: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
