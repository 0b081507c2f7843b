"""`wsready sg plan|apply`: security-group sync outside a deploy (same logic as the deploy)."""

from __future__ import annotations

import argparse
import json

from wsready import aws
from wsready.aws.sg_plan import WORLD, Port, desired_rules
from wsready.environment import Environment
from wsready.exitstatus import ExitStatus

PORT_WHY = {80: "nginx http", 443: "nginx https"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sg",
        help="plan or apply the EC2 security-group ingress wsready needs",
        description="Plan (add/keep/revoke) or apply the ingress rules of one EC2 security group.",
    )
    parser.add_argument("action", choices=("plan", "apply"))
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--group-id", help="the security group (sg-...)")
    which.add_argument("--instance-id", help="use the security group of this instance")
    which.add_argument("--ip", help="use the security group of the instance with this IP")
    parser.add_argument("--region", help="AWS region (default: boto3's chain, e.g. AWS_REGION)")
    parser.add_argument("--endpoint-url", help="EC2 endpoint (private VPC endpoint or test)")
    parser.add_argument(
        "--port", type=int, action="append", help="TCP port to open (repeatable; default 80)"
    )
    parser.add_argument(
        "--allow-cidr",
        action="append",
        help="CIDR allowed to reach the ports (repeatable; default 0.0.0.0/0 and ::/0)",
    )
    parser.add_argument("--ssh-cidr", action="append", default=[], help="CIDR allowed to SSH")
    parser.add_argument("--ssh-port", type=int, default=22)
    parser.add_argument(
        "--allow-ssh-from-world",
        action="store_true",
        help="permit --ssh-cidr 0.0.0.0/0 or ::/0 (refused otherwise)",
    )
    parser.add_argument("--purge", action="store_true", help="revoke wsready rules not wanted")
    parser.add_argument(
        "--purge-all", action="store_true", help="revoke every unwanted CIDR rule, not only ours"
    )
    parser.add_argument("--dry-run", action="store_true", help="ask AWS with DryRun=True")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, env: Environment) -> int:
    desired = desired_rules(
        [Port(number, PORT_WHY.get(number, f"port {number}")) for number in args.port or [80]],
        args.allow_cidr or list(WORLD),
        args.ssh_cidr,
        ssh_port=args.ssh_port,
        allow_ssh_from_world=args.allow_ssh_from_world,
        allow_key="--allow-cidr",
        ssh_key="--ssh-cidr",
    )
    client = aws.ec2_client(args.region, args.endpoint_url)
    group_id = aws.find_group_id(client, args.group_id, args.instance_id, args.ip)
    plan = aws.plan_group(
        client, group_id, desired, args.purge, args.purge_all, ssh_port=args.ssh_port
    )
    result = None
    if args.action == "apply" and (plan.has_changes or args.dry_run):
        result = aws.apply(client, group_id, plan, dry_run=args.dry_run)
    if args.json:
        document = {"group_id": group_id, "plan": plan.to_dict()}
        if args.action == "apply":
            document["result"] = (result or aws.ApplyResult(group_id, args.dry_run)).to_dict()
        env.out(json.dumps(document, indent=2))
        return ExitStatus.OK
    env.out(f"security group {group_id}: {plan.summary()}")
    for line in plan.lines():
        env.out(f"  {line}")
    if args.action == "apply":
        env.out((result or aws.ApplyResult(group_id, args.dry_run)).summary())
    return ExitStatus.OK
