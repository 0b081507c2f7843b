"""Prove the deploy from outside the host, then commit it or put everything back.

Plans the verify step of one host (plan_verify: the target, this run's fingerprints read
from the host's plan, what the host served before, the rollback and commit commands, the
probe token) and hands it to wsready/deploy/verify.py, which runs at execute time on the
machine running pyinfra (python.call): wait for this run's config, probe, then commit or
roll back (that module's docstring says how).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable

from pyinfra import host, state
from pyinfra.api import deploy
from pyinfra.api.arguments import pop_global_arguments
from pyinfra.facts.files import FileContents, Link
from pyinfra.facts.server import Command
from pyinfra.operations import python

from wsready.deploy import transaction
from wsready.deploy.nginx_config import LIVE
from wsready.deploy.plan import HostPlan, host_plan
from wsready.deploy.verify import Fingerprints, Plan, site_fingerprint, verify_step
from wsready.fleet import tokens
from wsready.hostdata import HostConfig

VERIFY_TOKEN_TTL_S = 300
# How operations on the host gain root (pyinfra --sudo, host data `_sudo`, ...); the rollback
# runs outside an operation and is given the same. Passwords are left out: the callback's
# arguments appear in pyinfra's -vvv output.
PRIVILEGE_ARGUMENTS = (
    "_sudo", "_sudo_user", "_use_sudo_login", "_preserve_sudo_env",
    "_su_user", "_use_su_login", "_preserve_su_env", "_su_shell", "_doas", "_doas_user",
)  # fmt: skip


def privilege_arguments() -> dict:
    """The current host's PRIVILEGE_ARGUMENTS as its operations get them (CLI, deploy, data)."""
    arguments, _found = pop_global_arguments(state, host, {})
    return {key: arguments[key] for key in PRIVILEGE_ARGUMENTS if arguments.get(key)}


def token_source(data: HostConfig) -> Callable[[], str | None] | None:
    """verify_token_env's token, else one minted from app_jwt_secret when the probes run
    (VERIFY_TOKEN_TTL_S), else None (no token to prove the auth matrix with)."""
    token_env = data.verify_token_env
    if token_env:
        return lambda: os.environ.get(token_env)
    if data.app_auth == "jwt" and data.app_jwt_secret:
        secret, audience = data.app_jwt_secret, data.app_jwt_audience
        issuer = data.app_jwt_issuer
        return lambda: tokens.mint(secret, VERIFY_TOKEN_TTL_S, audience=audience, issuer=issuer)
    return None


def previous_fingerprints(data: HostConfig, own_health: bool) -> Fingerprints | None:
    """What the host serves before this run (plan-time facts), or None on a first deploy."""
    site = site_fingerprint(host.get_fact(FileContents, path=LIVE) or [])
    link = host.get_fact(Link, path=f"{data.app_dir.rstrip('/')}/current")
    if site is None and not link:
        return None
    if not own_health or not link:
        return Fingerprints(site)
    name = data.app_name
    env_file = host_plan().paths.env_file
    # Only the fingerprint line: the file holds secrets, which must not become a fact.
    config = host.get_fact(
        Command,
        command=f"sed -n 's/^APP_CONFIG_FINGERPRINT=\"\\(.*\\)\"$/\\1/p' {shlex.quote(env_file)}"
        " 2>/dev/null; true",
    )
    workers = host.get_fact(
        Command,
        command="systemctl list-units --plain --no-legend --state=active "
        f"{shlex.quote(name + '@*.service')} | wc -l",
    )
    return Fingerprints(
        site,
        release=link["link_target"].rsplit("/", 1)[-1],
        config=(config or "").strip() or None,
        workers=int(workers) if config and (workers or "").strip().isdigit() else None,
    )


def plan_verify(host_plan: HostPlan) -> Plan:
    """Read at plan time: the target, this run's fingerprints (the host's plan: what the
    other tasks wrote), the previous ones."""
    data = host_plan.data
    token = token_source(data)
    own_health = not data.nginx_rest_upstream  # /api/ goes to the app itself
    fingerprints = Fingerprints(
        site=host_plan.nginx.fingerprint,
        release=host_plan.app_release.hash if own_health else None,
        config=host_plan.app.fingerprint if own_health else None,
        workers=host_plan.sized.app_workers if own_health else None,
    )
    rollback = None
    if data.app_rollback_on_failure:
        rollback = transaction.rollback_command(data.app_name)
    return Plan(
        target=data.target(),
        timeout_s=data.verify_timeout_s,
        retries=data.verify_retries,
        fingerprints=fingerprints,
        previous=previous_fingerprints(data, own_health),
        auth=data.app_auth != "off" and token is not None,
        rollback=rollback,
        commit=transaction.commit_command(),
        token=token or (lambda: None),
    )


@deploy("Verify the deploy from outside the host")
def verify_deploy() -> None:
    planned = host_plan()
    if not planned.data.verify_enabled:
        commit_unverified("verify_enabled is False: no probes")
        return
    plan = plan_verify(planned)
    python.call(
        name="Probe the service from this machine: health, the /ws upgrade, Socket.IO.",
        function=verify_step,
        plan=plan,
        run_as=privilege_arguments() or None,
    )


def _commit(state, host) -> bool:
    ok, _output = host.run_shell_command(transaction.commit_command())
    return ok


def commit_unverified(why: str) -> None:
    """Drop the host's pending transactions without probes (nothing there to roll back to)."""
    python.call(name=f"Commit the run's changes ({why}).", function=_commit)
