"""A new generation of app workers beside the old one (app_restart = "generations").

Runs after nginx's new config is active (deploy.py), at execute time on the machine running
pyinfra (python.call), from what the host runs then (wsready/deploy/generations.py decides):

1. **Start** the other slot's instances with this run's release and environment (tasks/app.py
   switched `current` and the environment file; the running slot keeps what it loaded).
2. **Prove** it through nginx, before any client reaches it: the same client-faithful probes
   as the verify step, with `X-Wsready-Generation: <slot>` on every request (an nginx map
   sends those to that slot; clients never send it), once /api/health shows this run's
   release and config on every worker of that slot. A slot that fails is stopped: nginx was
   never pointed at it, the old slot keeps serving, and the verify step then rolls the files
   back (the old slot is not restarted: it never changed).
3. **Switch and drain**, host-side in one transient systemd unit (a deploy killed meanwhile
   does not stop it halfway): nginx's `default` goes to the new slot (`nginx -t`, reload),
   its units are enabled, the old slot's are stopped with the paced drain, so each client is
   closed once, reconnects through nginx to the new slot and recovers its session.

A run that finds the serving slot already on this run's config only stops the other slot if
a killed run left it running: the next run converges on one generation.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import replace
from functools import partial

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.facts.server import Command
from pyinfra.operations import python

from wsready.deploy import generations, transaction
from wsready.deploy.plan import host_plan
from wsready.deploy.verify import (
    Fingerprints,
    Plan,
    fingerprint_budget,
    format_report,
    health_answer,
    plan_verify,
    privilege_arguments,
    probe_until_ok,
    wait_for_fingerprints,
)
from wsready.fleet import tokens

LISTEN_BUDGET_S = 30.0  # how long new instances may take to listen
SWITCH_FREE_WAIT_S = 120  # how long a previous run's switch unit may still hold its name
SEPARATOR = "--wsready-units--"


class GenerationError(RuntimeError):
    """The new generation could not be started or proven; the old one keeps serving."""


def _q(value: str) -> str:
    return shlex.quote(value)


def _read(run, command: str) -> str:
    ok, output = run(command)
    return "\n".join(output.stdout_lines) if ok else ""


def _slot_target(plan: Plan, slot: str):
    headers = ((generations.HEADER, slot),)
    return replace(plan.target, token=plan.token(), headers=headers)


def _current(plan: Plan, slot: str) -> bool:
    """Whether `slot` answers, through nginx, with this run's release, config and workers."""
    expected = replace(plan.fingerprints, site=None)
    if expected.release is None:
        return False  # REST elsewhere: the app's health is not ours to read; prove again
    try:
        header, body = health_answer(_slot_target(plan, slot), plan.timeout_s)
    except Exception:  # noqa: BLE001 - any failure to answer means "not current"
        return False
    return expected.mismatch(header, body) is None


def _start(run, app_name: str, slot: str, workers: int, first_port: int) -> None:
    units = generations.units(app_name, slot, workers)
    ok, output = run(f"systemctl restart {' '.join(_q(u) for u in units)}")
    if not ok:
        raise GenerationError(f"systemctl restart {' '.join(units)}: {output.stderr.strip()}")
    ports = [first_port + index for index in generations.instances(slot, workers)]
    deadline = time.monotonic() + LISTEN_BUDGET_S
    listening = " && ".join(f"ss -Hltn 'sport = :{port}' | grep -q ." for port in ports)
    while not run(listening)[0]:
        if time.monotonic() > deadline:
            raise GenerationError(
                f"slot {slot} did not listen on {ports} within {LISTEN_BUDGET_S:g} s"
            )
        time.sleep(0.2)


def _prove(plan: Plan, slot: str) -> None:
    target = _slot_target(plan, slot)
    expected = Fingerprints(
        None, plan.fingerprints.release, plan.fingerprints.config, plan.fingerprints.workers
    )
    problem = wait_for_fingerprints(target, expected, fingerprint_budget(plan.timeout_s))
    if problem is not None:
        raise GenerationError(f"slot {slot} never answered with this run's config ({problem})")
    results, attempts = probe_until_ok(target, plan.timeout_s, plan.retries)
    report = format_report(target, results)
    failed = [r for r in results if not r.ok and not r.skipped]
    if failed:
        logger.error(f"{report}\n  (slot {slot}, after {attempts} attempts)")
        raise GenerationError(f"slot {slot} failed its probes: {'; '.join(map(str, failed))}")
    logger.info(f"{report}\n  slot {slot} passed its probes through nginx (attempt {attempts})")


def _switch(run, app_name: str, workers: int, to: str | None, stop: str | None) -> None:
    script = generations.switch_script(app_name, workers, to, stop)
    unit = generations.switch_unit(transaction.RUN_ID)
    # --wait: this SSH session follows it; killed, the unit still runs to its end.
    command = (
        f"systemd-run --quiet --collect --wait --unit={unit} "
        f"--property=TimeoutStopSec=infinity /bin/sh -c {_q(script)}"
    )
    ok, output = run(command)
    if not ok:
        raise GenerationError(f"the switch failed: {output.stderr.strip() or 'no message'}")


def _wait_for_switch_unit(run) -> None:
    """A previous run's switch may still run (that run was killed mid-switch): wait until it
    has ended, so this run decides from a settled host."""
    ok, output = run(
        f"for i in $(seq {SWITCH_FREE_WAIT_S * 10}); do "
        f'[ -z "$({generations.switch_units_running_command()})" ] && exit 0; '
        "sleep 0.1; done; "
        f"{generations.switch_units_running_command()}; exit 1"
    )
    if not ok:
        running = "; ".join(output.stdout_lines) or "unknown"
        raise GenerationError(
            f"a previous run's switch still runs after {SWITCH_FREE_WAIT_S} s ({running})"
        )


def _slots_command(app_name: str) -> str:
    """Shell: the file naming the serving slot, a separator line, the active worker units."""
    return (
        f"cat {_q(generations.ACTIVE_FILE)} 2>/dev/null; echo {SEPARATOR}; "
        f"systemctl list-units --plain --no-legend --state=active {_q(app_name + '@*.service')}"
        " | awk '{print $1}'; true"
    )


def _slots(text: str, app_name: str) -> tuple[str, dict[str, int]]:
    """The serving slot and the instances running per slot, from `_slots_command`'s output."""
    active, _, units = text.partition(SEPARATOR)
    return generations.serving(active), generations.running_slots(units.split(), app_name)


def _step(state, host, plan: Plan, app_name: str, workers: int, first_port: int, run_as=None):
    """The run's generation steps (see the module's docstring); False fails the operation."""
    run = partial(host.run_shell_command, **(run_as or {}))
    try:
        _wait_for_switch_unit(run)
    except GenerationError as error:
        host.log_styled(f"GenerationError: {error}", fg="red", log_func=logger.error)
        return False
    serving, running = _slots(_read(run, _slots_command(app_name)), app_name)
    current = bool(running.get(serving)) and _current(plan, serving)
    decision = generations.decide(serving, running, current)
    logger.info(f"{plan.target.label}: generations: {decision}")
    started = time.monotonic()
    try:
        if decision.start is not None:
            _start(run, app_name, decision.start, workers, first_port)
            _prove(plan, decision.start)
        if decision.switch_to is not None or decision.stop is not None:
            _switch(run, app_name, workers, decision.switch_to, decision.stop)
        elif decision.start is not None:  # started in place: enable it at boot
            units = generations.units(app_name, decision.start, workers)
            run(f"systemctl enable --quiet {' '.join(_q(u) for u in units)}")
    except GenerationError as error:
        if decision.start is not None and decision.switch_to is not None:
            units = generations.units(app_name, decision.start, workers)
            run(f"systemctl disable --quiet --now {' '.join(_q(u) for u in units)}")
            # The serving slot never restarted: the rollback must not restart it either (it
            # would move its clients for nothing). Only this run's record of the units goes.
            run(f"rm -f {_q(transaction.run_dir() + '/units')}")
        generations.refuse(plan.target.label, str(error))
        host.log_styled(
            f"GenerationError: {error}; slot {serving} keeps serving",
            fg="red",
            log_func=logger.error,
        )
        return False
    logger.info(
        f"{plan.target.label}: generations done in {time.monotonic() - started:.1f} s "
        f"(serving slot {decision.switch_to or serving})"
    )
    return True


@deploy("Start, prove and switch to a new generation of app workers")
def switch_generation() -> None:
    planned = host_plan()
    data = planned.data
    if data.app_restart != "generations":
        return
    plan = plan_verify(planned, tokens.probe_token_source(data))
    # What the host runs before this run: with nothing to start, switch or stop (a no-change
    # run), no operation is added, so the run reports no change.
    text = host.get_fact(Command, command=_slots_command(data.app_name))
    serving, running = _slots(text or "", data.app_name)
    current = bool(running.get(serving)) and _current(plan, serving)
    decision = generations.decide(serving, running, current)
    if decision.idle:
        logger.info(f"{plan.target.label}: generations: {decision.why}: nothing to do")
        return
    python.call(
        name="Start the new generation of workers beside the serving one, prove it through "
        "nginx, switch nginx to it and drain the old one (paced).",
        function=_step,
        plan=plan,
        app_name=data.app_name,
        workers=planned.sized.app_workers,
        first_port=data.app_port,
        run_as=privilege_arguments() or None,
        _ignore_errors=True,  # the verify step judges the host and rolls the files back
    )
