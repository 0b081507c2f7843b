"""Probes as data plus their runners; post-deploy verify, `wsready check` and
`wsready diagnose` all use these same definitions. `diagnosis` names the first broken layer
from their results, with the runbook's fix.

    results = run_probes(Target("http://10.200.1.2"), timeout_s=5)
    for result in results:
        print(result.state, result)          # ok  upgrade status (101, …) == 101
"""

from wsready.probes.model import Probe, ProbeResult, Target, Thresholds
from wsready.probes.plan import plan_probes
from wsready.probes.runner import run_probes

__all__ = ["Probe", "ProbeResult", "Target", "Thresholds", "plan_probes", "run_probes"]
