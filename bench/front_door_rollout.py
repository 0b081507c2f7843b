"""A rollout through the front door under live official clients; prints JSON figures.

    python -m bench.front_door_rollout --clients 200 INVENTORY [-- PYINFRA ARGS]

INVENTORY has app hosts, a `redis` host and a `balancer` host (tests/e2e/conftest.py's
multi_host_fleet, or `wsready sandbox up --hosts 2 --balancer` with a redis group added).
N official `socket.io-client` clients (default transports, a cookie jar) connect through the
balancer; while they are connected, `wsready rollout INVENTORY` takes the app hosts out one
at a time (drain), deploys, probes and puts each back (app hosts whose inventory data keeps
app_restart = "generations", the default, stay in: bench/live_deploy.py --rollout measures
that); then a broadcast from the first app
host must reach every client. The figures: how many clients were cut (disconnects, by
reason), connect errors, and how many got the broadcast after the rollout (the clients
reconnect by themselves, to the host still in).
"""

from __future__ import annotations

import argparse
import json
import runpy
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import ROOT, host_ssh
from tests.oracle_run import broadcast_trigger, run_oracle
from wsready import sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("inventory")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    groups = runpy.run_path(args.inventory)
    app = [sandbox.host(name) for name, _data in groups["app"]]
    front = sandbox.host(groups["balancer"][0][0])
    rollout: dict = {}

    def roll_then_broadcast(nonce: str) -> int:
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "wsready.cli", "rollout", args.inventory, *args.rest],
            cwd=ROOT, capture_output=True, text=True, timeout=560,
        )  # fmt: skip
        log = Path(args.inventory).with_suffix(".rollout.log")
        log.write_text(completed.stdout + completed.stderr)
        rollout.update(
            log=str(log),
            exit=completed.returncode,
            seconds=round(time.monotonic() - started, 1),
            steps=[
                line for line in completed.stdout.splitlines()
                if line.startswith("rollout: ") and "$ pyinfra" not in line
            ],
        )  # fmt: skip
        return broadcast_trigger(lambda c: host_ssh(app[0], c), [3000, 3001])(nonce)

    outcome = run_oracle(
        f"http://{front.address}", trigger=roll_then_broadcast, clients=args.clients,
        mode="default", with_credentials=True, connect_timeout_s=60,
        broadcast_timeout_s=60, trigger_timeout_s=600,
    )  # fmt: skip
    summary = outcome.modes["default"]
    print(
        json.dumps(
            {
                "clients": summary.clients,
                "connected_before": summary.connected,
                "upgraded": summary.upgraded,
                "broadcast_received_after_rollout": summary.received,
                "disconnects": summary.disconnects,
                "connect_errors": summary.errors,
                "upgrade_errors": summary.upgrade_errors,
                "rollout": rollout,
                "oracle": outcome.describe(),
                "inventory": str(Path(args.inventory)),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
