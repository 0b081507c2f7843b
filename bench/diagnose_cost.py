"""What one `diagnose()` costs: three recorded runs (every layer OK; a path mismatch; a front
door with a host that never answers), each diagnosed `--calls` times, best of `--repeat`.

    python bench/diagnose_cost.py [--calls 3000] [--repeat 5]

Prints one JSON line per run: the verdict's code and microseconds per call. It uses only
`ProbeResult`, `Target` and `diagnose`, so it runs unchanged in an older tree (docs/benchmarks.md
§7 compares the dict reads with the typed views)."""

from __future__ import annotations

import argparse
import json
import time

from wsready.probes import ProbeResult, Target
from wsready.probes.diagnosis import diagnose

WORKERS = [
    {"worker": str(n), "path": "/ws", "transports": ["polling", "websocket"], "config": "ab"}
    for n in range(2)
]


def _result(name: str, ok: bool, actual: str = "", **detail) -> ProbeResult:
    return ProbeResult(name, name, ok, "expected", actual, 0.01, detail=detail)


def _run(**replaced: ProbeResult) -> list[ProbeResult]:
    """A healthy two-worker host's results, with `replaced` in place of some."""
    ours = {"fingerprint": "ab", "server": "nginx"}
    results = {
        "dns": _result("dns", True, addresses=["10.0.0.1"]),
        "tcp": _result("tcp", True, connected=True),
        "server": _result("server", True, "400", status=400, **ours),
        "health": _result(
            "health",
            True,
            "200",
            status=200,
            worker_list=WORKERS,
            probe_events=True,
            redis="ok",
            clients=3,
            max_clients=100,
            workers_up=2,
            workers_total=2,
            **ours,
        ),  # fmt: skip
        "polling": _result("polling", True, "200", status=200, worker="0", **ours),
        "upgrade": _result("upgrade", True, "101", status=101),
        "open": _result("open", True, sid="x", ping_interval_ms=400, ping_timeout_ms=400),
        "connect": _result("connect", True, accepted=True),
        "ping": _result("ping", True, ping_after_s=0.4),
        "session": _result("session", True, failed=0, failures=[], sessions=2),
        "session-upgrade": _result("session-upgrade", True, failed=0, failures=[]),
        "websocket-only": _result("websocket-only", True, failed=0, failures=[]),
        "workers": _result("workers", True, workers_failing=0, worker_table=[]),
        "broadcast": _result("broadcast", True, delivered=True, missing=[]),
    }
    return list({**results, **replaced}.values())


CASES = {
    "ok": (Target("http://10.0.0.1"), _run()),
    "path": (
        Target("http://10.0.0.1"),
        _run(
            upgrade=_result("upgrade", False, "404", status=404, fingerprint="ab"),
            polling=_result("polling", False, "404", status=404, fingerprint="ab"),
        ),
    ),
    "front-door": (
        Target("http://10.0.0.9", behind=("a", "b")),
        _run(hosts=_result("hosts", False, "1 of 2", missing=["b"], reached=["a"])),
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for name, (target, results) in CASES.items():
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            for _ in range(args.calls):
                diagnose(target, results)
            best = min(best, time.perf_counter() - started)
        code = diagnose(target, results).code
        print(
            json.dumps(
                {"run": name, "code": code, "us_per_call": round(best / args.calls * 1e6, 1)}
            )
        )


if __name__ == "__main__":
    main()
