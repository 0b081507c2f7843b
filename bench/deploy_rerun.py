"""Deploy cost on real sandbox hosts: a fresh deploy against a run that has nothing to change.

    python bench/deploy_rerun.py [--hosts 1] [--reruns 3]

Starts its own sandbox hosts (root, systemd-nspawn), runs `pyinfra -y INVENTORY deploy.py`
once on fresh hosts, then `--reruns` more times with nothing to change, and prints the
seconds of each run and the ratio fresh / no-change. The hosts are removed at the end, also
on failure. Bounded: at most 4 hosts and 6 re-runs, each run at most 15 minutes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wsready import sandbox  # noqa: E402

RUN_TIMEOUT_S = 900


def timed_deploy(inventory: Path) -> float:
    """Seconds of one deploy; raises with pyinfra's last lines when it fails."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploy.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise SystemExit(f"deploy failed after {seconds:.1f}s:\n{tail}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1, choices=range(1, 5))
    parser.add_argument("--reruns", type=int, default=3, choices=range(1, 7))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="wsready-bench-") as work:
        inventory = Path(work) / "sandbox.py"
        started = time.monotonic()
        sandbox.up(args.hosts, inventory, log=lambda line: None)
        up_s = time.monotonic() - started
        try:
            fresh = timed_deploy(inventory)
            reruns = [timed_deploy(inventory) for _ in range(args.reruns)]
        finally:
            started = time.monotonic()
            sandbox.down(inventory)
            down_s = time.monotonic() - started

    rerun = statistics.median(reruns)
    print(f"hosts                  {args.hosts}")
    print(f"sandbox up             {up_s:6.1f} s")
    print(f"fresh deploy           {fresh:6.1f} s")
    print(f"no-change re-runs      {', '.join(f'{s:.1f}' for s in reruns)} s (median {rerun:.1f})")
    print(f"sandbox down           {down_s:6.1f} s")
    print(f"fresh / no-change      {fresh / rerun:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
