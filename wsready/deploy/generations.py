"""Two generations of app workers on one host, and which one serves (app_restart "generations").

Slot "a" is instances `<app>@0 … @N-1` on ports `app_port + i` (a host deployed before
generations existed is slot "a" as it stands); slot "b" is `<app>@100+i` on
`app_port + 100 + i`. nginx's site has one upstream per slot; a map on the probes' header
`X-Wsready-Generation` picks a slot, and its `default` line, kept in its own file
(`ACTIVE_FILE`), names the slot every client goes to. That file is the host's truth: the
deploy reads it, proves the other slot, then rewrites it, reloads nginx and stops the
slot it replaced (tasks/generations.py). This module is the pure part: names, files and the
decision of what a run does from what the host runs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from wsready.hostdata.contract import GENERATION_OFFSET

SLOTS = ("a", "b")
HEADER = "X-Wsready-Generation"  # only the deploy's probes send it; clients never do
ACTIVE_FILE = "/etc/nginx/wsready-generation.conf"
UPSTREAMS = {"a": "wsready_app", "b": "wsready_app_b"}
# The host-side switch: one transient systemd unit per run, `<prefix>-<run id>`. A name per
# run means a previous run's unit that systemd still holds (finished, not yet collected, or
# still referenced) never blocks this one; only a switch that still runs does.
SWITCH_UNIT = "wsready-generation-switch"
SWITCH_UNITS = f"{SWITCH_UNIT}-*.service"


def switch_unit(run_id: str) -> str:
    """The transient unit of run `run_id`'s switch."""
    return f"{SWITCH_UNIT}-{run_id}"


def switch_units_running_command() -> str:
    """Shell: the switch units that still run (active, activating or deactivating), each
    with its active and sub state; empty when none."""
    return (
        "systemctl list-units --plain --no-legend --all "
        f"--state=active,activating,deactivating {shlex.quote(SWITCH_UNITS)} "
        "| awk '{print $1, $3, $4}'"
    )


def other(slot: str) -> str:
    return "b" if slot == "a" else "a"


def base(slot: str) -> int:
    """The first instance number (and port offset) of `slot`."""
    return GENERATION_OFFSET if slot == "b" else 0


def instances(slot: str, workers: int) -> list[int]:
    return [base(slot) + index for index in range(workers)]


def units(app_name: str, slot: str, workers: int) -> list[str]:
    return [f"{app_name}@{index}.service" for index in instances(slot, workers)]


def slot_of(instance: int) -> str:
    return "b" if instance >= GENERATION_OFFSET else "a"


def active_file(slot: str) -> str:
    """The content of ACTIVE_FILE that sends every client to `slot`."""
    return (
        "# Managed by wsready (tasks/generations.py): the generation of app workers nginx\n"
        "# sends clients to. Rewritten only once the other generation passed its probes.\n"
        f"default {UPSTREAMS[slot]};\n"
    )


def serving(text: str | None) -> str:
    """The slot ACTIVE_FILE names ("a" when it is missing or names none)."""
    for line in (text or "").splitlines():
        words = line.split("#", 1)[0].replace(";", " ").split()
        if words[:1] == ["default"] and len(words) == 2:
            for slot, upstream in UPSTREAMS.items():
                if words[1] == upstream:
                    return slot
    return "a"


def running_slots(active_units: list[str], app_name: str) -> dict[str, int]:
    """How many instances of each slot are active, from unit names `<app>@<i>.service`."""
    counts = dict.fromkeys(SLOTS, 0)
    for unit in active_units:
        number = unit.removeprefix(f"{app_name}@").removesuffix(".service")
        if unit.startswith(f"{app_name}@") and number.isdigit():
            counts[slot_of(int(number))] += 1
    return counts


@dataclass(frozen=True)
class Decision:
    """What one run does: start (or restart) `start` and prove it, point nginx at
    `switch_to`, stop `stop` with the paced drain. None: that step is not needed."""

    start: str | None
    switch_to: str | None
    stop: str | None
    why: str

    @property
    def idle(self) -> bool:
        """Nothing to start, switch or stop: the run leaves the workers as they are."""
        return self.start is None and self.switch_to is None and self.stop is None


def decide(serving_slot: str, running: dict[str, int], serving_current: bool) -> Decision:
    """The run's steps, from the slot nginx sends clients to, the instances running per slot
    and whether the serving slot already runs this run's release and config (all workers).

    - The serving slot runs nothing (a first deploy): start it in place; nobody is moved.
    - It already runs this run's config (a no-change run, or a run killed after its switch):
      only stop the other slot if it still runs, so one generation serves every client.
    - Otherwise: start the other slot (restarted if a killed run left it running: it never
      got a client), prove it, switch nginx to it, stop the serving one.
    """
    spare = other(serving_slot)
    leftover = spare if running.get(spare, 0) else None
    if not running.get(serving_slot, 0):
        return Decision(serving_slot, None, leftover, f"slot {serving_slot} runs nothing yet")
    if serving_current:
        why = f"slot {serving_slot} already serves this release and config"
        return Decision(
            None, None, leftover, why + ("; the other is left over" if leftover else "")
        )
    return Decision(spare, spare, serving_slot, f"slot {serving_slot} serves an older config")


def switch_script(app_name: str, workers: int, to: str | None, stop: str | None) -> str:
    """Shell for the host: point nginx at `to` (tested with nginx -t, the old file put back if
    refused), then enable `to`'s units and stop `stop`'s with the paced drain (all at once,
    each at its share of the rate). It runs as a transient systemd unit, so a deploy killed
    meanwhile does not stop it halfway: the host still ends on one generation."""
    steps = ["set -u"]
    if to is not None:
        f = shlex.quote(ACTIVE_FILE)
        steps += [
            f"cp -p {f} {f}.wsready-previous 2>/dev/null || true",
            f"printf %s {shlex.quote(active_file(to))} > {f}.wsready-new",
            f"mv -fT {f}.wsready-new {f}",
            f"if ! nginx -t -q; then mv -fT {f}.wsready-previous {f}; echo 'nginx -t refused the "
            "switch; nginx not reloaded' >&2; exit 1; fi",
            "systemctl reload nginx",
            f"systemctl enable --quiet {' '.join(units(app_name, to, workers))}",
        ]
    if stop is not None:
        stopping = " ".join(units(app_name, stop, workers))
        steps.append(f"systemctl disable --quiet --now {stopping}")
    return "\n".join(steps) + "\n"


_REFUSED: dict[str, str] = {}  # this run's refusals, by host label (one pyinfra process)


def refuse(label: str, reason: str) -> None:
    """Record that this run's new generation on `label` failed to start or its proof: the
    verify step then rolls the files back at once instead of waiting for a config that will
    never be served."""
    _REFUSED[label] = reason


def refusal(label: str) -> str | None:
    """Why this run's new generation on `label` was refused (once), or None."""
    return _REFUSED.pop(label, None)
