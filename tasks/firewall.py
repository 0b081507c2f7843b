"""Host firewall: SSH first (a deploy never locks itself out), then the web ports.

ufw on Debian/Ubuntu: the current rules are read from ufw's own rule files and only the
difference is added or deleted, so a re-run changes nothing. Elsewhere (Amazon Linux 2023),
or with `firewall_backend = "nftables"`, an nftables table of our own (`inet wsready`) with
the same rules, re-applied at boot; which one a family gets is data (families.py). The other
one is turned off: ufw disabled, or our nftables table removed.
`firewall_enabled = False` leaves the host's firewall alone.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, dnf, files, server, systemd

from tasks.redis import is_redis_host
from wsready.deploy import hostfacts, redis_plan
from wsready.deploy.operations import firewall
from wsready.deploy.operations.files import managed_file
from wsready.deploy.operations.firewall import Rule, checked_rule, rule_changes
from wsready.deploy.shapes import apt_install
from wsready.hostdata import HostConfig, host_config

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


def _configure_ufw(data: HostConfig, redis_clients: list[str] | None) -> None:
    apt.packages(
        name="Install ufw.",
        packages=list(hostfacts.family().packages["ufw"]),
        no_recommends=True,
        update=True,
        cache_time=86400,
    )
    firewall.ufw_rules(
        name="Allow SSH, then the web ports, in ufw; deny the rest; delete stale rules.",
        # checked here too: a hostile rule stops the deploy before any command runs
        rules=[checked_rule(rule) for rule in wanted_rules(data, redis_clients)],
        ports=sorted(managed_ports(data)),
    )
    firewall.nftables_table_absent(
        name="Remove the wsready nftables table (ufw is the firewall).",
        table=NFT_TABLE,
        path=NFT_FILE,
        unit=NFT_UNIT,
    )


def _configure_nftables(data: HostConfig, redis_clients: list[str] | None) -> None:
    family = hostfacts.family()
    if family.apt:
        apt_install(
            "Install nftables without recommended packages.", list(family.packages["nftables"])
        )
    else:
        dnf.packages(name="Install nftables.", packages=list(family.packages["nftables"]))
    files.directory(name="Create /etc/wsready.", path="/etc/wsready", mode="0755")
    ruleset = managed_file(
        name="Write the wsready nftables table.",
        content=nftables_ruleset(data, redis_clients),
        dest=NFT_FILE,
        user="root",
        group="root",
        mode="600",
        action="firewall",
    )
    unit = files.put(
        name="Install the unit that loads the wsready nftables table at boot.",
        src=StringIO(
            "[Unit]\nDescription=wsready firewall table\nBefore=network-pre.target\n"
            "Wants=network-pre.target\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
            f"ExecStart=/usr/sbin/nft -f {NFT_FILE}\n\n[Install]\nWantedBy=multi-user.target\n"
        ),
        dest=NFT_UNIT,
        mode="0644",
    )
    systemd.daemon_reload(name="Reload systemd for the firewall unit.", _if=unit.did_change)
    systemd.service(
        name="Enable the wsready firewall unit.", service="wsready-firewall", enabled=True
    )
    server.shell(
        name="Load the wsready nftables table now.",
        commands=[f"nft -f {NFT_FILE}"],
        _if=ruleset.did_change,
    )
    if family.has_ufw:  # once the table holds: ufw of an earlier deploy goes off
        firewall.ufw_off(name="Turn ufw off (the nftables table is the firewall).")


@deploy("Configure the host firewall")
def configure_firewall() -> None:
    data = host_config(host)
    if not data.firewall_enabled:
        host.noop("firewall_enabled is False: the host firewall is left alone")
        return
    clients = redis_clients() if is_redis_host() else None
    backend = hostfacts.family().firewall_backend(data.firewall_backend)
    {"ufw": _configure_ufw, "nftables": _configure_nftables}[backend](data, clients)


def redis_clients() -> list[str]:
    """CIDRs that may reach this Redis host: every app host of the inventory (its private
    address), then `redis_allow_cidrs`."""
    app_hosts = [
        host_config(each)
        for each in host.state.inventory
        if redis_plan.REDIS_GROUP not in each.groups
    ]
    return redis_plan.client_cidrs(app_hosts, host_config(host).redis_allow_cidrs)
