"""`--state FILE` and `--alert-webhook URL`: a message when a target changes state, not every run.

The state file holds the last status of every target (JSON), and its last runs
(wsready/fleet/history.py, for the status page). A run compares each target's
new status with it; on a change (OK→CRITICAL, CRITICAL→OK, any move to or from WARNING or
UNKNOWN) it POSTs one JSON message with the diagnosis to the webhook. A target seen for the
first time alerts only when it is not OK.

Delivery failures are printed on stderr and never change the exit status: the exit status
reports the targets, not the alert channel. The state of a target whose alert was not
delivered is left as it was, so the next run sends it again.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from wsready.fleet import history
from wsready.fleet.report import failed_texts
from wsready.fleet.sweep import CheckReport, TargetOutcome
from wsready.probes import sanitize
from wsready.validate import ConfigError

STATE_VERSION = 1
WEBHOOK_TIMEOUT_S = 10.0  # one overall deadline per delivery: connect, send, answer


@dataclass(frozen=True)
class Transition:
    outcome: TargetOutcome
    old: str | None  # None: never seen before
    new: str


def check_state_path(path: str) -> None:
    """--state must be a file in an existing directory (its content is judged when read)."""
    file = Path(path)
    if not file.parent.is_dir():
        raise ConfigError("--state", path, f"directory {file.parent} does not exist")
    if file.is_dir():
        raise ConfigError("--state", path, "is a directory")


def load_state(path: str) -> dict[str, dict[str, Any]]:
    """Last status per target label; empty when the file does not exist yet. Raises
    ConfigError for a file that cannot be read or is not a wsready state file."""
    file = Path(path)
    check_state_path(path)
    if not file.exists():
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
    return {label: _record(entry) for label, entry in targets.items() if isinstance(entry, dict)}


def _record(entry: dict[str, Any]) -> dict[str, Any]:
    """One target's entry with only well-shaped fields (a hand-edited file may hold anything)."""
    record = {key: value for key, value in entry.items() if key != "history"}
    for key in ("status", "since", "checked_at", "changed_at"):
        if key in record and not isinstance(record[key], str):
            del record[key]
    runs = entry.get("history")
    if isinstance(runs, list):
        record["history"] = [
            run for run in runs if isinstance(run, dict) and isinstance(run.get("status"), str)
        ]
    return record


def read_state(path: str, warn: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """load_state, but a file that cannot be read or has the wrong shape is a warning and a
    fresh state: the check still runs, writes its metrics and a new state file."""
    try:
        return load_state(path)
    except ConfigError as error:
        warn(f"wsready check: warning: {error}; starting from a fresh state")
        return {}


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


def _chat(part: str) -> str:
    """A part of the chat text that may quote a target: clean and capped, `&<>` escaped."""
    return sanitize.chat(sanitize.text(str(part), 1000))


def message(transition: Transition, checked_at: float) -> dict[str, Any]:
    """The webhook body: who, old → new, the diagnosis; `text` for chat webhooks."""
    outcome = transition.outcome
    details = outcome.to_dict()
    diagnosis = details["diagnosis"]
    old = transition.old or "NEW"
    text = f"wsready: {_chat(outcome.label)} {old} -> {transition.new}"
    if transition.new != "OK" and diagnosis is not None:
        text += (
            f": [{diagnosis['layer']}] {_chat(diagnosis['title'])}. Fix: {_chat(diagnosis['fix'])}"
        )
    elif outcome.error:
        text += f": {_chat(outcome.error)}"
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
        "failed_probes": failed_texts(details),
    }


class WebhookDeadline(Exception):
    """The webhook did not answer within WEBHOOK_TIMEOUT_S in all."""


class WebhookRedirect(Exception):
    """The webhook answered with a redirect, which is never followed (it would re-POST the
    alert, with its diagnosis, to wherever the answer points)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def post_webhook(url: str, body: dict[str, Any], deadline_s: float = WEBHOOK_TIMEOUT_S) -> None:
    """POST `body` as JSON; no redirects; the whole delivery within `deadline_s` (a server
    that answers byte by byte does not hold the run: requests' timeout is per read)."""
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["response"] = requests.post(
                url, json=body, timeout=deadline_s, allow_redirects=False
            )
        except Exception as error:  # handed to the caller's thread below
            outcome["error"] = error

    worker = threading.Thread(target=send, name="wsready-webhook", daemon=True)
    worker.start()
    worker.join(deadline_s)
    if worker.is_alive():
        raise WebhookDeadline()
    if "error" in outcome:
        raise outcome["error"]
    response = outcome["response"]
    if 300 <= response.status_code < 400:
        raise WebhookRedirect(response.status_code)
    response.raise_for_status()


def delivery_error(error: Exception) -> str:
    """Why a POST failed, without the webhook URL (its path is often the secret)."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"the webhook answered HTTP {error.response.status_code}"
    if isinstance(error, WebhookRedirect):
        return f"the webhook answered HTTP {error.status} (a redirect, not followed)"
    if isinstance(error, (requests.Timeout, WebhookDeadline)):
        return f"no answer within {WEBHOOK_TIMEOUT_S:g} s"
    if isinstance(error, requests.ConnectionError):
        return "cannot connect to the webhook"
    return type(error).__name__


def _record_status(
    current: dict[str, dict[str, Any]],
    previous: dict[str, dict[str, Any]],
    outcome: TargetOutcome,
    now: str,
) -> None:
    old = previous.get(outcome.label, {})
    since = old.get("since") if old.get("status") == outcome.status.name else now
    current[outcome.label].update(status=outcome.status.name, since=since, checked_at=now)


def process(
    report: CheckReport,
    state_path: str,
    webhook_url: str | None,
    warn: Callable[[str], None],
    post: Callable[[str, dict[str, Any]], None] = post_webhook,
) -> list[Transition]:
    """Alert on every transition; record each delivered one at once (a run killed later never
    sends it again), then every other status. Returns the delivered ones."""
    previous = read_state(state_path, warn)
    current = copy.deepcopy(previous)
    now = datetime.fromtimestamp(report.started_at, UTC).isoformat()
    history.record_run(current, report, now)  # every run is history, delivered or not
    changed = transitions(report, previous)
    changing = {transition.outcome.label for transition in changed}
    for outcome in report.outcomes:
        if outcome.label not in changing:
            _record_status(current, previous, outcome, now)
    delivered = []
    for transition in changed:
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
        _record_status(current, previous, transition.outcome, now)
        delivered.append(transition)
        if webhook_url is not None:
            save_state(state_path, current)
    save_state(state_path, current)
    return delivered
