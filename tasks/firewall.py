"""Host firewall: SSH first (a deploy never locks itself out), then the web ports.

ufw on Debian/Ubuntu: the current rules are read from ufw's own rule files and only the
difference is added or deleted, so a re-run changes nothing. Elsewhere (Amazon Linux 2023),
or with `firewall_backend = "nftables"`, an nftables table of our own (`inet wsready`) with
the same rules, re-applied at boot; which one a family gets is data (families.py). The other
one is turned off: ufw disabled, or our nftables table removed.
`firewall_enabled = False` leaves the host's firewall alone.
"""

from __future__ import annotations

import dataclasses
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, dnf, files, server, systemd

from wsready.deploy import families
from wsready.deploy.firewall_rules import (
    NFT_FILE,
    NFT_TABLE,
    NFT_UNIT,
    managed_ports,
    nftables_ruleset,
    wanted_rules,
)
from wsready.deploy.operations import firewall
from wsready.deploy.operations.files import managed_file
from wsready.deploy.operations.firewall import checked_rule
from wsready.deploy.plan import host_plan
from wsready.deploy.shapes import apt_install
from wsready.hostdata import HostConfig


def _configure_ufw(
    data: HostConfig, family: families.Family, redis_clients: list[str] | None
) -> None:
    apt.packages(
        name="Install ufw.",
        packages=list(family.packages["ufw"]),
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


def _configure_nftables(
    data: HostConfig, family: families.Family, redis_clients: list[str] | None
) -> None:
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
    plan = host_plan()
    data = plan.data
    if not data.firewall_enabled:
        host.noop("firewall_enabled is False: the host firewall is left alone")
        return
    if plan.balancer_host:  # HAProxy serves lb_listen_port there, no nginx
        data = dataclasses.replace(data, nginx_listen_port=data.lb_listen_port, nginx_tls=False)
    backend = plan.family.firewall_backend(data.firewall_backend)
    configure = {"ufw": _configure_ufw, "nftables": _configure_nftables}[backend]
    configure(data, plan.family, plan.redis_clients)
