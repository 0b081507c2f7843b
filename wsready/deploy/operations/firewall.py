"""
Manage the host firewall's allow rules (ufw).
"""

from __future__ import annotations

import contextlib
import ipaddress
import shlex
from collections.abc import Iterable, Sequence

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.files import File

from wsready import validate
from wsready.deploy.facts.firewall import UfwState
from wsready.deploy.transaction import save_command

Rule = tuple[str, int, str]  # (proto, port, source CIDR)
# What ufw keeps its rules and state in (recorded before a change, restored by a rollback).
UFW_FILES = (
    "/etc/ufw/user.rules",
    "/etc/ufw/user6.rules",
    "/etc/ufw/ufw.conf",
    "/etc/default/ufw",
)


def checked_rule(rule: Sequence) -> Rule:
    """The rule if every part of it parses (tcp/udp, a port, a canonical CIDR without scope
    id); else ValueError. What reaches ufw's command line or the nft file is only this."""
    proto, port, source = rule
    validate.choice("firewall rule protocol", proto, ("tcp", "udp"))
    validate.port("firewall rule port", port)
    validate.cidr("firewall rule source", source)
    return (proto, port, source)


def ufw_rule(rule: Sequence) -> str:
    """ufw's words for an allow rule (after `ufw ` or `ufw delete `)."""
    proto, port, source = checked_rule(rule)
    return f"allow proto {proto} from {shlex.quote(source)} to any port {port:d}"


def rule_changes(
    wanted: Sequence[Rule], present: Iterable[Sequence], ports: Iterable[int]
) -> tuple[list[Rule], list[Rule]]:
    """(rules to add, rules to delete): stale tcp allow rules on `ports` go, others stay.
    Sources compare as networks: ufw writes a single address without its /32 (/128)."""
    have = {tuple(rule) for rule in present}
    have_keys = {_same_source(rule) for rule in have}
    wanted_keys = {_same_source(rule) for rule in wanted}
    managed = set(ports)
    add = [rule for rule in wanted if _same_source(rule) not in have_keys]
    delete = sorted(
        rule
        for rule in have
        if rule[0] == "tcp" and rule[1] in managed and _same_source(rule) not in wanted_keys
    )
    return add, delete


def _same_source(rule: Sequence) -> tuple:
    """The rule with its source as a network (`10.0.1.5` and `10.0.1.5/32` are one)."""
    proto, port, source = rule
    with contextlib.suppress(ValueError):
        source = str(ipaddress.ip_network(source, strict=False))
    return (proto, port, source)


@operation()
def ufw_rules(rules: Sequence[Sequence], ports: Sequence[int]):
    """
    Make ufw allow exactly ``rules`` on ``ports``, deny other incoming connections, enabled.

    + rules: ``(protocol, port, source CIDR)`` allow rules, in the order they must exist
      (SSH first, so a deploy never locks itself out)
    + ports: the ports the deploy manages: a tcp allow rule on one of them that is not in
      ``rules`` is deleted (after the new rules exist); rules on other ports stay

    ufw's files are recorded in the run's transaction before the first change. Reads ufw's
    own files (``UfwState``), so a re-run changes nothing.

    **Example:**

    .. code:: python

        firewall.ufw_rules(
            name="Allow SSH, then HTTP, in ufw.",
            rules=[("tcp", 22, "0.0.0.0/0"), ("tcp", 80, "0.0.0.0/0")],
            ports=[22, 80, 443],
        )
    """
    wanted = [checked_rule(rule) for rule in rules]
    state = host.get_fact(UfwState) or {"enabled": False, "input_policy": "", "rules": set()}
    add, delete = rule_changes(wanted, state["rules"], ports)
    deny = state["input_policy"] != "DROP"
    enable = not state["enabled"]
    if not (add or delete or deny or enable):
        host.noop("ufw already holds exactly the wanted rules")
        return
    yield save_command(UFW_FILES, "firewall")
    for rule in add:
        yield f"ufw {ufw_rule(rule)}"
    if deny:
        yield "ufw default deny incoming"
    if enable:
        yield "ufw --force enable"
    for rule in delete:
        yield f"ufw delete {ufw_rule(rule)}"


@operation()
def ufw_off():
    """
    Turn ufw off: the host's firewall is wsready's nftables table instead
    (``firewall_backend = "nftables"``). ufw's rules stay in its files, unused; its files are
    recorded in the run's transaction first.

    **Example:**

    .. code:: python

        firewall.ufw_off(name="Turn ufw off (the nftables table is the firewall).")
    """
    state = host.get_fact(UfwState)
    if not state or not state["enabled"]:
        host.noop("ufw is not installed or not enabled")
        return
    yield save_command(UFW_FILES, "firewall")
    yield "ufw --force disable"


@operation()
def nftables_table_absent(table: str, path: str, unit: str):
    """
    Remove wsready's nftables table, its file and the unit that loads it at boot: the host's
    firewall is ufw (``firewall_backend = "ufw"``, or "auto" on Debian/Ubuntu).

    + table: the nftables table (``inet wsready``)
    + path: the file holding it
    + unit: the path of the systemd unit loading it at boot

    **Example:**

    .. code:: python

        firewall.nftables_table_absent(
            name="Remove the wsready nftables table (ufw is the firewall).",
            table="inet wsready",
            path="/etc/wsready/firewall.nft",
            unit="/etc/systemd/system/wsready-firewall.service",
        )
    """
    table = validate.choice("nftables table", table, ("inet wsready",))
    present = [p for p in (path, unit) if host.get_fact(File, path=p)]
    if not present:
        host.noop("no wsready nftables table on this host")
        return
    yield save_command((path, unit), "firewall")
    name = shlex.quote(unit.rsplit("/", 1)[-1])
    yield f"systemctl disable {name} 2>/dev/null || true"
    yield f"rm -f {' '.join(shlex.quote(p) for p in (path, unit))}"
    yield "systemctl daemon-reload"
    yield f"nft delete table {table} 2>/dev/null || true"
