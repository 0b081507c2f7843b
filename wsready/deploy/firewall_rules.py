"""The host firewall's rules as data (moved from tasks/firewall.py, which applies them): SSH
first, then the web ports, or on a Redis host its port to the app hosts only; ufw's
difference to add and delete, or wsready's own nftables table `inet wsready`.
"""

from __future__ import annotations

from wsready.deploy.operations.firewall import Rule, checked_rule, rule_changes
from wsready.hostdata import HostConfig

NFT_FILE = "/etc/wsready/firewall.nft"
NFT_UNIT = "/etc/systemd/system/wsready-firewall.service"
NFT_TABLE = "inet wsready"


def wanted_rules(data: HostConfig, redis_clients: list[str] | None = None) -> list[Rule]:
    """Allow rules in the order they must exist: SSH first. A Redis host (`redis_clients`
    given) opens `redis_port` to those CIDRs only, and no web port."""
    rules: list[Rule] = [("tcp", data.firewall_ssh_port, c) for c in data.firewall_ssh_cidrs]
    if redis_clients is not None:
        return rules + [("tcp", data.redis_port, cidr) for cidr in redis_clients]
    ports = [data.nginx_listen_port]
    if data.nginx_tls:
        ports.append(data.nginx_tls_port)
    for port in ports:
        rules += [("tcp", port, cidr) for cidr in data.firewall_allow_cidrs]
    return rules


def managed_ports(data: HostConfig) -> set[int]:
    return {
        data.firewall_ssh_port,
        data.nginx_listen_port,
        data.nginx_tls_port,
        data.redis_port,
    }


def ufw_changes(
    data: HostConfig, state: dict, redis_clients: list[str] | None = None
) -> tuple[list[Rule], list[Rule]]:
    """(rules to add, rules to delete) for ufw in `state` (see `firewall.rule_changes`)."""
    return rule_changes(wanted_rules(data, redis_clients), state["rules"], managed_ports(data))


def nftables_ruleset(data: HostConfig, redis_clients: list[str] | None = None) -> str:
    """Our own table: default drop on input, established/loopback/ICMP and our ports allowed."""
    lines = [
        "# Managed by wsready (tasks/firewall.py).",
        "table inet wsready",
        "delete table inet wsready",
        "table inet wsready {",
        "    chain input {",
        "        type filter hook input priority filter; policy drop;",
        "        ct state established,related accept",
        '        iifname "lo" accept',
        "        meta l4proto { icmp, ipv6-icmp } accept",
    ]
    for proto, port, source in map(checked_rule, wanted_rules(data, redis_clients)):
        family = "ip6" if ":" in source else "ip"
        lines.append(f"        {family} saddr {source} {proto} dport {port} accept")
    lines += ["    }", "}", ""]
    return "\n".join(lines)
