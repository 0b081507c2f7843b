"""`--state FILE` and `--alert-webhook URL`: a message when a target changes state, not every run.

The state file holds the last status of every target (JSON), and its last runs
(wsready/history.py, for the status page). A run compares each target's
new status with it; on a change (OK→CRITICAL, CRITICAL→OK, any move to or from WARNING or
UNKNOWN) it POSTs one JSON message with the diagnosis to the webhook. A target seen for the
first time alerts only when it is not OK.

Delivery failures are printed on stderr and never change the exit status: the exit status
reports the targets, not the alert channel. The state of a target whose alert was not
delivered is left as it was, so the next run sends it again.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from wsready import history
from wsready.check import CheckReport, TargetOutcome
from wsready.report import outcome_dict
from wsready.validate import ConfigError

STATE_VERSION = 1
WEBHOOK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Transition:
    outcome: TargetOutcome
    old: str | None  # None: never seen before
    new: str


def load_state(path: str) -> dict[str, dict[str, Any]]:
    """Last status per target label; empty when the file does not exist yet."""
    file = Path(path)
    if not file.exists():
        if not file.parent.is_dir():
            raise ConfigError("--state", path, f"directory {file.parent} does not exist")
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError("--state", path, f"cannot be read as JSON: {error}") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise ConfigError("--state", path, f"is not a wsready state file (version {STATE_VERSION})")
    targets = data.get("targets")
    if not isinstance(targets, dict):
        raise ConfigError("--state", path, "has no 'targets' object")
    return targets


def save_state(path: str, targets: dict[str, dict[str, Any]]) -> None:
    """Write the state atomically: a temporary file in the same directory, then os.replace."""
    directory = os.path.dirname(os.path.abspath(path))
    # Compact: with HISTORY_LIMIT runs per target, indentation would triple the size.
    body = json.dumps(
        {"version": STATE_VERSION, "targets": targets}, separators=(",", ":"), sort_keys=True
    )
    with tempfile.NamedTemporaryFile(
        "w", dir=directory, prefix=".wsready-state-", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(body + "\n")
        temporary = handle.name
    try:
        os.replace(temporary, path)
    except OSError:
        os.unlink(temporary)
        raise


def transitions(report: CheckReport, previous: dict[str, dict[str, Any]]) -> list[Transition]:
    """The targets whose status differs from the one recorded (new non-OK targets too)."""
    changed = []
    for outcome in report.outcomes:
        old = previous.get(outcome.label, {}).get("status")
        new = outcome.status.name
        if old != new and not (old is None and new == "OK"):
            changed.append(Transition(outcome, old, new))
    return changed


def message(transition: Transition, checked_at: float) -> dict[str, Any]:
    """The webhook body: who, old → new, the diagnosis; `text` for chat webhooks."""
    outcome = transition.outcome
    details = outcome_dict(outcome)
    diagnosis = details["diagnosis"]
    old = transition.old or "NEW"
    text = f"wsready: {outcome.label} {old} -> {transition.new}"
    if transition.new != "OK" and diagnosis is not None:
        text += f": [{diagnosis['layer']}] {diagnosis['title']}. Fix: {diagnosis['fix']}"
    elif outcome.error:
        text += f": {outcome.error}"
    return {
        "text": text,
        "target": outcome.label,
        "url": outcome.target.url,
        "old_status": transition.old,
        "new_status": transition.new,
        "checked_at": datetime.fromtimestamp(checked_at, UTC).isoformat(),
        "diagnosis": diagnosis,
        "latency_note": outcome.latency_note,
        "error": outcome.error,
        "failed_probes": [
            str(result) for result in outcome.results if not result.ok and not result.skipped
        ],
    }


def post_webhook(url: str, body: dict[str, Any]) -> None:
    response = requests.post(url, json=body, timeout=WEBHOOK_TIMEOUT_S)
    response.raise_for_status()


def delivery_error(error: Exception) -> str:
    """Why a POST failed, without the webhook URL (its path is often the secret)."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"the webhook answered HTTP {error.response.status_code}"
    if isinstance(error, requests.Timeout):
        return f"no answer within {WEBHOOK_TIMEOUT_S:g} s"
    if isinstance(error, requests.ConnectionError):
        return "cannot connect to the webhook"
    return type(error).__name__


def process(
    report: CheckReport,
    state_path: str,
    webhook_url: str | None,
    warn: Callable[[str], None],
    post: Callable[[str, dict[str, Any]], None] = post_webhook,
) -> list[Transition]:
    """Alert on every transition, then record the new statuses. Returns the delivered ones."""
    previous = load_state(state_path)
    current = dict(previous)
    delivered = []
    for transition in transitions(report, previous):
        if webhook_url is not None:
            try:
                post(webhook_url, message(transition, report.started_at))
            except Exception as error:  # never let the alert channel break the check
                warn(
                    f"wsready check: alert for {transition.outcome.label} "
                    f"({transition.old or 'NEW'} -> {transition.new}) not delivered: "
                    f"{delivery_error(error)}; it will be sent again next run"
                )
                continue
        delivered.append(transition)
    undelivered = {t.outcome.label for t in transitions(report, previous)} - {
        t.outcome.label for t in delivered
    }
    now = datetime.fromtimestamp(report.started_at, UTC).isoformat()
    history.record_run(current, report, now)  # every run is history, delivered or not
    for outcome in report.outcomes:
        if outcome.label in undelivered:
            continue
        old = previous.get(outcome.label, {})
        since = old.get("since") if old.get("status") == outcome.status.name else now
        current[outcome.label].update(status=outcome.status.name, since=since, checked_at=now)
    save_state(state_path, current)
    return delivered
