"""Find running EC2 instances by tag and turn them into pyinfra inventory groups.

One group per value of the role tag (default `wsready:role`); each host is named by its
instance id and carries `ssh_hostname` (public DNS name or IP, or the private IP), plus
`instance_id`, `aws_region`, `ec2_security_group_ids` and, when the instance has exactly
one group, `sg_id` — so the deploy's security-group sync needs no further lookup.
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

HostEntry = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class DiscoverySettings:
    region: str | None = None
    endpoint_url: str | None = None
    tag_key: str = DEFAULT_TAG
    use_private_ip: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DiscoverySettings:
        """WSREADY_EC2_REGION, _ENDPOINT_URL, _TAG and _USE_PRIVATE_IP (1/0, true/false)."""
        env = os.environ if env is None else env
        flag = env.get(f"{ENV_PREFIX}USE_PRIVATE_IP", "").strip().lower()
        if flag not in _TRUE + _FALSE:
            raise aws.AwsError(
                f"{ENV_PREFIX}USE_PRIVATE_IP = {flag!r}: must be one of 1/0, true/false, yes/no"
            )
        return cls(
            region=env.get(f"{ENV_PREFIX}REGION") or None,
            endpoint_url=env.get(f"{ENV_PREFIX}ENDPOINT_URL") or None,
            tag_key=env.get(f"{ENV_PREFIX}TAG") or DEFAULT_TAG,
            use_private_ip=flag in _TRUE,
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
        role = _tags(instance).get(settings.tag_key, "")
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
