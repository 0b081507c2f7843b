"""Refuse bad host data for the whole fleet before any host is changed.

Runs at plan time, first in deploy.py: pyinfra stops on the raised DeployError before it
executes a single operation on any host. Keys a host does not set get their documented
default from `inventory/group_data/all.py` (pyinfra reads group_data only next to the
inventory or the working directory, so an inventory elsewhere would otherwise miss them).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.hardware import Cpus

from wsready import capacity, hostdata


def fleet_errors(hosts, defaults) -> list[str]:
    """`host: key = value: why` for every problem of every host."""
    lines = []
    for each in hosts:
        for error in hostdata.validate(each.data.dict(), defaults):
            lines.append(f"{each.name}: {error}")
    return lines


@deploy("Check host data")
def check_host_data() -> None:
    defaults = hostdata.load_defaults()
    problems = fleet_errors(host.state.inventory, defaults)
    if problems:
        raise DeployError(
            "host data refused, nothing was changed on any host:\n  " + "\n  ".join(problems)
        )
    present = host.data.dict()
    for key, value in defaults.items():
        if key not in present:
            setattr(host.data, key, value)
    # Limits that depend on the host's size (plan time: still before any change anywhere).
    limits = capacity.errors(host.data.dict(), host.get_fact(Cpus) or 1)
    if limits:
        raise DeployError(
            "host data refused, nothing was changed on any host:\n  "
            + "\n  ".join(f"{host.name}: {error}" for error in limits)
        )
