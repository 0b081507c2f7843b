"""`wsready lb plan|apply|status|register|deregister`: the fleet's ALB outside a deploy.

    wsready lb plan inventory/production.py           what apply would create or change
    wsready lb apply inventory/production.py          ALB, listeners, target group, targets
    wsready lb deregister inventory/production.py web1   take web1 out and wait for draining
    wsready lb register inventory/production.py web1     put it back, wait until healthy

The ALB is described by the app hosts' lb_* keys (the same on every app host); hosts of the
`redis` and `balancer` groups are not targets. elbv2 has no DryRun flag: `apply --dry-run`
prints the plan and calls nothing that changes.
"""

from __future__ import annotations

import argparse
import json

from wsready import inventory
from wsready.aws import alb
from wsready.aws.alb_plan import fleet_spec, plan
from wsready.environment import Environment
from wsready.exitstatus import ExitStatus
from wsready.fleet.front_door import AlbDoor, app_hosts
from wsready.hostdata import HostConfig
from wsready.validate import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lb",
        help="plan or apply the fleet's EC2 load balancer; drain or register one host",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("plan", "apply", "register", "deregister"))
    parser.add_argument("inventory", help="pyinfra inventory of the fleet")
    parser.add_argument("host", nargs="?", help="the app host (register, deregister)")
    parser.add_argument("--dry-run", action="store_true", help="apply: print the plan only")
    parser.add_argument(
        "--no-wait", action="store_true", help="deregister/register: do not wait for the state"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, env: Environment) -> int:
    if args.action in ("register", "deregister") and not args.host:
        raise ConfigError("host", None, f"is needed: wsready lb {args.action} INVENTORY HOST")
    loaded = inventory.load(args.inventory)
    hosts = {host.name: HostConfig.from_data(host.name, host.data) for host in loaded}
    apps = app_hosts(hosts, {host.name: host.groups for host in loaded})
    spec = fleet_spec(apps)
    if args.host is not None and args.host not in apps:
        raise ConfigError("host", args.host, f"is not an app host of {args.inventory}")
    door = AlbDoor(spec, apps)
    if args.action in ("register", "deregister"):
        return _move(args, door, env)
    targets = {name: door.instance(name) for name, config in apps.items() if config.lb_enabled}
    the_plan = plan(spec, alb.current(door.client, spec), targets)
    result = None
    if args.action == "apply" and the_plan.has_changes and not args.dry_run:
        result = alb.apply(door.client, door.ec2, spec, the_plan)
    if args.json:
        document = {"load_balancer": spec.name, "plan": the_plan.to_dict()}
        if result is not None:
            document["done"] = result.done
        env.out(json.dumps(document, indent=2))
        return ExitStatus.OK
    env.out(f"load balancer {spec.name}: {the_plan.summary()}")
    for line in the_plan.lines():
        env.out(f"  {line}")
    if args.action == "apply":
        if args.dry_run:
            env.out(f"load balancer {spec.name}: dry run, nothing changed")
        elif result is not None:
            env.out(result.summary())
    return ExitStatus.OK


def _move(args: argparse.Namespace, door: AlbDoor, env: Environment) -> int:
    say = env.out
    arn, instance = alb.target_group_arn(door.client, door.spec), door.instance(args.host)
    port = door.spec.target_port
    if args.no_wait:
        action = alb.register if args.action == "register" else alb.deregister
        action(door.client, arn, instance, port)
        state = alb.target_state(door.client, arn, instance, port)
        say(f"{args.host}: {args.action}ed {instance} ({state})")
    elif args.action == "register":
        door.restore(args.host, say)
    else:
        door.drain(args.host, say)
    return ExitStatus.OK
