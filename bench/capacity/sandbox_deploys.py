"""The configurations compared on a sandbox host ("stock": the tuning off, "wsready": the
defaults), each deployed and then loaded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.capacity.common import ROOT, CapacityError, Log, RssReader, Trigger
from bench.capacity.load import run_load
from bench.capacity.server import sandbox_module, sandbox_runner, ssh_health, ssh_rss, ssh_trigger
from bench.capacity.stats import ratio_row

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
    sandbox = sandbox_module()
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
