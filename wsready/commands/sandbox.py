"""`wsready sandbox up|down|status`: throwaway local Debian hosts (see wsready.sandbox)."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from wsready import sandbox, table
from wsready.environment import Environment
from wsready.errors import Failed, WsreadyError
from wsready.exitstatus import ExitStatus
from wsready.sandbox import image as sandbox_image


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sandbox", help="start, list and remove throwaway local Debian hosts"
    )
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))

    up = actions.add_parser("up", help="start hosts and write a pyinfra inventory")
    up.add_argument("--hosts", type=_host_count, default=1, help="how many hosts (default 1)")
    up.add_argument(
        "--balancer",
        action="store_true",
        help="one more host, in inventory group `balancer`: HAProxy in front of the others "
        "(with 2 or more hosts, implies --redis: broadcasts must cross the hosts behind it)",
    )
    up.add_argument(
        "--redis",
        action="store_true",
        help="one more host, in inventory group `redis`: the Redis every app host shares",
    )
    up.add_argument(
        "--release",
        choices=sandbox_image.RELEASES,
        default=sandbox_image.SUITE,
        help=f"the Debian release the hosts run (default {sandbox_image.SUITE})",
    )
    _inventory_argument(up)
    up.set_defaults(
        handler=_up,
        name="wsready sandbox up",
        interrupt_note="the hosts it had started are removed",
    )

    down = actions.add_parser("down", help="remove hosts and leave the machine as it was")
    _inventory_argument(down)
    down.add_argument(
        "--all", action="store_true", help="every sandbox host on this machine, not one inventory"
    )
    down.set_defaults(handler=_down, name="wsready sandbox down")

    status = actions.add_parser("status", help="list sandbox hosts on this machine")
    status.set_defaults(handler=_status)


def _inventory_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inventory",
        type=Path,
        default=sandbox.DEFAULT_INVENTORY,
        help=f"inventory file the hosts belong to (default {sandbox.DEFAULT_INVENTORY})",
    )


def _host_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= 20:
        raise argparse.ArgumentTypeError(f"hosts = {text!r}: must be a whole number from 1 to 20")
    return count


@contextlib.contextmanager
def _host_failures() -> Iterator[None]:
    """A host the machine could not start or remove (a full address range, a file it could
    not write) is a failed run, CRITICAL, like sandbox.SandboxError."""
    try:
        yield
    except WsreadyError:
        raise
    except (RuntimeError, OSError) as error:
        raise Failed(str(error)) from error


def _up(args: argparse.Namespace, env: Environment) -> int:
    with _host_failures():
        redis = args.redis or (args.balancer and args.hosts >= 2)
        hosts = sandbox.up(
            args.hosts,
            args.inventory,
            log=env.err,
            release=args.release,
            balancer=args.balancer,
            redis=redis,
        )
    for host in hosts:
        env.out(f"{host.name}\t{host.address}\tssh -i {host.ssh_key} root@{host.address}")
    if redis:
        env.out(f"Redis (group redis, {hosts[args.hosts].name}), shared by the app hosts")
    env.out(f"Deploy: pyinfra -y {args.inventory} deploy.py")
    if args.balancer:
        env.out(f"Front door (group balancer, {hosts[-1].name}): http://{hosts[-1].address}")
    return ExitStatus.OK


def _down(args: argparse.Namespace, env: Environment) -> int:
    started = time.monotonic()
    with _host_failures():
        names = sandbox.down(args.inventory, all_hosts=args.all)
    if not names:
        where = "on this machine" if args.all else f"for {args.inventory}"
        env.out(f"No sandbox hosts {where}.")
        return ExitStatus.OK
    env.out(f"Removed {', '.join(names)} in {time.monotonic() - started:.1f}s")
    return ExitStatus.OK


def _status(args: argparse.Namespace, env: Environment) -> int:
    rows = sandbox.status()
    if not rows:
        env.out("No sandbox hosts.")
        return ExitStatus.OK
    env.out(format_table(rows))
    return ExitStatus.OK


def format_table(rows: list[sandbox.HostStatus]) -> str:
    header = ("NAME", "ADDRESS", "STATE", "SYSTEMD", "UPTIME", "INVENTORY")
    lines = [header]
    for row in rows:
        uptime = "-" if row.uptime_s is None else _duration(row.uptime_s)
        state = "running" if row.running else "stopped"
        lines.append((row.name, row.address, state, row.systemd_state, uptime, row.inventory))
    return table.render(lines)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
