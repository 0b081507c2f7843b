"""`wsready onboard`: preflight new hosts and print the deploy command for each ready one."""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor

from wsready.environment import Environment
from wsready.exitstatus import ExitStatus
from wsready.fleet import onboard

DEFAULT_INVENTORY = "inventory/ec2.py"
PARALLEL_HOSTS = 8  # hosts checked at once (each holds one SSH connection)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "onboard",
        help="preflight hosts over SSH before their first deploy",
        description=(
            "Check each host (SSH, OS, root/sudo, free disk, nginx ports, host data) and print "
            "what is wrong or the deploy command to run next. Exit 0 all ready, 2 not ready, "
            "3 bad input."
        ),
    )
    parser.add_argument(
        "--inventory", default=DEFAULT_INVENTORY, help=f"default {DEFAULT_INVENTORY}"
    )
    parser.add_argument("--limit", help="one host, group or glob (as pyinfra --limit)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, env: Environment) -> int:
    hosts = onboard.load_hosts(args.inventory, args.limit)
    with ThreadPoolExecutor(max_workers=PARALLEL_HOSTS) as pool:
        reports = list(pool.map(lambda host: onboard.onboard_host(*host), hosts))
    if args.json:
        env.out(json.dumps([_as_dict(report, args.inventory) for report in reports], indent=2))
    else:
        for report in reports:
            _show(env, report, args.inventory)
    return ExitStatus.OK if all(report.ready for report in reports) else ExitStatus.CRITICAL


def _show(env: Environment, report: onboard.HostReport, inventory: str) -> None:
    env.out(f"{report.name}: {'ready' if report.ready else 'NOT READY'}")
    for finding in report.findings:
        env.out(f"  {finding}")
    if report.ready:
        env.out(f"  next: {onboard.deploy_command(inventory, report.name)}")


def _as_dict(report: onboard.HostReport, inventory: str) -> dict:
    return {
        "host": report.name,
        "ready": report.ready,
        "findings": [vars(finding) for finding in report.findings],
        "next": onboard.deploy_command(inventory, report.name) if report.ready else None,
    }
