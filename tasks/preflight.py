"""Refuse bad host data for the whole fleet before any host is changed.

Runs at plan time, first in deploy.py: pyinfra stops on the raised DeployError before it
executes a single operation on any host. Each host's data becomes its HostConfig here
(wsready.hostdata: keys a host does not set get their documented default from
`inventory/group_data/all.py`, wherever the inventory lies); every task reads that.
"""

from __future__ import annotations

import contextlib
import socket

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.hardware import Cpus
from pyinfra.facts.server import LinuxDistribution

from wsready.deploy import batched_facts, capacity, claims, families, op_order, redis_plan
from wsready.deploy.facts.claims import SystemClaims
from wsready.deploy.plan import host_plan
from wsready.hostdata import HostDataError, host_config
from wsready.validate import ConfigError


def fleet_errors(hosts) -> list[str]:
    """`host: key = value: why` for every problem of every host."""
    lines = []
    for each in hosts:
        try:
            host_config(each)
        except HostDataError as error:
            lines += [f"{each.name}: {problem}" for problem in error.errors]
    return lines


def ssh_without_nagle(connector) -> bool:
    """Turn on TCP_NODELAY on pyinfra's SSH socket to the host; True when it did.

    paramiko leaves Nagle's algorithm on (OpenSSH's own client turns it off): every fact
    and command is a few small packets, and each one then waits for the host's delayed ACK
    (~40 ms). A no-change deploy runs ~100 of them: measured 56 ms per command with Nagle,
    7 ms without (bench/deploy_rerun.py, docs/benchmarks.md). What is sent is unchanged.
    Other connectors (@local, a proxy-jump channel instead of a socket) are left alone.
    """
    client = getattr(connector, "client", None)
    get_transport = getattr(client, "get_transport", None)
    transport = get_transport() if callable(get_transport) else None
    sock = getattr(transport, "sock", None)
    if not isinstance(sock, socket.socket) or sock.type != socket.SOCK_STREAM:
        return False
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return True
    return False


@deploy("Check host data")
def check_host_data() -> None:
    ssh_without_nagle(getattr(host, "connector", None))
    # pyinfra's operation order without reading source files (wsready/deploy/op_order), and
    # facts kept while nothing ran on the host, read in batches (wsready/deploy/batched_facts).
    op_order.install()
    current = host._get_module() if hasattr(host, "_get_module") else host
    batched_facts.install(current)
    problems = fleet_errors(host.state.inventory)
    if problems:
        raise DeployError(
            "host data refused, nothing was changed on any host:\n  " + "\n  ".join(problems)
        )
    # The host's OS release, read from it (plan time: still before any change anywhere).
    plan = host_plan()
    data = plan.data
    app_host = redis_plan.REDIS_GROUP not in host.groups
    claims_args = {"app_name": data.app_name, "user": data.app_user, "app_dir": data.app_dir}
    batched_facts.prefetch(
        current,
        [(LinuxDistribution, {}), (Cpus, {})] + [(SystemClaims, claims_args)] * app_host,
    )
    try:
        plan.release  # noqa: B018 - read once here: the host's plan keeps it
    except families.UnsupportedRelease as error:
        raise DeployError(
            f"host refused, nothing was changed on any host:\n  {host.name}: {error}"
        ) from None
    # Limits that depend on the host's size (plan time: still before any change anywhere).
    limits = [str(error) for error in capacity.errors(data, plan.sized)]
    if app_host:  # an app host: its names must be free
        limits += claims.conflicts(
            host.get_fact(SystemClaims, **claims_args),
            data.app_name,
            data.app_user,
            data.app_dir,
        )
        if data.app_source:
            try:  # symlinks leaving it, package.json's main
                plan.app_release  # noqa: B018 - scanned once here: the host's plan keeps it
            except ConfigError as error:
                limits.append(str(error))
    if limits:
        raise DeployError(
            "host data refused, nothing was changed on any host:\n  "
            + "\n  ".join(f"{host.name}: {error}" for error in limits)
        )
