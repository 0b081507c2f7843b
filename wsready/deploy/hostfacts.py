"""Facts the deploy reads at plan time that no operation of it changes: read once per host.

pyinfra 3 does not cache facts: every `host.get_fact` is one command on the host. Several
tasks ask the same questions while planning (how many CPUs; apt-get or dnf), and pyinfra
plans one host after another, so with N hosts each repeated question costs N round trips
in a row (bench/deploy_rerun.py --profile: hardware.Cpus read 6 times and `which apt-get`
7 times per host). The answers are kept on the host object, so they last one run.
Only for facts no operation of the deploy can change; `which nginx` (nginx gets installed)
is not one of them.
"""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.facts.hardware import Cpus
from pyinfra.facts.server import LinuxDistribution, Which

from wsready.deploy import families

_MEMO = "_wsready_plan_facts"
_STABLE_COMMANDS = frozenset({"apt-get", "dnf"})


def _memo() -> dict[Any, Any]:
    current = host._get_module() if hasattr(host, "_get_module") else host
    memo = current.__dict__.get(_MEMO)
    if memo is None:
        memo = {}
        setattr(current, _MEMO, memo)
    return memo


def cpus() -> int | None:
    """`hardware.Cpus`, read once per host per run."""
    memo = _memo()
    if "cpus" not in memo:
        memo["cpus"] = host.get_fact(Cpus)
    return memo["cpus"]


def which(command: str) -> str | None:
    """`server.Which` for the package managers (apt-get, dnf), read once per host per run."""
    if command not in _STABLE_COMMANDS:
        raise ValueError(f"which({command!r}): only {sorted(_STABLE_COMMANDS)} are kept")
    memo = _memo()
    key = ("which", command)
    if key not in memo:
        memo[key] = host.get_fact(Which, command=command)
    return memo[key]


def release() -> families.Release:
    """The host's OS release (families.RELEASES), from the LinuxDistribution fact read once
    per host per run; UnsupportedRelease naming it when it has no row."""
    memo = _memo()
    if "distribution" not in memo:
        memo["distribution"] = host.get_fact(LinuxDistribution)
    return families.release_of_distribution(memo["distribution"])
