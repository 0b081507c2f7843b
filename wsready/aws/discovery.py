"""Find running EC2 instances by tag and turn them into pyinfra inventory groups.

One group per value of the role tag (default `wsready:role`); each host is named by its
instance id and carries `ssh_hostname` (public DNS name or IP, or the private IP), plus
`instance_id`, `aws_region`, `ec2_security_group_ids` and, when the instance has exactly
one group, `sg_id` — so the deploy's security-group sync needs no further lookup.

Roles that receive the fleet's secrets (SECRET_ROLES: `redis` gets redis_password and every
app host's traffic, `monitors` the probe token and alert webhook) are not granted by the
role tag alone, which anyone allowed to tag an instance can set: an instance joins such a
group only when its id is listed in WSREADY_EC2_SECRET_ROLE_IDS (comma-separated), or it
carries the separate tag WSREADY_EC2_SECRET_ROLE_TAG (e.g. `wsready:secret-role`) whose
value names the same role — a tag key an IAM policy can reserve to the fleet's owners
(`aws:TagKeys`). Others are left out, with why (docs/security.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wsready import aws

DEFAULT_TAG = "wsready:role"
ENV_PREFIX = "WSREADY_EC2_"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")
SECRET_ROLES = ("redis", "monitors")
_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")

HostEntry = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class DiscoverySettings:
    region: str | None = None
    endpoint_url: str | None = None
    tag_key: str = DEFAULT_TAG
    use_private_ip: bool = False
    secret_role_ids: frozenset[str] = frozenset()
    secret_role_tag: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DiscoverySettings:
        """WSREADY_EC2_REGION, _ENDPOINT_URL, _TAG, _USE_PRIVATE_IP (1/0, true/false),
        _SECRET_ROLE_IDS (instance ids, comma-separated) and _SECRET_ROLE_TAG (a tag key)."""
        env = os.environ if env is None else env
        flag = env.get(f"{ENV_PREFIX}USE_PRIVATE_IP", "").strip().lower()
        if flag not in _TRUE + _FALSE:
            raise aws.AwsError(
                f"{ENV_PREFIX}USE_PRIVATE_IP = {flag!r}: must be one of 1/0, true/false, yes/no"
            )
        ids = [
            item.strip()
            for item in env.get(f"{ENV_PREFIX}SECRET_ROLE_IDS", "").split(",")
            if item.strip()
        ]
        bad = [item for item in ids if not _INSTANCE_ID.fullmatch(item)]
        if bad:
            raise aws.AwsError(
                f"{ENV_PREFIX}SECRET_ROLE_IDS = {bad[0]!r}: must be EC2 instance ids such as "
                "i-0123456789abcdef0, comma-separated"
            )
        tag_key = env.get(f"{ENV_PREFIX}TAG") or DEFAULT_TAG
        secret_tag = env.get(f"{ENV_PREFIX}SECRET_ROLE_TAG") or None
        if secret_tag == tag_key:
            raise aws.AwsError(
                f"{ENV_PREFIX}SECRET_ROLE_TAG = {secret_tag!r}: must differ from the role tag "
                f"{tag_key}, or it confirms nothing"
            )
        return cls(
            region=env.get(f"{ENV_PREFIX}REGION") or None,
            endpoint_url=env.get(f"{ENV_PREFIX}ENDPOINT_URL") or None,
            tag_key=tag_key,
            use_private_ip=flag in _TRUE,
            secret_role_ids=frozenset(ids),
            secret_role_tag=secret_tag,
        )


@dataclass
class Discovery:
    """Inventory groups found, and instances left out (with why)."""

    groups: dict[str, list[HostEntry]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def discover(client: Any, settings: DiscoverySettings) -> Discovery:
    """Running instances carrying `settings.tag_key`, grouped by the tag's value."""
    filters = [
        {"Name": "instance-state-name", "Values": ["running"]},
        {"Name": "tag-key", "Values": [settings.tag_key]},
    ]
    found = Discovery()
    with aws.aws_errors(f"listing running EC2 instances tagged {settings.tag_key}"):
        pages = client.get_paginator("describe_instances").paginate(Filters=filters)
        instances = [i for page in pages for res in page["Reservations"] for i in res["Instances"]]
    for instance in sorted(instances, key=lambda item: item["InstanceId"]):
        tags = _tags(instance)
        role = tags.get(settings.tag_key, "")
        if group_name(role) in SECRET_ROLES and not _secret_role_granted(
            instance["InstanceId"], tags, group_name(role), settings
        ):
            found.skipped.append(
                f"{instance['InstanceId']}: role {role!r} receives the fleet's secrets; the role "
                f"tag alone does not grant it: list the id in {ENV_PREFIX}SECRET_ROLE_IDS, or tag "
                f"it with the key named by {ENV_PREFIX}SECRET_ROLE_TAG (value {group_name(role)})"
            )
            continue
        address = _ssh_address(instance, settings.use_private_ip)
        if not address:
            found.skipped.append(
                f"{instance['InstanceId']}: no public DNS name or IP "
                f"(set {ENV_PREFIX}USE_PRIVATE_IP=1 to reach it by its private IP)"
            )
            continue
        entry = (instance["InstanceId"], _host_data(instance, address, client, settings))
        found.groups.setdefault(group_name(role), []).append(entry)
    return found


def discover_from_env(env: Mapping[str, str] | None = None) -> Discovery:
    settings = DiscoverySettings.from_env(env)
    client = aws.ec2_client(settings.region, settings.endpoint_url, f"{ENV_PREFIX}REGION")
    return discover(client, settings)


def _secret_role_granted(
    instance_id: str, tags: Mapping[str, str], role: str, settings: DiscoverySettings
) -> bool:
    """A secret role is granted by the explicit id list or by the separate tag."""
    if instance_id in settings.secret_role_ids:
        return True
    return bool(settings.secret_role_tag) and tags.get(settings.secret_role_tag) == role


def group_name(role: str) -> str:
    """A pyinfra group name for a tag value: `web-api` → `web_api`; never `all` or `_x`."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", role.strip())
    if not name or name == "all" or name[0] == "_" or name[0].isdigit():
        name = f"role_{name}"
    return name


def _host_data(
    instance: Mapping[str, Any], address: str, client: Any, settings: DiscoverySettings
) -> dict[str, Any]:
    group_ids = [group["GroupId"] for group in instance.get("SecurityGroups", [])]
    data: dict[str, Any] = {
        "ssh_hostname": address,
        "instance_id": instance["InstanceId"],
        "aws_region": client.meta.region_name,
        "ec2_security_group_ids": group_ids,
    }
    if instance.get("PrivateIpAddress"):
        data["private_address"] = instance["PrivateIpAddress"]  # Redis firewall, adapter
    if len(group_ids) == 1:
        data["sg_id"] = group_ids[0]
    if settings.endpoint_url:
        data["aws_endpoint_url"] = settings.endpoint_url
    return data


def _ssh_address(instance: Mapping[str, Any], use_private_ip: bool) -> str | None:
    if use_private_ip:
        return instance.get("PrivateIpAddress") or None
    return instance.get("PublicDnsName") or instance.get("PublicIpAddress") or None


def _tags(instance: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
