"""How long `wsready check` takes over a fleet: 1 target, N one at a time, N at once.

Starts one loopback Node process serving N Socket.IO targets whose /api/health answers after
DELAY_MS, then times the real CLI (real probes) three ways and prints the figures:

    python bench/check_fleet.py [--targets 50] [--delay-ms 500]

Loopback only; bounded: at most 200 targets, each CLI run limited to 300 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "bench" / "slow_fleet_server.js"
RUN_LIMIT_S = 300


def start_fleet(count: int, delay_ms: int) -> tuple[subprocess.Popen[str], list[int]]:
    server = subprocess.Popen(
        ["node", str(SERVER), str(count), str(delay_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line:
        server.kill()
        raise SystemExit(f"{SERVER.name} did not start (exit {server.wait()})")
    return server, json.loads(line)["ports"]


def timed_check(urls: list[str], concurrency: int) -> tuple[float, float, str]:
    """Wall seconds of `wsready check`, the check's own duration, and its overall status."""
    command = [
        sys.executable, "-m", "wsready.cli", "check", "--json", "--retries", "0",
        "--timeout", "10", "--concurrency", str(concurrency), *urls,
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_LIMIT_S, cwd=ROOT, check=False
    )
    wall = time.monotonic() - started
    if result.returncode not in (0, 1, 2):
        raise SystemExit(f"wsready check failed (exit {result.returncode}): {result.stderr}")
    report = json.loads(result.stdout)
    slowest = max(target["duration_s"] for target in report["targets"])
    return wall, report["duration_s"], f"{report['status']}, slowest target {slowest:.2f}s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--delay-ms", type=int, default=500)
    args = parser.parse_args(argv)
    if not 1 <= args.targets <= 200:
        parser.error(f"--targets {args.targets}: must be 1 to 200")
    server, ports = start_fleet(args.targets, args.delay_ms)
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        print(f"{len(urls)} loopback targets, /api/health delayed {args.delay_ms} ms, "
              f"{os.cpu_count()} CPUs")  # fmt: skip
        runs = {
            "1 target": timed_check(urls[:1], 1),
            f"{len(urls)} targets, --concurrency 1": timed_check(urls, 1),
            f"{len(urls)} targets, --concurrency {len(urls)}": timed_check(urls, len(urls)),
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{'run':<32} {'wall s':>7} {'check s':>8}  result")
    for name, (wall, check, status) in runs.items():
        print(f"{name:<32} {wall:>7.2f} {check:>8.2f}  {status}")
    one, sequential, concurrent = (check for _wall, check, _status in runs.values())
    print(f"concurrent / one target: {concurrent / one:.2f}x")
    print(f"sequential / concurrent: {sequential / concurrent:.1f}x faster at once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
