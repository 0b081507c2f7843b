"""The fleet's front door seen from rollout, onboard and `wsready lb`: which hosts sit behind
it, and taking one out (drain) and putting it back (register, healthy) one host at a time.

Two front doors speak the same lb_* data: an EC2 ALB (`AlbDoor`, boto3) and the sandbox's
balancer host (`wsready.fleet.haproxy_door`, HAProxy's runtime API over SSH).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from wsready.aws import alb
from wsready.aws.alb_plan import BalancerSpec, fleet_spec
from wsready.aws.ec2 import ec2_client
from wsready.hostdata import HostConfig

Log = Callable[[str], None]
NOT_APP = ("redis", "balancer")  # groups whose hosts run no app (tasks/redis.py, balancer.py)


def app_hosts(
    hosts: Mapping[str, HostConfig], groups: Mapping[str, Sequence[str]]
) -> dict[str, HostConfig]:
    """The hosts that serve the app (in none of the `redis`, `balancer` groups)."""
    return {
        name: config
        for name, config in hosts.items()
        if not set(groups.get(name, ())) & set(NOT_APP)
    }


class FrontDoor(Protocol):
    """Moves one app host out of and back into the balancer."""

    description: str

    def drain(self, name: str, log: Log) -> None:
        """Stop sending new clients to `name` and wait until its connections have drained."""

    def restore(self, name: str, log: Log) -> None:
        """Send clients to `name` again, once the balancer's health check passes."""


@dataclass
class AlbDoor:
    """The fleet's ALB: its target group holds the app hosts' instances."""

    spec: BalancerSpec
    hosts: Mapping[str, HostConfig]
    client: Any = None
    ec2: Any = None
    _instances: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = self.client or alb.elbv2_client(self.spec.region, self.spec.endpoint_url)
        self.ec2 = self.ec2 or ec2_client(self.spec.region, self.spec.endpoint_url)

    @classmethod
    def from_hosts(cls, hosts: Mapping[str, HostConfig]) -> AlbDoor:
        return cls(fleet_spec(hosts), hosts)

    @property
    def description(self) -> str:
        return f"load balancer {self.spec.name} (target group {self.spec.target_group_name})"

    def instance(self, name: str) -> str:
        if name not in self._instances:
            config = self.hosts[name]
            self._instances[name] = alb.instance_id_of(
                self.ec2, config.instance_id, config.ssh_address
            )
        return self._instances[name]

    def drain(self, name: str, log: Log) -> None:
        arn, instance = alb.target_group_arn(self.client, self.spec), self.instance(name)
        log(f"{name}: deregistering {instance} from {self.spec.target_group_name}")
        alb.deregister(self.client, arn, instance, self.spec.target_port)
        alb.wait_drained(
            self.client,
            arn,
            instance,
            self.spec.target_port,
            self.spec.deregistration_delay_s,
            lambda line: log(f"{name}: {line}"),
        )

    def restore(self, name: str, log: Log) -> None:
        arn, instance = alb.target_group_arn(self.client, self.spec), self.instance(name)
        log(f"{name}: registering {instance} in {self.spec.target_group_name}")
        alb.register(self.client, arn, instance, self.spec.target_port)
        alb.wait_healthy(self.client, arn, self.spec, instance, lambda line: log(f"{name}: {line}"))


def front_door(
    hosts: Mapping[str, HostConfig], groups: Mapping[str, Sequence[str]]
) -> FrontDoor | None:
    """The fleet's front door: the sandbox's balancer host when the inventory has a
    `balancer` group, else the ALB when the app hosts set lb_enabled, else None."""
    apps = app_hosts(hosts, groups)
    balancers = [name for name in hosts if "balancer" in groups.get(name, ())]
    if balancers:
        from wsready.fleet.haproxy_door import HaproxyDoor

        return HaproxyDoor(hosts[balancers[0]], apps)
    if any(config.lb_enabled for config in apps.values()):
        return AlbDoor.from_hosts(apps)
    return None
