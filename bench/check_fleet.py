"""How long `wsready check` takes over a fleet, and what one target's probe costs.

    python bench/check_fleet.py [--targets 1000] [--concurrency 64] [--runs 3]
                                [--slow-targets 50] [--delay-ms 500] [--repeat 50]
                                [--baseline-processes 1]

Three parts, all against loopback Node processes (bench/slow_fleet_server.js, Socket.IO 4.8
from files/app at path /ws), all through the real CLI or the real probes:

1. fleet: `--targets` targets whose /api/health answers at once; the CLI checks all of them
   with the full handshake (DNS, TCP, /api/health, WebSocket upgrade, Engine.IO open,
   Socket.IO CONNECT, polling, the sampled sessions) at `--concurrency` (and once at the
   CLI's default 16), the check sharing the fleet out over its processes as it chooses, and
   once at the default concurrency in `--baseline-processes` processes (1: the engine bound
   to one core) or with the check of `--baseline-tree` (a checkout from before a change),
   for a ratio in the same run. Each row has the check's peak RSS (its
   processes together, sampled every 50 ms). Targets: 1,000 targets in <= 2 s, 10,000 in
   <= 15 s.
2. session: one session as the official client opens it, walked by wsready
   (wsready/probes/session.py: every answer recorded, a message each way), against the same
   steps done bare, per kind (polling + its upgrade; WebSocket-only); medians. Target:
   <= 2x bare per session. Then the sampling bound (sessions per run by workers listed), and
   one target's full probe (`run_probes`) against a bare WebSocket handshake, for the record.
3. slow: `--slow-targets` targets whose /api/health answers after `--delay-ms` (one target
   takes a known time): 1 target, all one at a time, all at once (0 skips this part).

Prints one JSON object per line: a row per run, then a summary. Loopback only; bounded:
at most 10,000 fleet targets (a server process per 1,000), 200 slow targets, 200 repeats,
5 runs; each CLI run at most 600 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from wsready.processes import stop_processes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SERVER = ROOT / "bench" / "slow_fleet_server.js"
RUN_LIMIT_S = 600
TARGETS_PER_SERVER = 1000  # what one bench/slow_fleet_server.js serves
DEFAULT_CONCURRENCY = 16  # `wsready check`'s own default


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


class Fleet:
    """bench/slow_fleet_server.js processes serving `count` targets, 1,000 per process."""

    def __init__(self, count: int, delay_ms: int) -> None:
        self.servers: list[subprocess.Popen[str]] = []
        self.ports: list[int] = []
        try:
            for start in range(0, count, TARGETS_PER_SERVER):
                size = min(TARGETS_PER_SERVER, count - start)
                server = subprocess.Popen(
                    ["node", str(SERVER), str(size), str(delay_ms)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                self.servers.append(server)
                assert server.stdout is not None
                line = server.stdout.readline()
                if not line:
                    raise SystemExit(f"{SERVER.name} did not start (exit {server.wait()})")
                self.ports += json.loads(line)["ports"]
        except BaseException:
            self.stop()
            raise

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(server.pid) for server in self.servers)

    def stop(self) -> None:
        for server in self.servers:
            stop(server)


def stop(server: subprocess.Popen[str]) -> None:
    stop_processes(server)


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and its descendants (from /proc); 0 once it is gone."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_check(
    urls: list[str],
    concurrency: int,
    fleet: Fleet,
    processes: int | None = None,
    tree: Path = ROOT,
) -> dict:
    """One `wsready check` run: wall s (with the CLI's start-up), the check's own duration,
    statuses, the CPU seconds of the check (its processes together) and of the fleet's
    servers, and the check's peak RSS (its processes together, sampled every 50 ms)."""
    command = [
        sys.executable, "-m", "wsready.cli", "check", "--json", "--retries", "0",
        "--timeout", "10", "--concurrency", str(concurrency), *urls,
    ]  # fmt: skip
    if processes is not None:
        command[5:5] = ["--processes", str(processes)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = fleet.cpu_seconds()
    peak = 0
    with tempfile.TemporaryFile("w+") as out:
        started = time.monotonic()
        check = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, text=True, cwd=tree)
        while check.poll() is None:
            peak = max(peak, tree_rss(check.pid))
            if time.monotonic() - started > RUN_LIMIT_S:
                check.kill()
            time.sleep(0.05)
        wall = time.monotonic() - started
        stderr = check.stderr.read() if check.stderr else ""
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if check.returncode not in (0, 1, 2):
            raise SystemExit(f"wsready check failed (exit {check.returncode}): {stderr}")
        out.seek(0)
        report = json.load(out)
    check_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "targets": len(urls),
        "concurrency": concurrency,
        "processes": processes or "auto",
        "tree": "this" if tree == ROOT else str(tree),
        "wall_s": round(wall, 3),
        "check_s": report["duration_s"],
        "status": report["status"],
        "statuses": dict(Counter(target["status"] for target in report["targets"])),
        "slowest_target_s": max(target["duration_s"] for target in report["targets"]),
        "check_cpu_s": round(check_cpu, 2),
        "check_peak_rss_mib": round(peak / 2**20, 1),
        "server_cpu_s": round(fleet.cpu_seconds() - server_before, 2),
        "loadavg_1m": float(Path("/proc/loadavg").read_text().split()[0]),
    }


def bare_handshake(port: int) -> float:
    """A bare websocket-client Socket.IO handshake: upgrade, open packet, CONNECT, close."""
    import websocket

    started = time.perf_counter()
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/ws/?EIO=4&transport=websocket",
        timeout=10,
        suppress_origin=True,
        http_no_proxy=["*"],
    )
    try:
        if not ws.recv().startswith("0{"):
            raise SystemExit("bare handshake: no Engine.IO open packet")
        ws.send("40")
        if not ws.recv().startswith("40"):
            raise SystemExit("bare handshake: no Socket.IO CONNECT answer")
    finally:
        ws.close(timeout=1)
    return time.perf_counter() - started


def bare_same_steps(port: int) -> float:
    """What one target's probe does on the wire, done bare (plain sockets, requests and
    websocket-client, nothing recorded or judged): a TCP connect; a request without Host;
    GET /api/health; the polling handshake and its close; the upgrade with open and CONNECT;
    then the sampled sessions of a target that lists no workers: 2 polling sessions (with
    their upgrades) and 2 WebSocket-only handshakes."""
    import socket

    import requests

    started = time.perf_counter()
    socket.create_connection(("127.0.0.1", port), timeout=10).close()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        raw.recv(4096)
    base = f"http://127.0.0.1:{port}"
    with requests.Session() as session:
        session.trust_env = False
        session.get(f"{base}/api/health", timeout=10).json()
    polling = f"{base}/ws/?EIO=4&transport=polling"
    with requests.Session() as session:
        session.trust_env = False
        sid = json.loads(session.get(polling, timeout=10).text[1:])["sid"]
    with requests.Session() as session:
        session.trust_env = False
        session.post(f"{polling}&sid={sid}", data=b"1", timeout=10)
    bare_handshake(port)
    for _ in range(2):
        bare_polling_session(port)
    for _ in range(2):
        bare_handshake(port)
    return time.perf_counter() - started


def probe_vs_bare(ports: list[int], repeat: int) -> dict:
    """Medians of one target's full probe and of a bare handshake, interleaved, same server."""
    from wsready.probes import Target, run_probes

    bare, same, full, per_probe = [], [], [], {}
    for i in range(repeat + 5):  # the first 5 of each warm up imports and caches
        port = ports[i % len(ports)]
        bare_s = bare_handshake(port)
        same_s = bare_same_steps(port)
        started = time.perf_counter()
        results = run_probes(Target(f"http://127.0.0.1:{port}"), 10.0)
        full_s = time.perf_counter() - started
        failed = [result.probe for result in results if not result.ok and not result.skipped]
        if failed:
            raise SystemExit(f"probe of 127.0.0.1:{port} failed: {failed}")
        if i < 5:
            continue
        bare.append(bare_s)
        same.append(same_s)
        full.append(full_s)
        for result in results:
            if not result.skipped:
                per_probe.setdefault(result.probe, []).append(result.duration_s)
    probe_ms = statistics.median(full) * 1000
    bare_ms = statistics.median(bare) * 1000
    same_ms = statistics.median(same) * 1000
    return {
        "part": "probe",
        "repeat": repeat,
        "probe_median_ms": round(probe_ms, 2),
        "bare_handshake_median_ms": round(bare_ms, 2),
        "probe_over_bare": round(probe_ms / bare_ms, 2),
        "bare_same_steps_median_ms": round(same_ms, 2),
        "probe_over_bare_same_steps": round(probe_ms / same_ms, 2),
        "probe_steps_median_ms": {
            name: round(statistics.median(values) * 1000, 2) for name, values in per_probe.items()
        },
    }


def bare_polling_session(port: int) -> float:
    """The default client's session with nothing else: polling handshake, POST 40, GET 40,
    the upgrade with its sid (2probe, 3probe, 5), close; plain requests + websocket-client."""
    import requests
    import websocket

    base = f"http://127.0.0.1:{port}/ws/?EIO=4&transport=polling"
    started = time.perf_counter()
    with requests.Session() as session:
        session.trust_env = False
        opened = json.loads(session.get(base, timeout=10).text[1:])
        sid = opened["sid"]
        session.post(f"{base}&sid={sid}", data=b"40", timeout=10)
        if not session.get(f"{base}&sid={sid}", timeout=10).text.startswith("40"):
            raise SystemExit("bare session: no CONNECT answer")
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/ws/?EIO=4&transport=websocket&sid={sid}",
        timeout=10,
        suppress_origin=True,
        http_no_proxy=["*"],
    )
    try:
        ws.send("2probe")
        if ws.recv() != "3probe":
            raise SystemExit("bare session: no 3probe")
        ws.send("5")
    finally:
        ws.close(timeout=1)
    return time.perf_counter() - started


def session_vs_bare(ports: list[int], repeat: int) -> dict:
    """Per session: wsready's walk of the official client's steps (every answer recorded,
    a message each way after the upgrade) against the same steps done bare; medians."""
    from wsready.probes import Target
    from wsready.probes.session import POLLING, WEBSOCKET, open_session

    timings: dict[str, list[float]] = {"polling": [], "bare_polling": [], "websocket": [],
                                       "bare_websocket": []}  # fmt: skip
    for i in range(repeat + 5):
        port = ports[i % len(ports)]
        target = Target(f"http://127.0.0.1:{port}")
        measured = {
            "bare_polling": bare_polling_session(port),
            "bare_websocket": bare_handshake(port),
        }
        for mode in (POLLING, WEBSOCKET):
            started = time.perf_counter()
            session = open_session(target, mode, 10.0, time.monotonic() + 30)
            measured[mode] = time.perf_counter() - started
            session.close()
            if not session.ok:
                raise SystemExit(f"{mode} session of 127.0.0.1:{port} failed: {session.failed}")
        if i >= 5:
            for name, value in measured.items():
                timings[name].append(value)
    ms = {name: statistics.median(values) * 1000 for name, values in timings.items()}
    return {
        "part": "session",
        "repeat": repeat,
        **{f"{name}_median_ms": round(value, 2) for name, value in ms.items()},
        "polling_over_bare": round(ms["polling"] / ms["bare_polling"], 2),
        "websocket_over_bare": round(ms["websocket"] / ms["bare_websocket"], 2),
    }


def sampling_bound() -> dict:
    """How many sessions one probe run may open: per kind, 2 per worker /api/health lists,
    at least 2, at most 16 (wsready/probes/session.py); both kinds together."""
    from wsready.probes.session import session_bound

    return {
        "part": "sampling-bound",
        "sessions_per_run": {str(w): 2 * session_bound(["0"] * w) for w in (1, 2, 4, 8, 16, 64)},
    }


def fleet(args: argparse.Namespace) -> list[dict]:
    served = Fleet(args.targets, 0)
    ports = served.ports
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        rows = []
        if args.baseline_tree:  # another checkout's check (e.g. before a change): its defaults
            runs = [(DEFAULT_CONCURRENCY, None, args.baseline_tree)]
        elif args.baseline_processes:
            runs = [(DEFAULT_CONCURRENCY, args.baseline_processes, ROOT)]
        else:  # no baseline run (a large fleet: each run is minutes)
            runs = []
        runs += [(DEFAULT_CONCURRENCY, None, ROOT)]
        runs += [(args.concurrency, None, ROOT)] * args.runs
        for concurrency, processes, tree in runs:
            row = {"part": "fleet", **timed_check(urls, concurrency, served, processes, tree)}
            emit(row)
            rows.append(row)
        sessions = session_vs_bare(ports, args.repeat)
        emit(sessions)
        emit(sampling_bound())
        probe = probe_vs_bare(ports, args.repeat)
        emit(probe)
    finally:
        served.stop()
    return rows + [sessions, probe]


def slow(args: argparse.Namespace) -> list[dict]:
    served = Fleet(args.slow_targets, args.delay_ms)
    try:
        urls = [f"http://127.0.0.1:{port}" for port in served.ports]
        rows = []
        for name, chosen, concurrency in (
            ("1 target", urls[:1], 1),
            ("one at a time", urls, 1),
            ("all at once", urls, len(urls)),
        ):
            row = {"part": "slow", "run": name, "delay_ms": args.delay_ms}
            row.update(timed_check(chosen, concurrency, served))
            emit(row)
            rows.append(row)
    finally:
        served.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000, help="fleet size (1-10000)")
    parser.add_argument("--concurrency", type=int, default=64, help="for the fleet runs")
    parser.add_argument("--runs", type=int, default=3, help="more runs at --concurrency (0-5)")
    parser.add_argument("--repeat", type=int, default=50, help="probe/bare pairs (5-200)")
    parser.add_argument("--slow-targets", type=int, default=50, help="0-200; 0 skips")
    parser.add_argument("--delay-ms", type=int, default=500, help="slow /api/health delay")
    parser.add_argument(
        "--baseline-processes",
        type=int,
        default=1,
        help="the baseline run's --processes (1-64; 0: no baseline run)",
    )
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="run the baseline with the check of this checkout (e.g. a clone before a change)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.targets <= 10000:
        parser.error(f"--targets {args.targets}: must be 1 to 10000")
    if args.baseline_tree and not (args.baseline_tree / "wsready" / "cli.py").is_file():
        parser.error(f"--baseline-tree {args.baseline_tree}: no wsready/cli.py there")
    if not 0 <= args.baseline_processes <= 64:
        parser.error(f"--baseline-processes {args.baseline_processes}: must be 0 to 64")
    if not 1 <= args.concurrency <= 256:
        parser.error(f"--concurrency {args.concurrency}: must be 1 to 256")
    if not 0 <= args.runs <= 5:
        parser.error(f"--runs {args.runs}: must be 0 to 5")
    if not 5 <= args.repeat <= 200:
        parser.error(f"--repeat {args.repeat}: must be 5 to 200")
    if not 0 <= args.slow_targets <= 200:
        parser.error(f"--slow-targets {args.slow_targets}: must be 0 to 200")
    if not 1 <= args.delay_ms <= 10000:
        parser.error(f"--delay-ms {args.delay_ms}: must be 1 to 10000")

    rows = fleet(args)
    slow_rows = slow(args) if args.slow_targets else []
    has_baseline = bool(args.baseline_tree or args.baseline_processes)
    baseline = rows[0] if has_baseline else None
    sharded = rows[1 if has_baseline else 0]
    at_concurrency = [row for row in rows[:-2] if row is not baseline]
    at_concurrency = [row for row in at_concurrency if row["concurrency"] == args.concurrency]
    best = min(at_concurrency, key=lambda row: row["check_s"])
    probe = rows[-1]
    target_s = 2.0 if args.targets <= 1000 else 15.0
    wall_median = statistics.median(row["wall_s"] for row in at_concurrency)
    summary = {
        "part": "summary",
        "cpus": os.cpu_count(),
        "fleet_targets": args.targets,
        "fleet_concurrency": args.concurrency,
        "fleet_check_s_median": statistics.median(row["check_s"] for row in at_concurrency),
        "fleet_wall_s_median": wall_median,
        "fleet_best_check_s": best["check_s"],
        "fleet_all_ok": all(row["status"] == "OK" for row in rows[:-2]),
        "fleet_target_s": target_s,
        "fleet_target_met": min(wall_median, sharded["wall_s"]) <= target_s,
        "shared_out_over_baseline_wall": round(sharded["wall_s"] / baseline["wall_s"], 2)
        if baseline
        else None,
        "baseline": str(args.baseline_tree or f"--processes {args.baseline_processes}")
        if has_baseline
        else None,
        "check_peak_rss_mib_max": max(row["check_peak_rss_mib"] for row in rows[:-2]),
        "probe_over_bare": probe["probe_over_bare"],
        "probe_over_bare_same_steps": probe["probe_over_bare_same_steps"],
        "probe_target_2x_met": probe["probe_over_bare_same_steps"] <= 2,
        "session_polling_over_bare": rows[-2]["polling_over_bare"],
        "session_websocket_over_bare": rows[-2]["websocket_over_bare"],
        "session_target_2x_met": max(rows[-2]["polling_over_bare"], rows[-2]["websocket_over_bare"])
        <= 2,
    }
    if slow_rows:
        one, sequential, concurrent = (row["check_s"] for row in slow_rows)
        summary["slow_concurrent_over_one"] = round(concurrent / one, 2)
        summary["slow_sequential_over_concurrent"] = round(sequential / concurrent, 1)
    emit(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
