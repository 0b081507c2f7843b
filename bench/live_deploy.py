"""What a release deploy does to connected clients, on a real sandbox host.

    python bench/live_deploy.py --clients 300 [--processes 3] [--configs one-at-a-time,all]
                                [--inventory INV --host NAME]
    python bench/live_deploy.py --rollout --clients 300 [--processes 3] [--inventory INV]

Official socket.io-client 4 clients with the default options (tests/oracle/live_clients.js,
spread over `--processes` processes) connect through nginx; a broadcast with a sequence
number goes out every 250 ms (POST /api/broadcast on the host's loopback, over one SSH
session, to the first worker that accepts it); then a release deploy runs (an `app_env`
change, so every worker restarts) with the configuration's `app_restart`. One JSON row per
configuration: disconnects per client (max, mean), clients moved more than once, connect
errors by kind, time disconnected (p50/p99/max), clients with a broadcast gap, broadcasts
missed, recovered fraction, deploy seconds.

Without `--inventory`, it starts one sandbox host, deploys it, and removes it at the end (also
on failure). Bounded: at most 20,000 clients and 20 processes (5,000 each); each deploy at
most 15 minutes. `--connect-rate R` opens the clients at R a second in all (0: at once), and
`--data KEY=VALUE` (repeatable) goes to the host's first deploy and to every release deploy,
e.g. `--data app_drain_rate=200` to pace the hand-over.

`--rollout`: across hosts, through the front door. The fleet is `wsready sandbox up --hosts 2
--balancer` (two app hosts, their Redis, an HAProxy balancer; started, deployed with one
`pyinfra -y INV deploy.py` and removed at the end without `--inventory`). The clients connect
through the balancer with cookies kept (`withCredentials`: its stickiness), the broadcasts go
out on the first app host (the shared Redis carries them to the other), and `wsready rollout
INV -- --data app_env=…` deploys the hosts one at a time. The row (config "rollout") adds, per
client, how often it changed host (from the balancer's cookie at each connect), the clients
per host before and after, and the rollout's own progress lines (the hosts' turns).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wsready import sandbox  # noqa: E402
from wsready.sandbox.state import HostState  # noqa: E402

CLIENTS_JS = ROOT / "tests" / "oracle" / "live_clients.js"
BROADCAST_EVERY_S = 0.25
SETTLE_S = 3.0  # broadcasts before the deploy, and after it before counting
DEPLOY_TIMEOUT_S = 900
MAX_CLIENTS = 20_000
MAX_PROCESSES = 20
PER_PROCESS = 5000  # tests/oracle/live_clients.js's own limit
EPHEMERAL_PORTS = 28_232  # 32768-60999: one source address toward one host address and port
PORTS_FREE_WITHIN_S = 150  # TIME_WAIT lasts 60 s here
CONFIGS = {"restart-all": "all", "one-at-a-time": "one-at-a-time", "wsready": "generations"}


class BenchError(RuntimeError):
    """A run that cannot be measured: a deploy failed, clients did not connect."""


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


@dataclass
class Broadcaster:
    """A sequence-numbered broadcast every 250 ms, over one SSH session to the host."""

    host: str
    ports: list[int]
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    accepted: dict[int, tuple[int, int]] = field(default_factory=dict)  # seq -> (port, ms)

    def __post_init__(self) -> None:
        tries = " ".join(str(port) for port in self.ports)
        loop = (
            "while read n; do s=000; for port in " + tries + "; do "
            "s=$(curl -sS -o /dev/null -w '%{http_code}' -m 2 -H 'Content-Type: application/json' "
            '--data-binary "{\\"event\\":\\"seq\\",\\"data\\":{\\"seq\\":$n}}" '
            '"http://127.0.0.1:$port/api/broadcast" 2>/dev/null); '
            '[ "$s" = 200 ] && break; done; echo "$n $s $port $(date +%s%3N)"; done'
        )
        state = HostState.load(self.host)
        self.process = subprocess.Popen(
            [
                "ssh", "-i", state.ssh_key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                f"root@{state.address}", loop,
            ],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        self.stop_event = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.writer.start()

    def _write(self) -> None:
        seq = 0
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            seq += 1
            self.process.stdin.write(f"{seq}\n")
            self.process.stdin.flush()
            next_at += BROADCAST_EVERY_S
            time.sleep(max(0.0, next_at - time.monotonic()))

    def _read(self) -> None:
        for line in self.process.stdout:
            seq, status, port, at = line.split()
            (self.sent if status == "200" else self.failed).append(int(seq))
            if status == "200":
                self.accepted[int(seq)] = (int(port), int(at))

    def last(self) -> int:
        return max(self.sent, default=0)

    def stop(self) -> None:
        self.stop_event.set()
        self.writer.join()
        self.process.stdin.close()
        self.reader.join(timeout=30)
        self.process.wait(timeout=30)


class ClientProcess:
    """One live_clients.js process holding `count` clients (keeping cookies: a balancer's
    stickiness, with `with_credentials`)."""

    def __init__(
        self,
        url: str,
        count: int,
        with_credentials: bool = False,
        connect_timeout_s: int = 30,
        connect_rate: int = 0,
    ) -> None:
        argv = ["node", str(CLIENTS_JS), "--url", url, "--clients", str(count)]
        argv += ["--connect-timeout-ms", str(connect_timeout_s * 1000)]
        argv += ["--connect-rate", str(connect_rate)]
        if with_credentials:
            argv += ["--with-credentials", "1"]
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def ready(self) -> dict:
        return json.loads(self.process.stdout.readline())["ready"]

    def result(self, first: int, last: int) -> list[dict]:
        self.process.stdin.write(f"stop {first} {last}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        self.process.wait(timeout=60)
        return json.loads(line)["result"]


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summarize(config: str, clients: list[dict], deploy_s: float, sent: int) -> dict:
    """The row for one configuration from every client's result."""
    disconnects = [c["disconnects"] for c in clients]
    down = [ms for c in clients for ms in c["down_ms"]]
    reconnects = sum(c["reconnects"] for c in clients)
    errors: Counter[str] = Counter()
    for c in clients:
        errors.update(c["errors"])
    return {
        "config": config,
        "clients": len(clients),
        "broadcasts": sent,
        "disconnects_per_client": {
            "max": max(disconnects, default=0),
            "mean": round(statistics.fmean(disconnects), 3) if disconnects else 0,
        },
        "moved_more_than_once": sum(1 for d in disconnects if d > 1),
        "connect_errors": dict(errors),
        "disconnected_ms": {
            "p50": percentile(down, 0.5),
            "p99": percentile(down, 0.99),
            "max": max(down, default=0),
        },
        "still_disconnected": sum(1 for c in clients if not c["connected"]),
        "clients_with_gap": sum(1 for c in clients if c["seq"]["missed"] > 0),
        "broadcasts_missed": sum(c["seq"]["missed"] for c in clients),
        "duplicates": sum(c["seq"]["duplicates"] for c in clients),
        "recovered_fraction": round(sum(c["recovered"] for c in clients) / reconnects, 4)
        if reconnects
        else None,
        "deploy_s": round(deploy_s, 1),
    }


MAX_TRACES = 5


def gap_traces(clients: list[dict], accepted: dict[int, tuple[int, int]]) -> list[dict]:
    """For the first clients with a gap: the missed numbers with the worker port that
    accepted each and when (ms since the epoch, host clock), the client's disconnects and
    connects (with the worker it landed on), and when the broadcasts around the gap arrived."""
    traces = []
    for client in clients:
        if not client["seq"]["missed"] or len(traces) >= MAX_TRACES:
            continue
        missed = [
            {"seq": n, "port": accepted.get(n, (None, None))[0], "at": accepted.get(n, (0, 0))[1]}
            for n in client["seq"].get("numbers", [])
        ]
        traces.append({"missed": missed, **client.get("trace", {})})
    return traces


def deploy(inventory: Path, host: str, *data: str, fails: bool = False) -> tuple[float, str]:
    """Run the deploy on `host`; it must exit 0, or non-zero when it `fails` on purpose."""
    args = [sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploy.py", "--limit", host]
    for item in data:
        args += ["--data", item]
    started = time.monotonic()
    result = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=DEPLOY_TIMEOUT_S
    )
    seconds = time.monotonic() - started
    if (result.returncode != 0) != fails:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        outcome = f"exited {result.returncode}" + (", expected to fail" if fails else "")
        raise BenchError(f"deploy {outcome} after {seconds:.1f}s:\n{tail}")
    return seconds, result.stdout


BROADCAST_PORTS = [3000, 3001, 3002, 3003, 3100, 3101, 3102, 3103]  # both generations


def counted_around(
    config: str, procs: list, host: str, action: Callable[[], tuple[float, str]]
) -> tuple[dict, list[dict], str]:
    """Broadcast from `host` while `action` (a deploy or a rollout, returning its seconds and
    output) runs, settle, and count what the clients of `procs` saw: the row (`summarize`'s
    fields, broadcasts not accepted, when the action ran, gap traces), the per-client
    results and the action's output."""
    broadcaster = Broadcaster(host, BROADCAST_PORTS)
    time.sleep(SETTLE_S)
    first = broadcaster.last() + 1
    started = time.time()
    seconds, output = action()
    ended = time.time()
    time.sleep(SETTLE_S)
    broadcaster.stop()
    last = broadcaster.last()
    time.sleep(1.5)  # the last broadcasts arrive
    results = [item for proc in procs for item in proc.result(first, last)]
    # A broadcast no worker accepted was never sent: no client can have missed it.
    unsent = len([seq for seq in broadcaster.failed if first <= seq <= last])
    for item in results:
        item["seq"]["missed"] = max(0, item["seq"]["missed"] - unsent)
    row = summarize(config, results, seconds, last - first + 1 - unsent)
    row["broadcasts_not_accepted"] = unsent
    row["deploy_at_ms"] = [round(started * 1000), round(ended * 1000)]
    row["gap_traces"] = gap_traces(results, broadcaster.accepted)
    return row, results, output


def ports_held(address: str) -> int:
    """This machine's TCP sockets toward `address` in any state (TIME_WAIT included)."""
    listed = subprocess.run(
        ["ss", "-Htan", "dst", address], capture_output=True, text=True, check=True, timeout=30
    )
    return len(listed.stdout.splitlines())


def wait_for_ports(address: str, clients: int) -> None:
    """Wait (bounded) until the ephemeral ports toward `address` hold `clients` more: the
    clients of a previous configuration closed their side and left it in TIME_WAIT."""
    needed = min(EPHEMERAL_PORTS, clients + clients // 4)
    deadline = time.monotonic() + PORTS_FREE_WITHIN_S
    while (held := ports_held(address)) > EPHEMERAL_PORTS - needed:
        if time.monotonic() > deadline:
            raise BenchError(
                f"{held} ports toward {address} still held after {PORTS_FREE_WITHIN_S} s; "
                f"{clients} clients need {needed}"
            )
        time.sleep(1)


def measure(
    inventory: Path,
    host: str,
    address: str,
    config: str,
    clients: int,
    processes: int,
    run: str,
    data: tuple[str, ...] = (),
    fails: bool = False,
    connect_rate: int = 0,
) -> dict:
    """Connect `clients`, broadcast, deploy a release change with `config`, count.

    `data` adds `--data` items (e.g. a broken `app_source`); `fails` expects the deploy to
    exit non-zero (its verify gate refused the release); `connect_rate`: clients opened a
    second in all (0: at once)."""
    url = f"http://{address}"
    wait_for_ports(address, clients)
    sizes = [clients // processes + (1 if k < clients % processes else 0) for k in range(processes)]
    rate = -(-connect_rate // processes) if connect_rate else 0
    # 30 s to connect, plus the time the pacing itself takes
    timeout_s = 30 + (-(-max(sizes) // rate) if rate else 0)
    procs = [ClientProcess(url, size, connect_timeout_s=timeout_s, connect_rate=rate)
             for size in sizes if size]  # fmt: skip
    try:
        ready = [proc.ready() for proc in procs]
        failed = sum(r["failed"] for r in ready)
        if failed:
            raise BenchError(f"{failed} of {clients} clients did not connect before the deploy")
        env = json.dumps({"WSREADY_BENCH_RUN": run})
        row, _results, _output = counted_around(
            config, procs, host,
            lambda: deploy(inventory, host, f"app_restart={json.dumps(CONFIGS[config])}",
                           f"app_env={env}", *data, fails=fails),
        )  # fmt: skip
        if data:
            row["data"] = list(data)
        return row
    finally:
        for proc in procs:
            if proc.process.poll() is None:
                proc.process.kill()


ROLLOUT_TIMEOUT_S = 1800
CONNECT_TIMEOUT_S = 120  # for every client to connect and upgrade through the balancer
ROLLOUT_PROGRESS = re.compile(r"^rollout: (?!\$ )(.*)")  # its own lines, not the pyinfra argv


def host_moves(hosts: list[str | None]) -> int:
    """How often a client changed host, from the host of each of its connects in order (the
    first: where it was before; None: not known, skipped)."""
    known = [host for host in hosts if host]
    return sum(1 for before, after in zip(known, known[1:], strict=False) if before != after)


def rollout_fields(clients: list[dict], output: str) -> dict:
    """What a rollout did to the clients across hosts, and the rollout's own progress."""
    moves = [host_moves(c.get("hosts", [])) for c in clients]
    first = Counter(str(c["hosts"][0]) for c in clients if c.get("hosts"))
    last = Counter(str(c["hosts"][-1]) for c in clients if c.get("hosts"))
    return {
        "host_moves_per_client": {
            "max": max(moves, default=0),
            "mean": round(statistics.fmean(moves), 3) if moves else 0,
        },
        "moved_host_more_than_once": sum(1 for m in moves if m > 1),
        "clients_per_host_before": dict(sorted(first.items())),
        "clients_per_host_after": dict(sorted(last.items())),
        "rollout": [m.group(1) for m in map(ROLLOUT_PROGRESS.search, output.splitlines()) if m],
    }


def rollout(inventory: Path, data: str) -> tuple[float, str]:
    """`wsready rollout INV -- --data DATA`: its seconds and output; BenchError on failure."""
    wsready = Path(sys.executable).with_name("wsready")
    args = [str(wsready), "rollout", str(inventory), "--", "--data", data]
    started = time.monotonic()
    result = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=ROLLOUT_TIMEOUT_S
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise BenchError(f"rollout failed after {seconds:.1f}s:\n{tail}")
    return seconds, result.stdout


def measure_rollout(
    inventory: Path, first_app: str, balancer: str, clients: int, processes: int, run: str
) -> dict:
    """Connect `clients` through the balancer, broadcast, roll an `app_env` change out over
    every host of `inventory` with `wsready rollout`, count."""
    url = f"http://{balancer}"
    sizes = [clients // processes + (1 if k < clients % processes else 0) for k in range(processes)]
    # Every client connects through the balancer at once, on a machine that also runs the
    # 4 hosts: more time than the 30 s default (1,000 clients: 166 were not in after 30 s).
    procs = [
        ClientProcess(url, size, with_credentials=True, connect_timeout_s=CONNECT_TIMEOUT_S)
        for size in sizes
        if size
    ]
    try:
        ready = [proc.ready() for proc in procs]
        failed = sum(r["failed"] for r in ready)
        if failed:
            raise BenchError(f"{failed} of {clients} clients did not connect before the rollout")
        env = json.dumps({"WSREADY_BENCH_RUN": run})
        row, results, output = counted_around(
            "rollout", procs, first_app, lambda: rollout(inventory, f"app_env={env}")
        )
        row.update(rollout_fields(results, output))
        return row
    finally:
        for proc in procs:
            if proc.process.poll() is None:
                proc.process.kill()


def fleet_of(inventory: Path) -> tuple[str, str]:
    """The first app host's name and the balancer's address, from a sandbox inventory."""
    from wsready import inventory as inventories

    loaded = inventories.load(str(inventory))
    apps = [h for h in loaded if "balancer" not in h.groups and "redis" not in h.groups]
    doors = [h for h in loaded if "balancer" in h.groups]
    if not apps or len(doors) != 1:
        raise BenchError(f"{inventory}: needs app hosts and one host in group `balancer`")
    return apps[0].name, HostState.load(doors[0].name).address


def run_rollout(args: argparse.Namespace) -> None:
    own = None
    if args.inventory is None:
        own = Path(tempfile.mkdtemp(prefix="wsready-live-")) / "sandbox.py"
        inventory = own
    else:
        inventory = args.inventory
    try:
        if own is not None:
            sandbox.up(2, own, balancer=True, redis=True)
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "pyinfra", "-y", str(own), "deploy.py"],
                cwd=ROOT, capture_output=True, text=True, timeout=DEPLOY_TIMEOUT_S,
            )  # fmt: skip
            if result.returncode != 0:
                tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
                raise BenchError(f"the fleet's deploy failed:\n{tail}")
            print(f"# fleet deployed in {time.monotonic() - started:.1f} s", file=sys.stderr)
        first_app, balancer = fleet_of(inventory)
        emit(measure_rollout(inventory, first_app, balancer, args.clients, args.processes,
                             f"{time.time():.0f}-rollout"))  # fmt: skip
    finally:
        if own is not None:
            sandbox.down(own)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--configs", default="restart-all,one-at-a-time,wsready")
    parser.add_argument("--connect-rate", type=int, default=0, help="clients opened a second")
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a data item for the host's first deploy and every release deploy (repeatable)",
    )
    parser.add_argument("--inventory", type=Path, help="an inventory of sandbox hosts, deployed")
    parser.add_argument("--host", help="the host of --inventory to use")
    parser.add_argument(
        "--rollout",
        action="store_true",
        help="`wsready rollout` of app hosts behind a balancer (--inventory: such a sandbox)",
    )
    args = parser.parse_args()
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients {args.clients}: must be 1..{MAX_CLIENTS}")
    if not 1 <= args.processes <= MAX_PROCESSES:
        parser.error(f"--processes {args.processes}: must be 1..{MAX_PROCESSES}")
    if -(-args.clients // args.processes) > PER_PROCESS:
        parser.error(f"--clients {args.clients} over --processes {args.processes}: at most "
                     f"{PER_PROCESS} per process")  # fmt: skip
    if not 0 <= args.connect_rate <= 100_000:
        parser.error(f"--connect-rate {args.connect_rate}: must be 0..100000")
    bad = [item for item in args.data if not re.fullmatch(r"[a-z][a-z0-9_]*=.*", item, re.S)]
    if bad:
        parser.error(f"--data {bad[0]!r}: must be KEY=VALUE")
    configs = args.configs.split(",")
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown {unknown} (known: {', '.join(CONFIGS)})")
    if args.rollout:
        if args.host is not None:
            parser.error("--rollout takes no --host: it rolls out every host of --inventory")
        run_rollout(args)
        return 0
    if (args.inventory is None) != (args.host is None):
        parser.error("--inventory and --host go together")

    own = None
    if args.inventory is None:
        own = Path(tempfile.mkdtemp(prefix="wsready-live-")) / "sandbox.py"
        hosts = sandbox.up(1, own)
        inventory, host, address = own, hosts[0].name, hosts[0].address
        deploy(inventory, host, *args.data)
    else:
        inventory, host = args.inventory, args.host
        address = HostState.load(host).address
    try:
        for number, config in enumerate(configs):
            emit(measure(inventory, host, address, config, args.clients, args.processes,
                         f"{time.time():.0f}-{number}", tuple(args.data),
                         connect_rate=args.connect_rate))  # fmt: skip
    finally:
        if own is not None:
            sandbox.down(own)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
