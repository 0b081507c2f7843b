"""The EC2 security group in the deploy: open what nginx serves, once per group.

The boto3 work happens at execute time (`python.call`); hosts sharing a group trigger one
sync, the first to get there. With `pyinfra --dry` nothing executes, so the plan is read
and printed while the deploy is planned, and nothing is changed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations import python

from wsready.aws.sg_sync import GroupSyncer, SyncSpec
from wsready.deploy.plan import host_plan

EXECUTE_SYNCER = GroupSyncer()
DRY_RUN_SYNCER = GroupSyncer()


def is_dry_run() -> bool:
    """True under `pyinfra --dry`: pyinfra keeps that flag in its CLI arguments only."""
    return Path(sys.argv[0]).name == "pyinfra" and "--dry" in sys.argv[1:]


@deploy("Sync the EC2 security group")
def sync_security_group() -> None:
    plan = host_plan()
    if not plan.data.sg_enabled:
        host.noop("EC2 security group sync is off (sg_enabled = False)")
        return
    spec = SyncSpec.from_data(plan.data, redis_clients=plan.redis_clients)
    if is_dry_run():
        DRY_RUN_SYNCER.sync(spec, host.name, _logger_for(host), dry_run=True)
        return
    python.call(
        name=f"Open the ports this host serves in the EC2 security group {spec.describe()}",
        function=_sync,
        spec=spec,
    )


def _sync(state, host, spec: SyncSpec) -> bool:  # noqa: ARG001 - pyinfra passes state, host
    """Execute-time callback; returning False fails the operation for this host."""
    return EXECUTE_SYNCER.sync(spec, host.name, _logger_for(host))


def _logger_for(target):
    def log(message: str) -> None:
        if message.startswith("error: "):
            target.log_styled(message, fg="red", log_func=logger.error)
        else:
            target.log(message)

    return log
