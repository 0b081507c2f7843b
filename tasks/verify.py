"""Prove the deploy from outside the host, then commit it or put everything back.

Plans the verify step of one host (wsready/deploy/verify.py's plan_verify: the target,
this run's fingerprints read from the host's plan, what the host served before, the
rollback and commit commands, the probe token) and hands it to that module's verify_step,
which runs at execute time on the machine running pyinfra (python.call): wait for this
run's config, probe, then commit or roll back (that module's docstring says how).
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import python

from wsready.deploy import transaction
from wsready.deploy.plan import host_plan
from wsready.deploy.verify import plan_verify, privilege_arguments, verify_step
from wsready.fleet import tokens


@deploy("Verify the deploy from outside the host")
def verify_deploy() -> None:
    planned = host_plan()
    if not planned.data.verify_enabled:
        commit_unverified("verify_enabled is False: no probes")
        return
    plan = plan_verify(planned, tokens.probe_token_source(planned.data))
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
