"""`wsready token`: print a token the deployed app accepts, for ops and probes.

    export TOKEN=$(wsready token --inventory inventory/production.py --ttl 600)
    wsready check --inventory inventory/production.py --token-env TOKEN

Only the token goes to stdout; notes and errors go to stderr and never include the secret.
"""

from __future__ import annotations

import argparse

from wsready.environment import Environment
from wsready.exitstatus import ExitStatus
from wsready.fleet import tokens

DEFAULT_INVENTORY = "inventory/sandbox.py"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "token",
        help="mint a JWT from the app_jwt_secret the deploy uses",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--inventory",
        default=DEFAULT_INVENTORY,
        help=f"pyinfra inventory whose data holds app_jwt_secret (default {DEFAULT_INVENTORY})",
    )
    parser.add_argument("--host", help="use this host's data (default: the secret all share)")
    parser.add_argument(
        "--ttl",
        type=float,
        default=tokens.DEFAULT_TTL_S,
        help=f"seconds the token stays valid (default {tokens.DEFAULT_TTL_S})",
    )
    parser.add_argument("--audience", help="`aud` claim (default: the host's app_jwt_audience)")
    parser.add_argument("--issuer", help="`iss` claim (default: the host's app_jwt_issuer)")
    parser.add_argument(
        "--subject", default=tokens.DEFAULT_SUBJECT, help="`sub` claim (default %(default)s)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, env: Environment) -> int:
    tokens.check_ttl(args.ttl)  # before the inventory is read
    settings = tokens.fleet_settings(tokens.load_hosts(args.inventory, args.host), args.host)
    audience = args.audience if args.audience is not None else settings.audience
    issuer = args.issuer if args.issuer is not None else settings.issuer
    token = tokens.mint(settings.secret, args.ttl, args.subject, audience, issuer=issuer)
    if settings.auth != "jwt":
        env.err(
            f"wsready token: note: app_auth is {settings.auth!r} on {settings.host}; "
            "the app does not check this token until app_auth = 'jwt'"
        )
    env.out(token)
    return ExitStatus.OK
