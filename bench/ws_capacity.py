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

Library: run_load(url, clients, processes, ramp_per_s, trigger_broadcast, ...) -> dict, and
the rest of __all__; bench/capacity/ holds it, one module per concern (its __init__ lists
them). This file is the command line.
"""

# ruff: noqa: E402 - the library is imported once the checkout is on sys.path
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, bench/ is on sys.path but not the checkout
    sys.path.insert(0, str(ROOT))

from bench.capacity.common import (
    DEFAULT_CLIENTS_PER_PROCESS,
    MAX_CLIENTS,
    CapacityError,
    SshRunner,
    Trigger,
    stderr_log,
)
from bench.capacity.generators import ports_in_use
from bench.capacity.load import run_load
from bench.capacity.loopback import free_port, loopback_server
from bench.capacity.sandbox_deploys import CONFIGS, deploy_argv, measure, sandbox_rows
from bench.capacity.server import (
    broadcast_command,
    http_health,
    http_trigger,
    local_rss,
    parse_ps_rss,
    ps_rss_command,
    sandbox_runner,
    serving_port,
    ssh_health,
    ssh_rss,
    ssh_trigger,
)
from bench.capacity.stats import (
    check_target,
    default_processes,
    percentile,
    ratio_row,
    split_clients,
    summarize,
)

# The library (bench/capacity/, one module per concern), as callers and tests use it.
__all__ = [
    "CONFIGS", "CapacityError", "SshRunner", "Trigger", "broadcast_command", "check_target",
    "default_processes", "deploy_argv", "free_port", "http_health", "http_trigger",
    "local_rss", "loopback_server", "main", "parse_args", "parse_ps_rss", "percentile",
    "ports_in_use", "ps_rss_command", "ratio_row", "run_load", "sandbox_runner",
    "serving_port", "split_clients", "ssh_health", "ssh_trigger", "summarize",
]  # fmt: skip


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
    log = stderr_log

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
