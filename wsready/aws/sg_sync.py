"""Security-group sync for a fleet: one sync per group, whichever host reaches it first.

`SyncSpec.from_data` reads a host's HostConfig; `GroupSyncer.sync` resolves the
group, plans, applies (or only plans for a dry run) and reports through `log`. Hosts sharing
a group must want the same rules; a host that wants different ones is refused rather than
letting the last host win.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wsready import aws
from wsready.aws.sg_plan import Plan, Rule, desired_from_data
from wsready.hostdata import HostConfig

Log = Callable[[str], None]


@dataclass(frozen=True)
class SyncSpec:
    """Where the group is and what it must allow, for one host."""

    desired: tuple[Rule, ...]
    region: str | None = None
    endpoint_url: str | None = None
    sg_id: str | None = None
    instance_id: str | None = None
    address: str | None = None
    purge: bool = False
    purge_all: bool = False

    @classmethod
    def from_data(cls, data: HostConfig, redis_clients: list[str] | None = None) -> SyncSpec:
        """The host's group and rules; the instance is found by its SSH address when no
        sg_id or instance_id names it. `redis_clients`: the host is in the `redis` group and
        its group admits those CIDRs to redis_port only."""
        return cls(
            desired=tuple(desired_from_data(data, redis_clients)),
            region=data.aws_region,
            endpoint_url=data.aws_endpoint_url,
            sg_id=data.sg_id,
            instance_id=data.instance_id,
            address=data.ssh_address,
            purge=data.sg_purge,
            purge_all=data.sg_purge_all,
        )

    def describe(self) -> str:
        if self.sg_id:
            return self.sg_id
        if self.instance_id:
            return f"of instance {self.instance_id}"
        return f"of the instance at {self.address}"


@dataclass
class GroupSyncer:
    """Remembers which groups were synced (by endpoint, region, group id) and for whom."""

    done: dict[tuple[Any, ...], tuple[str, SyncSpec]] = field(default_factory=dict)

    def sync(self, spec: SyncSpec, host_name: str, log: Log, dry_run: bool = False) -> bool:
        """Sync the host's group unless another host already did; False on failure (logged)."""
        try:
            client = aws.ec2_client(spec.region, spec.endpoint_url)
            group_id = aws.find_group_id(client, spec.sg_id, spec.instance_id, spec.address)
            claimed_by, claimed = self.done.setdefault(
                (spec.endpoint_url, spec.region, group_id), (host_name, spec)
            )
            if claimed_by != host_name:
                return self._already(group_id, claimed_by, claimed, spec, log)
            plan = aws.plan_group(client, group_id, list(spec.desired), spec.purge, spec.purge_all)
            log_plan(group_id, plan, log)
            if dry_run:
                log(f"{group_id}: dry run, nothing changed")
                return True
            if plan.has_changes:
                log(aws.apply(client, group_id, plan).summary())
            return True
        except aws.AwsError as error:
            log(f"error: {error}")
            return False

    @staticmethod
    def _already(
        group_id: str, claimed_by: str, claimed: SyncSpec, spec: SyncSpec, log: Log
    ) -> bool:
        if (claimed.desired, claimed.purge, claimed.purge_all) != (
            spec.desired,
            spec.purge,
            spec.purge_all,
        ):
            log(
                f"error: {group_id} is shared with {claimed_by}, which wants different rules; "
                "put the sg_* keys in the data of the group both hosts belong to"
            )
            return False
        log(f"{group_id}: already synced for {claimed_by}")
        return True


def log_plan(group_id: str, plan: Plan, log: Log) -> None:
    log(f"security group {group_id}: {plan.summary()}")
    for line in plan.lines():
        log(f"  {line}")
