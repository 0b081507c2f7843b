"""The front door on EC2 as data: what the ALB, its target group and listeners must be, and
the pure plan (create / change / keep) from what AWS holds now.

No boto3 here: `wsready.aws.alb` reads and changes the balancer, this module only decides.
The data keys are `lb_*` (inventory/group_data/all.py); every app host carries the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wsready.hostdata import HostConfig
from wsready.validate import ConfigError

HEALTH_PATH = "/api/health"
STICKY_COOKIE = "lb_cookie"


@dataclass(frozen=True)
class Listener:
    """One listener: its port, protocol and (HTTPS) certificate and policy."""

    port: int
    protocol: str
    certificate_arn: str | None = None
    ssl_policy: str | None = None

    def settings(self) -> dict[str, Any]:
        return {
            "Protocol": self.protocol,
            "Certificates": self.certificate_arn,
            "SslPolicy": self.ssl_policy,
        }


@dataclass(frozen=True)
class BalancerSpec:
    """What the fleet's ALB must be (from the app hosts' lb_* keys)."""

    name: str
    scheme: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    listeners: tuple[Listener, ...]
    target_port: int
    idle_timeout_s: int
    stickiness: bool
    stickiness_s: int
    deregistration_delay_s: int
    health_interval_s: int
    health_timeout_s: int
    healthy_threshold: int
    unhealthy_threshold: int
    region: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def from_data(cls, data: HostConfig) -> BalancerSpec:
        listeners = [Listener(data.lb_listen_port, "HTTP")]
        if data.lb_certificate_arn:
            listeners.append(
                Listener(data.lb_tls_port, "HTTPS", data.lb_certificate_arn, data.lb_tls_policy)
            )
        return cls(
            name=data.lb_name,
            scheme=data.lb_scheme,
            subnet_ids=tuple(sorted(set(data.lb_subnet_ids))),
            security_group_ids=(data.lb_security_group_id,) if data.lb_security_group_id else (),
            listeners=tuple(listeners),
            target_port=data.nginx_listen_port,
            idle_timeout_s=data.lb_idle_timeout_s,
            stickiness=data.lb_stickiness,
            stickiness_s=data.lb_stickiness_s,
            deregistration_delay_s=data.lb_deregistration_delay_s,
            health_interval_s=data.lb_health_interval_s,
            health_timeout_s=data.lb_health_timeout_s,
            healthy_threshold=data.lb_healthy_threshold,
            unhealthy_threshold=data.lb_unhealthy_threshold,
            region=data.aws_region,
            endpoint_url=data.aws_endpoint_url,
        )

    @property
    def target_group_name(self) -> str:
        return f"{self.name[:28]}-app"

    def balancer_attributes(self) -> dict[str, str]:
        return {"idle_timeout.timeout_seconds": str(self.idle_timeout_s)}

    def target_group_attributes(self) -> dict[str, str]:
        attributes = {
            "deregistration_delay.timeout_seconds": str(self.deregistration_delay_s),
            "stickiness.enabled": str(self.stickiness).lower(),
        }
        if self.stickiness:
            attributes["stickiness.type"] = STICKY_COOKIE
            attributes["stickiness.lb_cookie.duration_seconds"] = str(self.stickiness_s)
        return attributes

    def health_check(self) -> dict[str, Any]:
        """The target group's health check as `modify_target_group` takes it."""
        return {
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPort": "traffic-port",
            "HealthCheckPath": HEALTH_PATH,
            "HealthCheckIntervalSeconds": self.health_interval_s,
            "HealthCheckTimeoutSeconds": self.health_timeout_s,
            "HealthyThresholdCount": self.healthy_threshold,
            "UnhealthyThresholdCount": self.unhealthy_threshold,
            "Matcher": {"HttpCode": "200"},
        }


def fleet_spec(configs: Mapping[str, HostConfig]) -> BalancerSpec:
    """The one spec every app host with lb_enabled agrees on; ConfigError naming the first
    host whose lb_* keys differ (they belong in the data of a group all hosts share)."""
    enabled = {name: config for name, config in configs.items() if config.lb_enabled}
    if not enabled:
        raise ConfigError("lb_enabled", False, "is False on every app host: no balancer to manage")
    (first_name, first), *others = enabled.items()
    spec = BalancerSpec.from_data(first)
    for name, config in others:
        theirs = BalancerSpec.from_data(config)
        if theirs != spec:
            differing = [
                key
                for key in spec.__dataclass_fields__
                if getattr(theirs, key) != getattr(spec, key)
            ]
            raise ConfigError(
                f"{name}.lb_*",
                differing,
                f"differ from {first_name}'s: one balancer needs the same lb_* values on "
                "every app host (put them in group data)",
            )
    return spec


@dataclass(frozen=True)
class Current:
    """What AWS holds now (None/empty for what does not exist yet)."""

    balancer: Mapping[str, Any] | None = None  # scheme, subnets, security_groups, dns
    balancer_attributes: Mapping[str, str] = field(default_factory=dict)
    target_group: Mapping[str, Any] | None = None  # port, protocol, health check fields
    target_group_attributes: Mapping[str, str] = field(default_factory=dict)
    listeners: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One thing apply does, or keeps: `action` is create, change, keep or register."""

    action: str
    subject: str
    detail: str = ""
    key: str = ""
    value: Any = None

    def __str__(self) -> str:
        sign = {"create": "+", "change": "~", "keep": "=", "register": "+"}[self.action]
        return f"{sign} {self.action:<8} {self.subject}" + (
            f": {self.detail}" if self.detail else ""
        )

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "subject": self.subject, "detail": self.detail}


@dataclass
class AlbPlan:
    steps: list[Step] = field(default_factory=list)

    @property
    def changes(self) -> list[Step]:
        return [step for step in self.steps if step.action != "keep"]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def summary(self) -> str:
        kept = len(self.steps) - len(self.changes)
        if not self.has_changes:
            return f"no changes ({kept} to keep)"
        return f"{len(self.changes)} to change, {kept} to keep"

    def lines(self) -> list[str]:
        return [str(step) for step in self.steps]

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [step.to_dict() for step in self.steps], "changes": self.has_changes}


def plan(spec: BalancerSpec, current: Current, targets: Mapping[str, str]) -> AlbPlan:
    """Compare the spec with what AWS holds (pure). `targets`: host name → instance id to
    register. Raises ConfigError for what cannot be changed in place (scheme, target port)."""
    result = AlbPlan()
    lb = f"load balancer {spec.name}"
    if current.balancer is None:
        result.steps.append(Step("create", lb, f"{spec.scheme}, subnets {list(spec.subnet_ids)}"))
    else:
        if current.balancer["scheme"] != spec.scheme:
            raise ConfigError(
                "lb_scheme",
                spec.scheme,
                f"differs from the existing {spec.name} ({current.balancer['scheme']}): AWS "
                "cannot change it in place; delete the balancer or choose another lb_name",
            )
        result.steps.append(Step("keep", lb, str(current.balancer.get("dns", ""))))
        _compare(result, lb, "subnets", tuple(current.balancer["subnets"]), spec.subnet_ids)
        if spec.security_group_ids:
            _compare(
                result,
                lb,
                "security groups",
                tuple(current.balancer["security_groups"]),
                spec.security_group_ids,
            )
    for key, wanted in spec.balancer_attributes().items():
        _compare(result, lb, key, current.balancer_attributes.get(key), wanted, "lb_attribute")
    tg = f"target group {spec.target_group_name}"
    if current.target_group is None:
        result.steps.append(Step("create", tg, f"HTTP port {spec.target_port}, {HEALTH_PATH}"))
        have_health: Mapping[str, Any] = {}
    else:
        if current.target_group["port"] != spec.target_port:
            raise ConfigError(
                "nginx_listen_port",
                spec.target_port,
                f"differs from the port of target group {spec.target_group_name} "
                f"({current.target_group['port']}): AWS cannot change it in place",
            )
        result.steps.append(Step("keep", tg, f"HTTP port {spec.target_port}"))
        have_health = current.target_group
    for key, wanted in spec.health_check().items():
        _compare(result, tg, key, have_health.get(key), wanted, "health")
    for key, wanted in spec.target_group_attributes().items():
        _compare(result, tg, key, current.target_group_attributes.get(key), wanted, "tg_attribute")
    for listener in spec.listeners:
        subject = f"listener {listener.port}"
        have = current.listeners.get(listener.port)
        if have is None:
            result.steps.append(
                Step(
                    "create",
                    subject,
                    f"{listener.protocol} → {spec.target_group_name}",
                    "listener",
                    listener,
                )  # fmt: skip
            )
            continue
        wanted = {**listener.settings(), "Forward": spec.target_group_name}
        if {key: have.get(key) for key in wanted} == wanted:
            result.steps.append(Step("keep", subject, f"{listener.protocol}"))
        else:
            changed = ", ".join(
                f"{key} {have.get(key)} → {value}"
                for key, value in wanted.items()
                if have.get(key) != value
            )
            result.steps.append(Step("change", subject, changed, "listener", listener))
    for name, instance in targets.items():
        if instance in current.targets:
            result.steps.append(Step("keep", f"target {instance}", name))
        else:
            result.steps.append(Step("register", f"target {instance}", name, "target", instance))
    return result


def _compare(
    result: AlbPlan, subject: str, key: str, have: Any, wanted: Any, kind: str = "balancer"
) -> None:
    if have == wanted:
        result.steps.append(Step("keep", subject, f"{key} = {wanted}"))
    else:
        shown = "unset" if have is None else have
        result.steps.append(
            Step("change", subject, f"{key} {shown} → {wanted}", f"{kind}:{key}", wanted)
        )
