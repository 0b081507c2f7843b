"""CPU per target of the probes themselves, this checkout against another, interleaved.

    python bench/probe_cpu.py --baseline-tree DIR [--targets 100] [--pairs 3]

Each run is a fresh process that imports `wsready` from its tree and runs `run_probes` on
`--targets` loopback targets (bench/slow_fleet_server.js) one after the other in one thread:
CPU seconds (`time.process_time`) and wall time per target. Runs alternate baseline, this,
baseline, this…, so a machine that others load shifts both alike; the summary is the median
ratio this/baseline. Prints one JSON object per line. Loopback only; bounded: at most 500
targets and 10 pairs, each run at most 300 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "bench" / "slow_fleet_server.js"
RUN_LIMIT_S = 300

ONE_RUN = """
import json, subprocess, sys, time
tree, server, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, tree)
from wsready.probes import Target, run_probes
fleet = subprocess.Popen(["node", server, str(count), "0"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
try:
    ports = json.loads(fleet.stdout.readline())["ports"]
    for port in ports[:5]:  # warm-up: imports, caches
        run_probes(Target(f"http://127.0.0.1:{port}"), 10.0)
    cpu, wall = time.process_time(), time.perf_counter()
    failed = 0
    for port in ports:
        results = run_probes(Target(f"http://127.0.0.1:{port}"), 10.0)
        failed += not all(result.ok or result.skipped for result in results)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
finally:
    fleet.terminate()
print(json.dumps({"cpu_ms_per_target": round(cpu / count * 1000, 2),
                  "wall_ms_per_target": round(wall / count * 1000, 2), "failed": failed}))
"""


def one_run(tree: Path, targets: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", ONE_RUN, str(tree), str(SERVER), str(targets)],
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        cwd="/",
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"run with {tree} failed: {result.stderr[-2000:]}")
    row = json.loads(result.stdout.strip().splitlines()[-1])
    return {"tree": "this" if tree == ROOT else str(tree), "targets": targets, **row}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-tree", type=Path, required=True, help="another checkout")
    parser.add_argument("--targets", type=int, default=100, help="targets per run (10-500)")
    parser.add_argument("--pairs", type=int, default=3, help="baseline/this pairs (1-10)")
    args = parser.parse_args(argv)
    if not (args.baseline_tree / "wsready" / "probes").is_dir():
        parser.error(f"--baseline-tree {args.baseline_tree}: no wsready/probes there")
    if not 10 <= args.targets <= 500:
        parser.error(f"--targets {args.targets}: must be 10 to 500")
    if not 1 <= args.pairs <= 10:
        parser.error(f"--pairs {args.pairs}: must be 1 to 10")
    ratios = {"cpu": [], "wall": []}
    for _ in range(args.pairs):
        base, this = one_run(args.baseline_tree, args.targets), one_run(ROOT, args.targets)
        for row in (base, this):
            row["loadavg_1m"] = float(Path("/proc/loadavg").read_text().split()[0])
            print(json.dumps(row), flush=True)
        ratios["cpu"].append(this["cpu_ms_per_target"] / base["cpu_ms_per_target"])
        ratios["wall"].append(this["wall_ms_per_target"] / base["wall_ms_per_target"])
    summary = {
        "part": "summary",
        "pairs": args.pairs,
        "cpu_this_over_baseline_median": round(statistics.median(ratios["cpu"]), 2),
        "wall_this_over_baseline_median": round(statistics.median(ratios["wall"]), 2),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
