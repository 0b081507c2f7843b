"""Options that `check` and `diagnose` share: what to send, how long to wait, when a
certificate is too close to expiry, and the output format."""

from __future__ import annotations

import argparse

from wsready.probes import Thresholds


def add_probe_options(parser: argparse.ArgumentParser, token_help: str) -> None:
    """--token-env, --json, --idle, --timeout, --tls-warn-days, --tls-crit-days and
    --expect-host and --websocket-only."""
    parser.add_argument("--token-env", metavar="VAR", help=token_help)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--idle",
        action="store_true",
        help="also hold an idle connection for pingInterval + pingTimeout (proxy timeouts)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="per-probe timeout (10)"
    )
    warn, crit = Thresholds.tls_warn_days, Thresholds.tls_crit_days
    parser.add_argument(
        "--tls-warn-days", type=int, default=warn, metavar="N", help=f"certificate WARNING ({warn})"
    )
    parser.add_argument(
        "--tls-crit-days",
        type=int,
        default=crit,
        metavar="N",
        help=f"certificate CRITICAL ({crit})",
    )
    parser.add_argument(
        "--expect-host",
        action="append",
        metavar="NAME",
        help="the URL is a front door: this app host (its X-Wsready-Host name, the host's "
        "hostname) must answer through it; repeat for each (with --inventory: the app hosts "
        "healthy on their own address, when the inventory has a balancer group)",
    )
    parser.add_argument(
        "--websocket-only",
        action="store_true",
        help="the clients use transports: ['websocket'] only (lb_websocket_only): long-polling "
        "must be refused, and no polling session is expected to work",
    )
