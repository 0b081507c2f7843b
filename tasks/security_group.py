"""The EC2 security group in the deploy: open what nginx serves, once per group.

The boto3 work happens at execute time (`python.call`); hosts sharing a group trigger one
sync, the first to get there. With `pyinfra --dry` nothing executes, so the plan is read
and printed while the deploy is planned, and nothing is changed.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import python

from wsready.aws.sg_sync import GroupSyncer, SyncSpec
from wsready.deploy.callbacks import is_dry_run, logger_for
from wsready.deploy.plan import host_plan

EXECUTE_SYNCER = GroupSyncer()
DRY_RUN_SYNCER = GroupSyncer()


@deploy("Sync the EC2 security group")
def sync_security_group() -> None:
    plan = host_plan()
    if not plan.data.sg_enabled:
        host.noop("EC2 security group sync is off (sg_enabled = False)")
        return
    spec = SyncSpec.from_data(plan.data, redis_clients=plan.redis_clients)
    if is_dry_run():
        DRY_RUN_SYNCER.sync(spec, host.name, logger_for(host), dry_run=True)
        return
    python.call(
        name=f"Open the ports this host serves in the EC2 security group {spec.describe()}",
        function=_sync,
        spec=spec,
    )


def _sync(state, host, spec: SyncSpec) -> bool:  # noqa: ARG001 - pyinfra passes state, host
    """Execute-time callback; returning False fails the operation for this host."""
    return EXECUTE_SYNCER.sync(spec, host.name, logger_for(host))
