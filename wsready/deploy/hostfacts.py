"""Facts the deploy reads at plan time that no operation of it changes: read once per host.

pyinfra 3 does not cache facts: every `host.get_fact` is one command on the host. Several
tasks ask the same questions while planning (how many CPUs; which OS release), and pyinfra
plans one host after another, so with N hosts each repeated question costs N round trips
in a row (bench/deploy_rerun.py --profile: hardware.Cpus was read 6 times and `which
apt-get` 7 times per host). The answers are kept on the host object, so they last one run.
Only for facts no operation of the deploy can change; `which nginx` (nginx gets installed)
is not one of them. The OS family is not asked of the host at all: it is a column of the
release's row (families.RELEASES), so the preflight's refusal of an unknown release is the
only place an OS is judged.
"""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.facts.hardware import Cpus
from pyinfra.facts.server import LinuxDistribution

from wsready.deploy import families

_MEMO = "_wsready_plan_facts"


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


def release() -> families.Release:
    """The host's OS release (families.RELEASES), from the LinuxDistribution fact read once
    per host per run; UnsupportedRelease naming it when it has no row."""
    memo = _memo()
    if "distribution" not in memo:
        memo["distribution"] = host.get_fact(LinuxDistribution)
    return families.release_of_distribution(memo["distribution"])


def family() -> families.Family:
    """The host's OS family: its release's row says it (UnsupportedRelease without one)."""
    return release().family
