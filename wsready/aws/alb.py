"""The fleet's ALB through boto3 (elbv2): read what exists, apply a plan, register and drain
targets.

`alb_plan` decides; this module reads (`current`), changes (`apply`) and moves hosts in and
out of the target group (`register`, `deregister`, `wait_drained`, `wait_healthy`). The
elbv2 API has no DryRun flag: a dry run is the plan, printed, and nothing called.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from wsready.aws.alb_plan import HEALTH_PATH, AlbPlan, BalancerSpec, Current
from wsready.aws.ec2 import AwsError, _instances, _instances_at, aws_errors, client

HEALTH_KEYS = (
    "HealthCheckProtocol",
    "HealthCheckPort",
    "HealthCheckPath",
    "HealthCheckIntervalSeconds",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
    "Matcher",
)
Log = Callable[[str], None]


def elbv2_client(region: str | None = None, endpoint_url: str | None = None) -> Any:
    return client("elbv2", region, endpoint_url)


def _missing(error: ClientError, *codes: str) -> bool:
    return error.response.get("Error", {}).get("Code") in codes


def find_balancer(client: Any, name: str) -> dict[str, Any] | None:
    with aws_errors(f"reading load balancer {name}"):
        try:
            found = client.describe_load_balancers(Names=[name])["LoadBalancers"]
        except ClientError as error:
            if _missing(error, "LoadBalancerNotFound"):
                return None
            raise
    return found[0] if found else None


def find_target_group(client: Any, name: str) -> dict[str, Any] | None:
    with aws_errors(f"reading target group {name}"):
        try:
            found = client.describe_target_groups(Names=[name])["TargetGroups"]
        except ClientError as error:
            if _missing(error, "TargetGroupNotFound"):
                return None
            raise
    return found[0] if found else None


def current(client: Any, spec: BalancerSpec) -> Current:
    """What AWS holds for the spec's balancer and target group, in `alb_plan`'s terms."""
    balancer = find_balancer(client, spec.name)
    group = find_target_group(client, spec.target_group_name)
    with aws_errors(f"reading load balancer {spec.name}"):
        lb_view, lb_attributes, listeners = None, {}, {}
        if balancer is not None:
            arn = balancer["LoadBalancerArn"]
            lb_view = {
                "scheme": balancer["Scheme"],
                "dns": balancer.get("DNSName", ""),
                "subnets": tuple(
                    sorted(zone["SubnetId"] for zone in balancer.get("AvailabilityZones", []))
                ),
                "security_groups": tuple(sorted(balancer.get("SecurityGroups", []))),
            }
            lb_attributes = _attributes(
                client.describe_load_balancer_attributes(LoadBalancerArn=arn)
            )
            names = _group_names(client)
            for item in client.describe_listeners(LoadBalancerArn=arn)["Listeners"]:
                listeners[int(item["Port"])] = _listener_view(item, names)
    with aws_errors(f"reading target group {spec.target_group_name}"):
        tg_view, tg_attributes, targets = None, {}, ()
        if group is not None:
            arn = group["TargetGroupArn"]
            tg_view = {"port": int(group["Port"]), **{key: group.get(key) for key in HEALTH_KEYS}}
            tg_attributes = _attributes(client.describe_target_group_attributes(TargetGroupArn=arn))
            targets = tuple(
                item["Target"]["Id"]
                for item in client.describe_target_health(TargetGroupArn=arn)[
                    "TargetHealthDescriptions"
                ]
                if item["TargetHealth"]["State"] not in ("unused", "draining")
            )
    return Current(lb_view, lb_attributes, tg_view, tg_attributes, listeners, targets)


def _attributes(answer: Mapping[str, Any]) -> dict[str, str]:
    return {item["Key"]: str(item["Value"]) for item in answer["Attributes"]}


def _group_names(client: Any) -> dict[str, str]:
    pages = client.get_paginator("describe_target_groups").paginate()
    return {
        group["TargetGroupArn"]: group["TargetGroupName"]
        for page in pages
        for group in page["TargetGroups"]
    }


def _listener_view(item: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    certificates = item.get("Certificates") or []
    forward = [action for action in item.get("DefaultActions", []) if action["Type"] == "forward"]
    return {
        "Arn": item["ListenerArn"],
        "Protocol": item["Protocol"],
        "Certificates": certificates[0]["CertificateArn"] if certificates else None,
        "SslPolicy": item.get("SslPolicy") if item["Protocol"] == "HTTPS" else None,
        "Forward": names.get(forward[0].get("TargetGroupArn", "")) if forward else None,
    }


def vpc_of(ec2: Any, subnet_ids: tuple[str, ...]) -> str:
    """The VPC of the balancer's subnets (one VPC, else an error naming lb_subnet_ids)."""
    with aws_errors("reading lb_subnet_ids"):
        subnets = ec2.describe_subnets(SubnetIds=list(subnet_ids))["Subnets"]
    vpcs = sorted({subnet["VpcId"] for subnet in subnets})
    if len(vpcs) != 1:
        raise AwsError(f"lb_subnet_ids {list(subnet_ids)} span VPCs {vpcs}: use one VPC")
    return vpcs[0]


def instance_id_of(ec2: Any, instance_id: str | None, address: str) -> str:
    """The host's instance: `instance_id`, else the one at its address."""
    if instance_id:
        found = _instances(ec2, "instance-id", instance_id)
        wanted = f"instance_id = {instance_id!r}"
    else:
        found, wanted = _instances_at(ec2, address), f"address {address!r}"
    if len(found) != 1:
        raise AwsError(f"{len(found)} EC2 instances found for {wanted}: set instance_id")
    return found[0]["InstanceId"]


@dataclass
class ApplyResult:
    """What `apply` changed (the plan's steps done), and the balancer's DNS name."""

    done: list[str] = field(default_factory=list)
    dns_name: str = ""

    def summary(self) -> str:
        if not self.done:
            return f"load balancer {self.dns_name}: no changes"
        return f"load balancer {self.dns_name}: {len(self.done)} changed"


def apply(client: Any, ec2: Any, spec: BalancerSpec, alb_plan: AlbPlan) -> ApplyResult:
    """Carry out `alb_plan`: create what is missing, change what differs, register targets."""
    result = ApplyResult()
    balancer = find_balancer(client, spec.name)
    group = find_target_group(client, spec.target_group_name)
    with aws_errors(f"applying load balancer {spec.name}"):
        if balancer is None:
            options = (
                {"SecurityGroups": list(spec.security_group_ids)} if spec.security_group_ids else {}
            )
            balancer = client.create_load_balancer(
                Name=spec.name, Subnets=list(spec.subnet_ids), Scheme=spec.scheme,
                Type="application", IpAddressType="ipv4", **options,
            )["LoadBalancers"][0]  # fmt: skip
            result.done.append(f"created load balancer {spec.name}")
        lb_arn = balancer["LoadBalancerArn"]
        result.dns_name = balancer.get("DNSName", spec.name)
        if group is None:
            group = client.create_target_group(
                Name=spec.target_group_name, Protocol="HTTP", Port=spec.target_port,
                VpcId=vpc_of(ec2, spec.subnet_ids), TargetType="instance",
                **{key: value for key, value in spec.health_check().items()},
            )["TargetGroups"][0]  # fmt: skip
            result.done.append(f"created target group {spec.target_group_name}")
        tg_arn = group["TargetGroupArn"]
        created_group = any(line.startswith("created target group") for line in result.done)
        for step in alb_plan.changes:
            kind, _, key = step.key.partition(":")
            if kind == "balancer" and key == "subnets":
                client.set_subnets(LoadBalancerArn=lb_arn, Subnets=list(step.value))
            elif kind == "balancer" and key == "security groups":
                client.set_security_groups(LoadBalancerArn=lb_arn, SecurityGroups=list(step.value))
            elif kind == "lb_attribute":
                client.modify_load_balancer_attributes(
                    LoadBalancerArn=lb_arn, Attributes=[{"Key": key, "Value": step.value}]
                )
            elif kind == "health" and not created_group:
                client.modify_target_group(TargetGroupArn=tg_arn, **{key: step.value})
            elif kind == "tg_attribute":
                client.modify_target_group_attributes(
                    TargetGroupArn=tg_arn, Attributes=[{"Key": key, "Value": step.value}]
                )
            elif kind == "listener":
                _put_listener(client, lb_arn, tg_arn, step.value)
            elif kind == "target":
                register(client, tg_arn, step.value, spec.target_port)
            elif kind != "health":
                continue  # created above
            result.done.append(str(step))
    return result


def _put_listener(client: Any, lb_arn: str, tg_arn: str, listener: Any) -> None:
    options: dict[str, Any] = {
        "Protocol": listener.protocol,
        "Port": listener.port,
        "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg_arn}],
    }
    if listener.certificate_arn:
        options["Certificates"] = [{"CertificateArn": listener.certificate_arn}]
        options["SslPolicy"] = listener.ssl_policy
    existing = {
        int(item["Port"]): item["ListenerArn"]
        for item in client.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    }
    if listener.port in existing:
        client.modify_listener(ListenerArn=existing[listener.port], **options)
    else:
        client.create_listener(LoadBalancerArn=lb_arn, **options)


def target_group_arn(client: Any, spec: BalancerSpec) -> str:
    group = find_target_group(client, spec.target_group_name)
    if group is None:
        raise AwsError(
            f"target group {spec.target_group_name} does not exist: run `wsready lb apply` first"
        )
    return group["TargetGroupArn"]


def register(client: Any, tg_arn: str, instance_id: str, port: int) -> None:
    with aws_errors(f"registering {instance_id}"):
        client.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": instance_id, "Port": port}])


def deregister(client: Any, tg_arn: str, instance_id: str, port: int) -> None:
    """Take the host out; the balancer then drains its connections (deregistration delay)."""
    with aws_errors(f"deregistering {instance_id}"):
        try:
            client.deregister_targets(
                TargetGroupArn=tg_arn, Targets=[{"Id": instance_id, "Port": port}]
            )
        except ClientError as error:
            if not _missing(error, "InvalidTarget"):
                raise


def target_state(client: Any, tg_arn: str, instance_id: str, port: int) -> str:
    """healthy, unhealthy, initial, draining, unused (not registered), …"""
    with aws_errors(f"reading the health of {instance_id}"):
        found = client.describe_target_health(
            TargetGroupArn=tg_arn, Targets=[{"Id": instance_id, "Port": port}]
        )["TargetHealthDescriptions"]
    return found[0]["TargetHealth"]["State"] if found else "unused"


def wait_state(
    read: Callable[[], str],
    done: Callable[[str], bool],
    timeout_s: float,
    what: str,
    log: Log,
    interval_s: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Poll `read` until `done(state)`; AwsError after `timeout_s` naming the last state."""
    deadline = clock() + timeout_s
    last = None
    while True:
        state = read()
        if state != last:
            log(f"{what}: {state}")
            last = state
        if done(state):
            return state
        if clock() >= deadline:
            raise AwsError(f"{what}: still {state} after {timeout_s:g} s")
        sleep(interval_s)


def wait_drained(
    client: Any, tg_arn: str, instance_id: str, port: int, delay_s: int, log: Log, **options: Any
) -> str:
    """Wait until the deregistered target has drained (no longer `draining`): at most the
    deregistration delay and a margin."""
    return wait_state(
        lambda: target_state(client, tg_arn, instance_id, port),
        lambda state: state != "draining",
        delay_s + 30,
        f"draining {instance_id}",
        log,
        **options,
    )


def wait_healthy(
    client: Any, tg_arn: str, spec: BalancerSpec, instance_id: str, log: Log, **options: Any
) -> str:
    """Wait until the registered target passes the health check on /api/health."""
    budget = spec.health_interval_s * (spec.healthy_threshold + 2) + 30
    return wait_state(
        lambda: target_state(client, tg_arn, instance_id, spec.target_port),
        lambda state: state == "healthy",
        budget,
        f"health of {instance_id} on {HEALTH_PATH}",
        log,
        **options,
    )
