"""`wsready check`: the deploy's probes over a fleet, for cron, systemd timers and monitoring.

Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad input, or a target the check could not run).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from wsready import validate
from wsready.commands.options import add_probe_options
from wsready.environment import Environment
from wsready.exitstatus import ExitStatus
from wsready.fleet import alerts, prometheus, report, statuspage, targets
from wsready.fleet.sweep import CheckOptions, check_all, worst
from wsready.validate import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="probe targets concurrently; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
        description=(
            "Run every probe against each target (URLs, or the hosts of a pyinfra inventory), "
            "concurrently. Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."
        ),
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="http(s)://HOST[:PORT][/ws]")
    parser.add_argument("--inventory", metavar="FILE", help="pyinfra inventory file to check")
    parser.add_argument(
        "--group", metavar="NAME", help="only this inventory group (default: all but monitors)"
    )
    add_probe_options(parser, "environment variable holding the Socket.IO token")
    parser.add_argument(
        "--retries", type=int, default=1, metavar="N", help="retries of a failed target (1)"
    )
    parser.add_argument(
        "--backoff", type=float, default=1.0, metavar="S", help="first retry delay, doubling (1)"
    )
    parser.add_argument("--warn-latency", type=float, metavar="S", help="slowest probe → WARNING")
    parser.add_argument("--crit-latency", type=float, metavar="S", help="slowest probe → CRITICAL")
    parser.add_argument(
        "--concurrency", type=int, default=16, metavar="N", help="targets at once (16)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="share the targets over N processes (default: one per 200 targets, up to the CPUs)",
    )
    parser.add_argument("--prometheus", metavar="FILE", help="write textfile-collector metrics")
    parser.add_argument(
        "--alert-webhook", metavar="URL", help="POST JSON on a state change (needs --state)"
    )
    parser.add_argument(
        "--alert-webhook-env",
        metavar="VAR",
        help="environment variable holding the webhook URL (keeps it out of process lists)",
    )
    parser.add_argument(
        "--state", metavar="FILE", help="JSON file with each target's last status and runs"
    )
    parser.add_argument(
        "--html",
        metavar="FILE",
        help="write a self-contained status page (history from --state), atomically",
    )
    parser.add_argument(
        "--html-refresh",
        type=int,
        default=statuspage.DEFAULT_REFRESH_S,
        metavar="S",
        help=f"the page reloads itself every S seconds ({statuspage.DEFAULT_REFRESH_S})",
    )
    parser.set_defaults(handler=run, error_prefix="wsready check: error")


def run(args: argparse.Namespace, env: Environment) -> int:
    options, chosen = prepare(args, env)
    result = check_all(chosen, options)
    if args.json:  # written piece by piece: a large fleet's JSON is never held whole
        for chunk in report.json_chunks(result):
            env.write(chunk)
        env.out()
    else:
        env.out(report.to_table(result))
    statuses = [result.status]
    if args.prometheus:
        try:
            prometheus.write(result, args.prometheus)
        except OSError as error:
            env.err(f"wsready check: error: --prometheus {args.prometheus}: {error}")
            statuses.append(ExitStatus.UNKNOWN)  # a CRITICAL target still outranks it
    state: dict = {}
    if args.state:
        try:
            alerts.process(result, args.state, args.alert_webhook, warn=env.err)
            state = alerts.read_state(args.state, warn=env.err)
        except (OSError, ConfigError) as error:
            env.err(f"wsready check: error: --state {args.state}: {error}")
            statuses.append(ExitStatus.UNKNOWN)
    if args.html:
        try:
            statuspage.write(result, args.html, state, refresh_s=args.html_refresh)
        except OSError as error:
            env.err(f"wsready check: error: --html {args.html}: {error}")
            statuses.append(ExitStatus.UNKNOWN)
    return worst(statuses)


def prepare(args: argparse.Namespace, env: Environment) -> tuple[CheckOptions, list]:
    """Validate every option and build the targets, before any probe runs."""
    validate.number("--backoff", args.backoff, 0, 3600)
    options = CheckOptions(
        timeout_s=args.timeout,
        retries=args.retries,
        backoff_s=args.backoff,
        warn_latency_s=args.warn_latency,
        crit_latency_s=args.crit_latency,
        concurrency=args.concurrency,
        tls_warn_days=args.tls_warn_days,
        tls_crit_days=args.tls_crit_days,
        idle=args.idle,
        processes=args.processes,
    )
    if args.urls and args.inventory:
        raise ConfigError("--inventory", args.inventory, "give URLs or --inventory, not both")
    if not args.urls and not args.inventory:
        raise ConfigError("URL", None, "give at least one URL or --inventory FILE")
    if args.group and not args.inventory:
        raise ConfigError("--group", args.group, "needs --inventory")
    if args.alert_webhook_env is not None:
        if args.alert_webhook is not None:
            raise ConfigError(
                "--alert-webhook-env", args.alert_webhook_env, "or --alert-webhook, not both"
            )
        args.alert_webhook = env.variable("--alert-webhook-env", args.alert_webhook_env)
        try:
            validate.url("--alert-webhook-env", args.alert_webhook)
        except ConfigError:  # the URL may hold a secret: do not print it
            raise ConfigError(
                "--alert-webhook-env", args.alert_webhook_env, "does not hold an http(s):// URL"
            ) from None
    if args.alert_webhook is not None:
        validate.url("--alert-webhook", args.alert_webhook)
        if not args.state:
            raise ConfigError("--alert-webhook", args.alert_webhook, "needs --state FILE")
    if args.prometheus is not None:
        prometheus.check_path(args.prometheus)
    if args.state is not None:  # its content is judged later: a bad one is a fresh state
        alerts.check_state_path(args.state)
    if args.html is not None:
        statuspage.check_path(args.html, args.html_refresh)
    token = None if args.token_env is None else env.variable("--token-env", args.token_env)
    behind = targets.expect_hosts(args.expect_host)
    if args.websocket_only and args.inventory:
        raise ConfigError(
            "--websocket-only", True, "is for URLs; with --inventory lb_websocket_only says it"
        )
    if args.inventory:
        if behind:
            raise ConfigError(
                "--expect-host",
                behind[0],
                "is for URLs; with --inventory the balancer group's app hosts are expected",
            )
        return options, targets.from_inventory(args.inventory, token=token, group=args.group)
    changes = {"behind": behind, "websocket_only": args.websocket_only}
    return options, [replace(target, **changes) for target in targets.from_urls(args.urls, token)]
