"""`wsready diagnose URL`: run the probes layer by layer, name the broken layer and the fix.

Exit 0 healthy, 1 WARNING (degraded: slow, certificate expiring, polling only), 2 CRITICAL
(a layer is broken), 3 UNKNOWN (bad input).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Sequence

from wsready import validate
from wsready.commands.options import add_probe_options
from wsready.environment import Environment
from wsready.fleet import targets
from wsready.probes import ProbeResult, Target, Thresholds, render, run_probes
from wsready.probes.diagnosis import Diagnosis, diagnose
from wsready.validate import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diagnose",
        help="name the broken layer (DNS … Socket.IO auth) and the fix",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", metavar="URL", help="http(s)://HOST[:PORT][/ws] or ws(s)://…")
    add_probe_options(parser, "environment variable holding the token to send")
    parser.add_argument("--origin", metavar="O", help="browser Origin to test CORS with")
    parser.add_argument("--path", metavar="/ws", help="Socket.IO path (default: URL's, or /ws)")
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify TLS certificates (self-signed)"
    )
    parser.add_argument("--ca-file", metavar="FILE", help="CA bundle to verify TLS with")
    parser.add_argument(
        "--connect-to",
        metavar="ADDRESS",
        help="connect to this address, keeping the URL's name for Host, SNI and the "
        "certificate (one host behind a DNS name)",
    )
    parser.add_argument(
        "--warn-latency", type=float, default=1.0, metavar="S", help="slow /api/health (1.0)"
    )
    parser.set_defaults(handler=run, error_prefix="wsready diagnose: error")


def build_target(args: argparse.Namespace, env: Environment) -> Target:
    """The target from the arguments; ConfigError names the bad one."""
    if args.timeout is None or not 0 < args.timeout <= 86400:  # also refuses nan and inf
        raise ConfigError(
            "--timeout", args.timeout, "must be a number of seconds greater than 0, at most 86400"
        )
    token = None if args.token_env is None else env.variable("--token-env", args.token_env)
    (target,) = targets.from_urls([args.url], token=token)
    changes: dict = {}
    if args.path is not None:
        changes["socketio_path"] = validate.url_path("--path", args.path.rstrip("/") or "/")
    if args.origin is not None:
        changes["origin"] = validate.url("--origin", args.origin)
    if args.expect_host:
        changes["behind"] = targets.expect_hosts(args.expect_host)
    if args.websocket_only:
        changes["websocket_only"] = True
    if args.connect_to is not None:
        changes["connect_address"] = validate.host("--connect-to", args.connect_to)
    if args.insecure and args.ca_file:
        raise ConfigError("--ca-file", args.ca_file, "give --insecure or --ca-file, not both")
    if args.insecure:
        changes["tls_verify"] = False
    elif args.ca_file:
        if not os.access(args.ca_file, os.R_OK) or not os.path.isfile(args.ca_file):
            raise ConfigError("--ca-file", args.ca_file, "is not a readable file")
        changes["tls_verify"] = args.ca_file
    return dataclasses.replace(target, **changes) if changes else target


def format_table(results: Sequence[ProbeResult]) -> str:
    """One line per probe: layer, probe, ok/FAIL/WARN/skipped, the Gatus-style condition."""
    return render.text_table(results)


def format_diagnosis(diagnosis: Diagnosis) -> str:
    lines = [f"Broken layer: {diagnosis.layer} — {diagnosis.title}"]
    if diagnosis.evidence:
        lines.append("Evidence:")
        lines += [f"  - {line}" for line in diagnosis.evidence]
    lines += [f"Note: {note}" for note in diagnosis.notes]
    if diagnosis.candidates:
        lines.append("The probes cannot tell which it is (most likely first):")
        lines += [
            f"  {number}. [{c['layer']}] {c['cause']} — tells it apart: {c['tell']}"
            for number, c in enumerate(diagnosis.candidates, 1)
        ]
    lines.append(f"Fix: {diagnosis.fix}")
    lines.append(f"Status: {diagnosis.status.name} ({int(diagnosis.status)})")
    return "\n".join(lines)


def to_json(target: Target, results: Sequence[ProbeResult], diagnosis: Diagnosis) -> str:
    document = {
        "target": {
            "url": target.url,
            "socketio_path": target.socketio_path,
            "origin": target.origin,
            "token_sent": target.token is not None,
        },
        "results": [result.to_dict() for result in results],
        "diagnosis": diagnosis.to_dict(),
    }
    return target.redact(json.dumps(document, indent=2, default=str))


def build_thresholds(args: argparse.Namespace) -> Thresholds:
    validate.positive_number("--warn-latency", args.warn_latency)
    if args.tls_crit_days < 0:
        raise ConfigError("--tls-crit-days", args.tls_crit_days, "must be 0 or more")
    if args.tls_warn_days < args.tls_crit_days:
        raise ConfigError("--tls-warn-days", args.tls_warn_days, "must be >= --tls-crit-days")
    return Thresholds(args.warn_latency, args.tls_warn_days, args.tls_crit_days)


def run(args: argparse.Namespace, env: Environment) -> int:
    target = build_target(args, env)
    thresholds = build_thresholds(args)
    results = run_probes(target, timeout_s=args.timeout, idle=args.idle, thresholds=thresholds)
    diagnosis = diagnose(target, results)
    if args.json:
        env.out(to_json(target, results, diagnosis))
    else:
        path = f" (Socket.IO path {target.socketio_path})"
        text = f"wsready diagnose {target.url}{path}\n\n{format_table(results)}\n\n"
        env.out(target.redact(text + format_diagnosis(diagnosis)))
    return diagnosis.status
