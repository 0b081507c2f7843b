"""Checks of the front door's data keys (`lb_*` in inventory/group_data/all.py).

The same keys describe an EC2 Application Load Balancer (wsready/aws/alb.py) and the
sandbox's balancer host (tasks/balancer.py): stickiness, idle timeout, deregistration delay,
health check. Every rule here is judged before any host or AWS resource is touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from wsready import validate
from wsready.validate import ConfigError

Data = Mapping[str, Any]
Check = Callable[[str, Any, Data], None]

# ALB names: 1-32 alphanumerics and hyphens, no hyphen at either end, not "internal-…".
_LB_NAME = re.compile(r"(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?")
_SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8,17}")
_SG_ID = re.compile(r"sg-[0-9a-f]{8,17}")
_CERT_ARN = re.compile(
    r"arn:aws(?:-[a-z]+)*:acm:[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:certificate/[0-9a-f-]{36}"
)
_TLS_POLICY = re.compile(r"ELBSecurityPolicy-[A-Za-z0-9-]{1,100}")


def _int(low: int, high: int) -> Check:
    def run(key: str, value: Any, _data: Data) -> None:
        validate.integer(key, value, low, high)

    return run


def _bool(key: str, value: Any, _data: Data) -> None:
    validate.boolean(key, value)


def _name(key: str, value: Any, _data: Data) -> None:
    validate.name(key, value, _LB_NAME, "must be 1-32 letters, digits or inner hyphens")


def _scheme(key: str, value: Any, _data: Data) -> None:
    validate.choice(key, value, ("internet-facing", "internal"))


def _subnets(key: str, value: Any, data: Data) -> None:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(key, value, "must be a list of subnet ids such as subnet-0123abcd")
    for index, item in enumerate(value):
        validate.name(f"{key}[{index}]", item, _SUBNET_ID, "must be a subnet id (subnet-…)")
    if data.get("lb_enabled") is True and len(set(value)) < 2:
        raise ConfigError(
            key, list(value), "must name at least two subnets (in two zones) for an ALB"
        )


def _security_group(key: str, value: Any, _data: Data) -> None:
    if value is not None:
        validate.name(key, value, _SG_ID, "must be a security group id such as sg-0123abcd")


def _certificate(key: str, value: Any, _data: Data) -> None:
    if value is not None:
        validate.name(key, value, _CERT_ARN, "must be an ACM certificate ARN")


def _tls_policy(key: str, value: Any, _data: Data) -> None:
    validate.name(key, value, _TLS_POLICY, "must be an ELB security policy name")


def above_ping_window(key: str, value: float, data: Data, otherwise: str) -> None:
    """An idle timeout (seconds) must exceed pingInterval + pingTimeout, or whatever holds it
    cuts a socket that is idle between two pings; `otherwise` says what happens then."""
    interval, timeout = data.get("app_ping_interval_ms"), data.get("app_ping_timeout_ms")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (interval, timeout)):
        needed = (interval + timeout) / 1000
        if value <= needed:
            raise ConfigError(
                key,
                value,
                f"must exceed (app_ping_interval_ms + app_ping_timeout_ms) / 1000 = {needed:g} "
                f"seconds, or {otherwise}",
            )


def _idle_timeout(key: str, value: Any, data: Data) -> None:
    """Above pingInterval + pingTimeout (the ALB's own default, 60 s, is above 45 s, but not
    by much)."""
    validate.integer(key, value, 1, 4000)
    above_ping_window(key, value, data, "the balancer cuts idle Socket.IO connections")


def _stickiness(key: str, value: Any, data: Data) -> None:
    validate.boolean(key, value)
    if value is False and data.get("lb_websocket_only") is not True:
        raise ConfigError(
            key,
            value,
            "polling clients need stickiness between hosts (else `400 Session ID unknown`); "
            "set lb_websocket_only = True if every client uses transports: ['websocket']",
        )


def _health_timeout(key: str, value: Any, data: Data) -> None:
    validate.integer(key, value, 2, 120)
    interval = data.get("lb_health_interval_s")
    if isinstance(interval, int) and not isinstance(interval, bool) and value >= interval:
        raise ConfigError(key, value, f"must be below lb_health_interval_s ({interval})")


CHECKS: dict[str, Check] = {
    "lb_enabled": _bool,
    "lb_name": _name,
    "lb_scheme": _scheme,
    "lb_subnet_ids": _subnets,
    "lb_security_group_id": _security_group,
    "lb_listen_port": _int(1, 65535),
    "lb_certificate_arn": _certificate,
    "lb_tls_port": _int(1, 65535),
    "lb_tls_policy": _tls_policy,
    "lb_idle_timeout_s": _idle_timeout,
    "lb_stickiness": _stickiness,
    "lb_stickiness_s": _int(1, 604800),
    "lb_websocket_only": _bool,
    "lb_deregistration_delay_s": _int(0, 3600),
    "lb_health_interval_s": _int(5, 300),
    "lb_health_timeout_s": _health_timeout,
    "lb_healthy_threshold": _int(2, 10),
    "lb_unhealthy_threshold": _int(2, 10),
}
