"""Security-group sync for a fleet: one sync per group, whichever host reaches it first.

`SyncSpec.from_data` reads host data (validated up front); `GroupSyncer.sync` resolves the
group, plans, applies (or only plans for a dry run) and reports through `log`. Hosts sharing
a group must want the same rules; a host that wants different ones is refused rather than
letting the last host win.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wsready import aws, validate
from wsready.aws.sg_plan import Plan, Rule, desired_from_data

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
    def from_data(
        cls,
        data: Mapping[str, Any],
        address: str | None = None,
        redis_clients: list[str] | None = None,
    ) -> SyncSpec:
        """Raises `ConfigError` naming the key for bad values. `redis_clients`: the host is
        in the `redis` group and its group admits those CIDRs to redis_port only."""
        endpoint = data.get("aws_endpoint_url")
        if endpoint is not None:
            validate.url("aws_endpoint_url", endpoint)
        return cls(
            desired=tuple(desired_from_data(data, redis_clients)),
            region=data.get("aws_region"),
            endpoint_url=endpoint,
            sg_id=data.get("sg_id"),
            instance_id=data.get("instance_id"),
            address=address,
            purge=validate.boolean("sg_purge", data.get("sg_purge", False)),
            purge_all=validate.boolean("sg_purge_all", data.get("sg_purge_all", False)),
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
