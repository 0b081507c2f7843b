"""Security-group ingress as data: the rules wsready wants, and the pure add/keep/revoke plan.

No boto3 here: `wsready.aws` reads and changes groups, this module only decides.
A rule is one protocol + port range + one CIDR, the unit AWS itself matches on; its
description is carried along but never part of the identity.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wsready import validate
from wsready.hostdata import HostConfig

OWNER_PREFIX = "wsready:"
WORLD = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True)
class Rule:
    """One ingress rule: `tcp 80 from 0.0.0.0/0`."""

    protocol: str
    from_port: int
    to_port: int
    cidr: str
    description: str = ""

    @property
    def key(self) -> tuple[str, int, int, str]:
        return (self.protocol, self.from_port, self.to_port, self.cidr)

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.cidr

    @property
    def is_group(self) -> bool:
        """True when the source is another security group (`sg-…`, the balancer's), not a
        CIDR."""
        return self.cidr.startswith("sg-")

    @property
    def owned(self) -> bool:
        """True when wsready added it (its description starts with `wsready:`)."""
        return self.description.startswith(OWNER_PREFIX)

    def __str__(self) -> str:
        if self.protocol == "-1":
            ports = "all traffic"
        elif self.from_port == self.to_port:
            ports = f"{self.protocol} {self.from_port}"
        else:
            ports = f"{self.protocol} {self.from_port}-{self.to_port}"
        described = f'  "{self.description}"' if self.description else ""
        return f"{ports} from {self.cidr}{described}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "from_port": self.from_port,
            "to_port": self.to_port,
            "cidr": self.cidr,
            "description": self.description,
        }


@dataclass(frozen=True)
class Port:
    """A TCP port to open and why (the why ends up in the rule description)."""

    number: int
    why: str


def desired_rules(
    ports: Iterable[Port],
    allow_cidrs: Iterable[str],
    ssh_cidrs: Iterable[str] = (),
    ssh_port: int = 22,
    allow_ssh_from_world: bool = False,
    *,
    allow_key: str = "sg_allow_cidrs",
    ssh_key: str = "sg_ssh_cidrs",
    max_public_prefix_v4: int = 16,
    max_public_prefix_v6: int = 48,
) -> list[Rule]:
    """The ingress rules wanted: every port from every allowed CIDR, SSH from `ssh_cidrs`.

    Raises `ConfigError` for a non-canonical CIDR and for SSH open to the world
    (`0.0.0.0/0`, `::/0`) without `allow_ssh_from_world`.
    """
    allowed = _unique_cidrs(allow_key, allow_cidrs)
    ssh = _unique_cidrs(ssh_key, ssh_cidrs)
    validate.port("ssh_port", ssh_port)
    ports = list(ports)
    # The guard holds for the SSH port whichever option opens it (--port 22 --allow-cidr ...).
    ssh_sources = [(ssh_key, ssh)]
    if any(port.number == ssh_port for port in ports):
        ssh_sources.append((allow_key, allowed))
    if not allow_ssh_from_world:
        for key, networks in ssh_sources:
            for index, network in enumerate(networks):
                if network.prefixlen == 0:
                    raise validate.ConfigError(
                        f"{key}[{index}]",
                        str(network),
                        f"opens SSH to the whole internet (port {ssh_port}); set "
                        "sg_allow_ssh_from_world = True (--allow-ssh-from-world) if meant",
                    )
        too_wide = public_span_problem(
            [network for _key, networks in ssh_sources for network in networks],
            max_public_prefix_v4,
            max_public_prefix_v6,
        )
        if too_wide:
            raise validate.ConfigError(
                ssh_sources[-1][0] if len(ssh_sources) > 1 else ssh_key,
                [str(network) for _key, networks in ssh_sources for network in networks],
                f"{too_wide} for SSH (port {ssh_port}); set sg_allow_ssh_from_world = True "
                "(--allow-ssh-from-world) if meant",
            )
    rules: dict[tuple, Rule] = {}
    for port in ports:
        validate.port("port", port.number)
        for network in allowed:
            rule = _tcp(port.number, network, port.why)
            rules.setdefault(rule.key, rule)
    for network in ssh:
        rule = _tcp(ssh_port, network, "ssh")
        rules.setdefault(rule.key, rule)
    return list(rules.values())


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def public_addresses(network: Network) -> int:
    """How many addresses of `network` are public (outside private and reserved ranges)."""
    if not network.is_global and (network.is_private or network.is_reserved):
        return 0
    if network.version == 4 and network.prefixlen >= 8:
        return 0 if not network.is_global else network.num_addresses
    # A wide network: count its /8 (IPv4) or /16 (IPv6) parts that are not private.
    step = 8 if network.version == 4 else 16
    if network.prefixlen >= step:
        return network.num_addresses if network.is_global else 0
    return sum(public_addresses(part) for part in network.subnets(new_prefix=step))


def public_span_problem(
    networks: Iterable[Network], max_prefix_v4: int = 16, max_prefix_v6: int = 48
) -> str | None:
    """Why `networks` together open more public addresses than one /max_prefix, or None.
    Two /1s are the whole internet as surely as 0.0.0.0/0."""
    for version, max_prefix, bits in ((4, max_prefix_v4, 32), (6, max_prefix_v6, 128)):
        chosen = [network for network in networks if network.version == version]
        total = sum(public_addresses(network) for network in ipaddress.collapse_addresses(chosen))
        if total > 2 ** (bits - max_prefix):
            return (
                f"together cover {total:,} public IPv{version} addresses, wider than one "
                f"/{max_prefix} (sg_ssh_max_public_prefix_v{version})"
            )
    return None


def desired_from_data(data: HostConfig, redis_clients: list[str] | None = None) -> list[Rule]:
    """`desired_rules` for a host's configuration. A host of the `redis` group
    (`redis_clients` given) opens `redis_port` to those CIDRs only, and no web port."""
    if redis_clients is not None:
        ports = [Port(data.redis_port, "redis")]
        allow: Sequence[str] = redis_clients
    else:
        ports = [Port(data.nginx_listen_port, "nginx http")]
        # With TLS (a given pair, self-signed or ACME) 443 opens and 80 stays open: the
        # redirect, health checks and ACME's HTTP-01 challenge are answered there.
        if data.nginx_tls:
            ports.append(Port(data.nginx_tls_port, "nginx https"))
        allow = data.sg_allow_cidrs
        if data.lb_enabled and data.lb_security_group_id:
            # Behind the ALB: nginx's ports admit the balancer's group only.
            return group_rules(ports, data.lb_security_group_id) + desired_rules(
                [],
                [],
                data.sg_ssh_cidrs,
                ssh_port=data.firewall_ssh_port,
                allow_ssh_from_world=data.sg_allow_ssh_from_world,
                max_public_prefix_v4=data.sg_ssh_max_public_prefix_v4,
                max_public_prefix_v6=data.sg_ssh_max_public_prefix_v6,
            )
    return desired_rules(
        ports,
        allow,
        data.sg_ssh_cidrs,
        allow_key="redis clients" if redis_clients is not None else "sg_allow_cidrs",
        ssh_port=data.firewall_ssh_port,
        allow_ssh_from_world=data.sg_allow_ssh_from_world,
        max_public_prefix_v4=data.sg_ssh_max_public_prefix_v4,
        max_public_prefix_v6=data.sg_ssh_max_public_prefix_v6,
    )


def group_rules(ports: Iterable[Port], group_id: str) -> list[Rule]:
    """Every port open to one security group (the balancer's) and nothing else."""
    return [
        Rule("tcp", port.number, port.number, group_id, f"{OWNER_PREFIX} {port.why} from lb")
        for port in ports
    ]


def rules_from_permissions(permissions: Iterable[Mapping[str, Any]]) -> list[Rule]:
    """Flatten EC2 `IpPermissions` into CIDR rules.

    Rules that reference another security group are left out (wsready never touches them),
    except its own (the balancer's group: `wsready: …` descriptions), read with the group id
    in place of the CIDR; prefix lists are left out.
    """
    rules = []
    for permission in permissions:
        protocol = _protocol_name(str(permission.get("IpProtocol", "-1")))
        from_port = int(permission.get("FromPort", -1))
        to_port = int(permission.get("ToPort", -1))
        for item in permission.get("IpRanges", []):
            cidr = str(ipaddress.ip_network(item["CidrIp"], strict=False))
            rules.append(Rule(protocol, from_port, to_port, cidr, item.get("Description", "")))
        for item in permission.get("Ipv6Ranges", []):
            cidr = str(ipaddress.ip_network(item["CidrIpv6"], strict=False))
            rules.append(Rule(protocol, from_port, to_port, cidr, item.get("Description", "")))
        for item in permission.get("UserIdGroupPairs", []):
            described = item.get("Description", "")
            if item.get("GroupId") and described.startswith(OWNER_PREFIX):
                rules.append(Rule(protocol, from_port, to_port, item["GroupId"], described))
    return rules


def permission(rule: Rule, with_description: bool = True) -> dict[str, Any]:
    """One rule as an EC2 `IpPermissions` entry."""
    if rule.is_group:
        ranges_key, cidr_key = "UserIdGroupPairs", "GroupId"
    elif rule.is_ipv6:
        ranges_key, cidr_key = "Ipv6Ranges", "CidrIpv6"
    else:
        ranges_key, cidr_key = "IpRanges", "CidrIp"
    cidr_range: dict[str, str] = {cidr_key: rule.cidr}
    if with_description and rule.description:
        cidr_range["Description"] = rule.description
    entry: dict[str, Any] = {"IpProtocol": rule.protocol, ranges_key: [cidr_range]}
    if rule.protocol != "-1":
        entry["FromPort"] = rule.from_port
        entry["ToPort"] = rule.to_port
    return entry


@dataclass
class Plan:
    """What `apply` will do to one group."""

    add: list[Rule] = field(default_factory=list)
    keep: list[Rule] = field(default_factory=list)
    revoke: list[Rule] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.add or self.revoke)

    def summary(self) -> str:
        if not self.has_changes:
            return f"no changes ({len(self.keep)} to keep)"
        return f"{len(self.add)} to add, {len(self.keep)} to keep, {len(self.revoke)} to revoke"

    def lines(self) -> list[str]:
        """`+ add`, `= keep`, `- revoke`, one rule per line."""
        return (
            [f"+ add    {rule}" for rule in self.add]
            + [f"= keep   {rule}" for rule in self.keep]
            + [f"- revoke {rule}" for rule in self.revoke]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "add": [rule.to_dict() for rule in self.add],
            "keep": [rule.to_dict() for rule in self.keep],
            "revoke": [rule.to_dict() for rule in self.revoke],
            "changes": self.has_changes,
        }


def plan(
    desired: Iterable[Rule],
    current: Iterable[Rule],
    purge: bool = False,
    purge_all: bool = False,
    ssh_port: int = 22,
) -> Plan:
    """Compare desired with current rules (pure).

    Desired rules missing from the group are added; present ones are kept whatever their
    description. With `purge`, current rules not desired are revoked — only those wsready
    owns (description `wsready: …`), or every CIDR rule with `purge_all`.
    """
    current_by_key = {rule.key: rule for rule in current}
    desired_by_key = {rule.key: rule for rule in desired}
    result = Plan()
    for key, rule in desired_by_key.items():
        if key in current_by_key:
            result.keep.append(current_by_key[key])
        else:
            result.add.append(rule)
    # Without SSH rules of its own the deploy still needs SSH: whatever opens `ssh_port`
    # stays (purging it would lock the next deploy out). Given SSH CIDRs replace it.
    keeps_ssh = not any(_covers(rule, ssh_port) for rule in desired_by_key.values())
    if purge or purge_all:
        for key, rule in current_by_key.items():
            if keeps_ssh and _covers(rule, ssh_port):
                continue
            if key not in desired_by_key and (purge_all or rule.owned):
                result.revoke.append(rule)
    return result


def _covers(rule: Rule, port: int) -> bool:
    return rule.protocol == "-1" or (
        rule.protocol == "tcp" and rule.from_port <= port <= rule.to_port
    )


def _tcp(port: int, network: ipaddress.IPv4Network | ipaddress.IPv6Network, why: str) -> Rule:
    return Rule("tcp", port, port, str(network), f"{OWNER_PREFIX} {why}")


def _unique_cidrs(
    key: str, values: Iterable[str]
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    if not isinstance(values, (list, tuple, str)):
        values = list(values)
    networks = validate.cidr_list(key, values)
    return list(dict.fromkeys(networks))


def _protocol_name(protocol: str) -> str:
    return {"6": "tcp", "17": "udp", "1": "icmp"}.get(protocol, protocol)
