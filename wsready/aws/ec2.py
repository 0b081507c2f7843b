"""EC2 through boto3: the client, finding a host's security group, applying a plan.

Region and credentials come from boto3's standard chain (environment, profile, instance
role); `endpoint_url` points at a private VPC endpoint or a test server. Every botocore
failure that a user can fix surfaces as `AwsError` with one readable sentence.

boto3 is imported when a client is made, not with this module: a deploy whose data names no
EC2 step never pays its import (0.14 s of a no-change re-run's start).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from wsready.aws.sg_plan import Plan, Rule, permission, rules_from_permissions
from wsready.aws.sg_plan import plan as make_plan
from wsready.errors import Unreachable

# Standard retry mode backs off on throttling (RequestLimitExceeded) and transient errors.
RETRIES = {"mode": "standard", "max_attempts": 8}
SERVICE_NAMES = {"ec2": "EC2", "elbv2": "ELBv2"}

ALREADY_DONE = {
    "add": "InvalidPermission.Duplicate",
    "revoke": "InvalidPermission.NotFound",
}


class AwsError(Unreachable, RuntimeError):
    """An AWS problem explained in one sentence (no traceback needed)."""


@contextlib.contextmanager
def aws_errors(action: str, region_hint: str = "aws_region (--region)") -> Iterator[None]:
    """Turn botocore exceptions raised while doing `action` into `AwsError`."""
    try:
        yield
    except NoRegionError:
        raise AwsError(
            f"{action}: no AWS region configured; set {region_hint}, "
            "AWS_REGION / AWS_DEFAULT_REGION, or a region in the AWS profile"
        ) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise AwsError(
            f"{action}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an instance role"
        ) from None
    except ProfileNotFound as error:
        raise AwsError(f"{action}: {error}") from None
    except EndpointConnectionError as error:
        raise AwsError(f"{action}: cannot reach the EC2 endpoint ({error})") from None
    except ClientError as error:
        info = error.response.get("Error", {})
        raise AwsError(
            f"{action}: {info.get('Code', 'error')}: {info.get('Message', error)}"
        ) from None
    except BotoCoreError as error:
        raise AwsError(f"{action}: {error}") from None


def ec2_client(
    region: str | None = None,
    endpoint_url: str | None = None,
    region_hint: str = "aws_region (--region)",
) -> Any:
    """An EC2 client with standard retries; region None = boto3's own chain.

    `region_hint` names the setting to suggest when no region is found."""
    return client("ec2", region, endpoint_url, region_hint)


def client(
    service: str,
    region: str | None = None,
    endpoint_url: str | None = None,
    region_hint: str = "aws_region (--region)",
) -> Any:
    """A boto3 client of `service` with standard retries; region None = boto3's own chain."""
    import boto3
    from botocore.config import Config

    with aws_errors(f"creating the {SERVICE_NAMES[service]} client", region_hint):
        session = boto3.session.Session(region_name=region)
        return session.client(
            service, endpoint_url=endpoint_url, config=Config(retries=dict(RETRIES))
        )


def find_group_id(
    client: Any,
    sg_id: str | None = None,
    instance_id: str | None = None,
    address: str | None = None,
) -> str:
    """The security group to manage: `sg_id`, or the one of the instance (by id, else by
    its private/public IP or DNS name). An instance with several groups needs `sg_id`."""
    if sg_id:
        return sg_id
    if instance_id:
        instances = _instances(client, "instance-id", instance_id)
        wanted = f"instance_id = {instance_id!r}"
    elif address:
        instances, wanted = _instances_at(client, address), f"address {address!r}"
    else:
        raise AwsError("no security group to manage: set sg_id, instance_id, or the host address")
    if not instances:
        raise AwsError(f"no EC2 instance found for {wanted}")
    groups = sorted({group["GroupId"] for item in instances for group in item["SecurityGroups"]})
    if len(groups) != 1:
        found = ", ".join(groups) or "none"
        raise AwsError(f"{wanted} has security groups [{found}]; set sg_id to the one to manage")
    return groups[0]


def current_rules(client: Any, group_id: str) -> list[Rule]:
    with aws_errors(f"reading security group {group_id}"):
        groups = client.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return rules_from_permissions(groups[0]["IpPermissions"])


@dataclass
class ApplyResult:
    """What `apply` did: rules changed, rules found already done, and whether it was a dry run."""

    group_id: str
    dry_run: bool
    added: list[Rule] = field(default_factory=list)
    revoked: list[Rule] = field(default_factory=list)
    already_done: list[Rule] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return not self.dry_run and bool(self.added or self.revoked)

    def summary(self) -> str:
        if not (self.added or self.revoked):
            tail = f" ({len(self.already_done)} already done)" if self.already_done else ""
            return f"{self.group_id}: no changes{tail}"
        verb = "would add" if self.dry_run else "added"
        gone = "would revoke" if self.dry_run else "revoked"
        return f"{self.group_id}: {verb} {len(self.added)}, {gone} {len(self.revoked)}" + (
            f", {len(self.already_done)} already done" if self.already_done else ""
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "added": [rule.to_dict() for rule in self.added],
            "revoked": [rule.to_dict() for rule in self.revoked],
            "already_done": [rule.to_dict() for rule in self.already_done],
        }


def apply(client: Any, group_id: str, plan: Plan, dry_run: bool = False) -> ApplyResult:
    """Authorize `plan.add`, revoke `plan.revoke`, one rule per call.

    A rule that appeared (Duplicate) or vanished (NotFound) meanwhile counts as already
    done. With `dry_run`, AWS checks each call (`DryRun=True`) and changes nothing.
    """
    result = ApplyResult(group_id, dry_run)
    for rule in plan.add:
        done = _change(client, group_id, "add", rule, dry_run)
        (result.added if done else result.already_done).append(rule)
    for rule in plan.revoke:
        done = _change(client, group_id, "revoke", rule, dry_run)
        (result.revoked if done else result.already_done).append(rule)
    return result


def _change(client: Any, group_id: str, action: str, rule: Rule, dry_run: bool) -> bool:
    """One authorize/revoke call; False when AWS says it was already done."""
    if action == "add":
        call, perm = client.authorize_security_group_ingress, permission(rule)
    else:
        call, perm = client.revoke_security_group_ingress, permission(rule, False)
    with aws_errors(f"{action} {rule} on {group_id}"):
        try:
            call(GroupId=group_id, IpPermissions=[perm], DryRun=dry_run)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "DryRunOperation":
                return True
            if code == ALREADY_DONE[action]:
                return False
            raise
    return True


def _instances(client: Any, filter_name: str, value: str) -> list[dict[str, Any]]:
    filters = [
        {"Name": filter_name, "Values": [value]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
    ]
    with aws_errors(f"looking up the EC2 instance with {filter_name} {value}"):
        pages = client.get_paginator("describe_instances").paginate(Filters=filters)
        return [item for page in pages for res in page["Reservations"] for item in res["Instances"]]


def _instances_at(client: Any, address: str) -> list[dict[str, Any]]:
    try:
        ipaddress.ip_address(address)
        names = ("private-ip-address", "ip-address")
    except ValueError:
        names = ("private-dns-name", "dns-name")
    for name in names:
        found = _instances(client, name, address)
        if found:
            return found
    return []


def plan_group(
    client: Any,
    group_id: str,
    desired: list[Rule],
    purge: bool = False,
    purge_all: bool = False,
    ssh_port: int = 22,
) -> Plan:
    """The plan for one group as it is now (a purge keeps what opens `ssh_port` unless SSH
    rules are desired)."""
    return make_plan(
        desired,
        current_rules(client, group_id),
        purge=purge,
        purge_all=purge_all,
        ssh_port=ssh_port,
    )
