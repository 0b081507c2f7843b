"""Deploy cost on real sandbox hosts: a fresh deploy against a run that has nothing to change.

    python bench/deploy_rerun.py [--hosts 5] [--reruns 3] [--profile]

For 1 host and then for `--hosts` hosts in parallel (when more than 1), starts its own sandbox
hosts (root, systemd-nspawn), runs `pyinfra -y INVENTORY deploy.py` once on the fresh hosts,
then `--reruns` more times with nothing to change (probes included), and prints one JSON row
per fleet size, then a summary with the ratio N hosts / 1 host. With `--profile`, one more
no-change run of the largest fleet is timed under cProfile and its top functions by
cumulative time are printed (a JSON row). The hosts are removed at the end, also on failure.
Targets: a no-change re-run <= 3 s for one host; N hosts <= 1.5x one host.
Bounded: at most 5 hosts and 6 re-runs, each run at most 15 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
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
MAX_HOSTS = 5


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


def timed_deploy(inventory: Path, profile: Path | None = None) -> tuple[float, str]:
    """Seconds of one deploy and its output; raises with pyinfra's last lines when it fails."""
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += ["-m", "pyinfra", "-y", str(inventory), "deploy.py"]
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        tail = "\n".join(output.splitlines()[-30:])
        raise SystemExit(f"deploy failed after {seconds:.1f}s:\n{tail}")
    return seconds, output


def changed_count(output: str) -> int | None:
    """Operations pyinfra reports as changed in its results table (None if not found)."""
    for line in output.splitlines():
        if line.strip().startswith("Changed:"):  # pyinfra 3 summary line
            try:
                return int(line.split(":", 1)[1].split()[0])
            except (ValueError, IndexError):
                return None
    return None


def top_functions(profile: Path, count: int = 25) -> list[dict]:
    stats = pstats.Stats(str(profile))
    rows = []
    for (filename, line, name), (_cc, calls, _tt, cumtime, _callers) in stats.stats.items():
        rows.append((cumtime, calls, f"{Path(filename).name}:{line}({name})"))
    rows.sort(reverse=True)
    return [
        {"function": where, "calls": calls, "cumulative_s": round(cumtime, 3)}
        for cumtime, calls, where in rows[:count]
    ]


def measure(hosts: int, reruns: int, work: Path, profile: bool) -> dict:
    inventory = work / f"sandbox-{hosts}.py"
    started = time.monotonic()
    sandbox.up(hosts, inventory, log=lambda line: None)
    up_s = time.monotonic() - started
    row: dict = {"hosts": hosts, "sandbox_up_s": round(up_s, 1)}
    try:
        fresh, _ = timed_deploy(inventory)
        times = []
        for _ in range(reruns):
            seconds, output = timed_deploy(inventory)
            times.append(seconds)
        row.update(
            fresh_s=round(fresh, 1),
            no_change_s=[round(seconds, 2) for seconds in times],
            no_change_median_s=round(statistics.median(times), 2),
            no_change_changed_ops=changed_count(output),
        )
        if profile:
            profile_file = work / f"rerun-{hosts}.prof"
            seconds, _ = timed_deploy(inventory, profile_file)
            row["profiled_run_s"] = round(seconds, 2)
            row["profile_top"] = top_functions(profile_file)
    finally:
        started = time.monotonic()
        sandbox.down(inventory)
        row["sandbox_down_s"] = round(time.monotonic() - started, 1)
    row["fresh_over_no_change"] = round(row["fresh_s"] / row["no_change_median_s"], 1)
    row["loadavg_1m"] = float(Path("/proc/loadavg").read_text().split()[0])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5, choices=range(1, MAX_HOSTS + 1))
    parser.add_argument("--reruns", type=int, default=3, choices=range(1, 7))
    parser.add_argument("--profile", action="store_true", help="cProfile one more re-run")
    args = parser.parse_args(argv)

    sizes = [1] if args.hosts == 1 else [1, args.hosts]
    rows = []
    with tempfile.TemporaryDirectory(prefix="wsready-bench-") as work:
        for hosts in sizes:
            row = measure(hosts, args.reruns, Path(work), args.profile and hosts == sizes[-1])
            emit({key: value for key, value in row.items() if key != "profile_top"})
            if "profile_top" in row:
                emit({"hosts": hosts, "profile_top": row["profile_top"]})
            rows.append(row)
    one = rows[0]
    summary = {
        "part": "summary",
        "cpus": os.cpu_count(),
        "one_host_no_change_s": one["no_change_median_s"],
        "one_host_target_3s_met": one["no_change_median_s"] <= 3,
    }
    if len(rows) > 1:
        many = rows[-1]
        summary.update(
            hosts=many["hosts"],
            fresh_ratio=round(many["fresh_s"] / one["fresh_s"], 2),
            no_change_ratio=round(many["no_change_median_s"] / one["no_change_median_s"], 2),
        )
        summary["no_change_target_1_5x_met"] = summary["no_change_ratio"] <= 1.5
    emit(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
