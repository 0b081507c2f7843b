"""One capacity run: N clients connected at a bounded ramp, held, one broadcast to all,
released; and the wait until the server is idle again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bench.capacity.common import (
    CLIENTS_JS,
    EVENT_RE,
    MAX_CLIENTS,
    MAX_CLIENTS_PER_PROCESS,
    MAX_PROCESSES,
    PROGRESS_EVERY_S,
    CapacityError,
    Log,
    RssReader,
    Trigger,
    stderr_log,
)
from bench.capacity.generators import GeneratorFleet, node_binary, wait_for_ports
from bench.capacity.stats import check_target, default_processes, heap_mb, split_clients, summarize


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
    log: Log = stderr_log,
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
    fleet = GeneratorFleet(log)
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
        node = node_binary()
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
