"""One sweep of the probes over many targets at once, judged into one exit status.

Targets run concurrently, at most `concurrency` at a time; a target that fails is retried
(alone, with exponential backoff: wsready/probes/retry.py) up to `retries` more times; the
slowest probe's latency is held against the warn/crit thresholds. The overall status is the
worst target status, where CRITICAL > WARNING > UNKNOWN > OK (UNKNOWN: the check itself could
not run for a target).

Each target is isolated: it runs in its own (daemon) thread with a deadline, its whole probe
plan's timeouts for every attempt (`target_budget`); a target still running then is
reported UNKNOWN and left behind, and the rest of the fleet is reported, exported and
alerted on as usual. Whatever one target's probes raise, or an outcome no consumer could
render (`screen`), becomes that target's UNKNOWN too.

Probe threads share one interpreter lock: past a few hundred targets one process is bound to
one core. There the fleet is shared out over forked processes (`process_count`), each
running the same thread engine on its share and streaming every outcome back as it is final.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from wsready import validate
from wsready.exitstatus import ExitStatus
from wsready.probes import ProbeResult, Target, Thresholds, hosts, names, run_probes, sanitize
from wsready.probes.diagnosis import Diagnosis, diagnose
from wsready.probes.observed import Health
from wsready.probes.plan import plan_probes
from wsready.probes.retry import RetryPolicy
from wsready.probes.sampled import worker_summary

RunProbes = Callable[[Target, float], list[ProbeResult]]
Diagnose = Callable[[Target, list[ProbeResult]], Diagnosis]

# A target in one of these states is probed again (WARNING is a result, not a failure).
RETRIED = (ExitStatus.CRITICAL, ExitStatus.UNKNOWN)
# Probes that wait on purpose (for the server's ping, or idle): their time is not latency.
WAITING_PROBES = frozenset({names.PING, names.IDLE, names.HOSTS_BROADCAST})
# Worst first: the order in which one target's status outranks another's.
SEVERITY = (ExitStatus.CRITICAL, ExitStatus.WARNING, ExitStatus.UNKNOWN, ExitStatus.OK)
BUDGET_SLACK_S = 5.0  # per attempt, over its probes' timeouts: Python's own time, the pool
SHARD_TARGETS = 200  # a process per this many targets (up to one per CPU): see process_count


@dataclass(frozen=True)
class CheckOptions:
    """How `check` runs: per-probe timeout, retries, latency thresholds, pool size."""

    timeout_s: float = 10.0
    retries: int = 1
    backoff_s: float = 1.0  # first retry waits this long, each next one twice as long
    warn_latency_s: float | None = None
    crit_latency_s: float | None = None
    concurrency: int = 16
    tls_warn_days: int = Thresholds.tls_warn_days  # certificate days left → WARNING below
    tls_crit_days: int = Thresholds.tls_crit_days  # → CRITICAL below
    idle: bool = False  # also hold a connection idle for pingInterval + pingTimeout
    processes: int | None = None  # share the fleet over this many; None: process_count

    def retry_policy(self, sleep: Callable[[float], None] = time.sleep) -> RetryPolicy:
        """1 + `retries` attempts, waiting `backoff_s`, then twice as long each time."""
        return RetryPolicy(self.retries + 1, self.backoff_s, 2.0, sleep=sleep)

    def __post_init__(self) -> None:
        validate.positive_number("--timeout", self.timeout_s)
        if isinstance(self.retries, bool) or not isinstance(self.retries, int):
            raise validate.ConfigError("--retries", self.retries, "must be a whole number")
        if not 0 <= self.retries <= 10:
            raise validate.ConfigError("--retries", self.retries, "must be between 0 and 10")
        if self.backoff_s < 0:
            raise validate.ConfigError("backoff_s", self.backoff_s, "must not be negative")
        if self.warn_latency_s is not None:
            validate.positive_number("--warn-latency", self.warn_latency_s)
        if self.crit_latency_s is not None:
            validate.positive_number("--crit-latency", self.crit_latency_s)
        if (
            self.warn_latency_s is not None
            and self.crit_latency_s is not None
            and self.warn_latency_s >= self.crit_latency_s
        ):
            raise validate.ConfigError(
                "--warn-latency", self.warn_latency_s, "must be lower than --crit-latency"
            )
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
            raise validate.ConfigError("--concurrency", self.concurrency, "must be a whole number")
        if not 1 <= self.concurrency <= 256:
            raise validate.ConfigError("--concurrency", self.concurrency, "must be 1 to 256")
        validate.integer("--tls-crit-days", self.tls_crit_days, 0, 3650)
        validate.integer("--tls-warn-days", self.tls_warn_days, self.tls_crit_days, 3650)
        if self.processes is not None:
            validate.integer("--processes", self.processes, 1, 64)


@dataclass
class TargetOutcome:
    """What one target's last attempt showed, and the status it earns."""

    target: Target
    status: ExitStatus
    results: list[ProbeResult] = field(default_factory=list)
    diagnosis: Diagnosis | None = None
    attempts: int = 1
    latency_s: float | None = None  # slowest probe that passed
    latency_note: str | None = None  # set when the latency thresholds changed the status
    error: str | None = None  # set when the probes could not run at all (UNKNOWN)
    duration_s: float = 0.0  # wall time over all attempts

    @property
    def label(self) -> str:
        return target_label(self.target)

    @property
    def health(self) -> dict[str, Any]:
        """The host's figures from /api/health (clients, max_clients, workers_up,
        workers_total, redis): only those its answer carried, none from older apps."""
        for result in self.results:
            if result.probe == names.HEALTH:
                return Health.of(result).figures
        return {}

    def to_dict(self) -> dict[str, Any]:
        """One target as plain data, its probes in their one shape (`ProbeResult.to_dict`):
        check --json, the report, Prometheus, alerts and the status page read it. The token
        is left out on purpose (probe results are redacted when they are made)."""
        diagnosis = self.diagnosis
        return {
            "target": self.label,
            "url": self.target.url,
            "socketio_path": self.target.socketio_path,
            "status": self.status.name,
            "attempts": self.attempts,
            "duration_s": round(self.duration_s, 4),
            "latency_s": None if self.latency_s is None else round(self.latency_s, 4),
            "latency_note": self.latency_note,
            "error": self.error,
            "health": self.health or None,
            "workers": worker_summary(self.results),
            "diagnosis": None
            if diagnosis is None
            else {
                "layer": diagnosis.layer,
                "title": diagnosis.title,
                "evidence": list(diagnosis.evidence),
                "fix": diagnosis.fix,
                "status": diagnosis.status.name,
            },
            "probes": [result.to_dict() for result in self.results],
        }


@dataclass
class CheckReport:
    outcomes: list[TargetOutcome]
    started_at: float  # Unix time
    duration_s: float

    @property
    def status(self) -> ExitStatus:
        return worst(outcome.status for outcome in self.outcomes)


def target_label(target: Target) -> str:
    """The name a target goes by in tables, metrics and alerts."""
    if target.name:
        return target.name
    return target.url if target.socketio_path == "/ws" else target.url + target.socketio_path


def worst(statuses: Sequence[ExitStatus] | object) -> ExitStatus:
    """The most severe status (CRITICAL > WARNING > UNKNOWN > OK); OK for none."""
    present = set(statuses)  # type: ignore[call-overload]
    return next((status for status in SEVERITY if status in present), ExitStatus.OK)


def latency_status(latency_s: float | None, options: CheckOptions) -> tuple[ExitStatus, str | None]:
    """Status earned by the slowest passing probe against the thresholds, and why."""
    if latency_s is None:
        return ExitStatus.OK, None
    if options.crit_latency_s is not None and latency_s >= options.crit_latency_s:
        return ExitStatus.CRITICAL, f"latency {latency_s:.3f}s >= crit {options.crit_latency_s}s"
    if options.warn_latency_s is not None and latency_s >= options.warn_latency_s:
        return ExitStatus.WARNING, f"latency {latency_s:.3f}s >= warn {options.warn_latency_s}s"
    return ExitStatus.OK, None


def evaluate(
    target: Target, results: list[ProbeResult], options: CheckOptions, diagnose_fn: Diagnose
) -> TargetOutcome:
    """One attempt's results → diagnosis, latency and the target's status."""
    diagnosis = diagnose_fn(target, results)
    timings = [
        result.duration_s
        for result in results
        if result.ok and not result.skipped and result.probe not in WAITING_PROBES
    ]
    latency_s = max(timings) if timings else None
    by_latency, note = latency_status(latency_s, options)
    status = worst([ExitStatus(diagnosis.status), by_latency])
    return TargetOutcome(
        target=target,
        status=status,
        results=results,
        diagnosis=diagnosis,
        latency_s=latency_s,
        latency_note=note if by_latency == status and by_latency != ExitStatus.OK else None,
    )


def thresholds_for(options: CheckOptions) -> Thresholds:
    """The probes' own limits: certificate days, and --warn-latency as their slowness flag."""
    thresholds = Thresholds(
        tls_warn_days=options.tls_warn_days, tls_crit_days=options.tls_crit_days
    )
    if options.warn_latency_s is not None:
        thresholds = replace(thresholds, latency_warn_s=options.warn_latency_s)
    return thresholds


def probe_runner(options: CheckOptions) -> RunProbes:
    """The real probes, with the limits of `options`."""
    thresholds = thresholds_for(options)
    idle = options.idle
    return lambda target, timeout_s: run_probes(target, timeout_s, idle, thresholds)


def unknown(target: Target, why: str) -> TargetOutcome:
    """The outcome of a target the check could not judge (`why` may quote what the target
    sent: cleaned like every probe result)."""
    return TargetOutcome(target=target, status=ExitStatus.UNKNOWN, error=sanitize.text(why))


def screen(outcome: TargetOutcome) -> TargetOutcome:
    """`outcome`, or its target's UNKNOWN when some consumer could not use it: its plain
    data must be JSON (no NaN or infinity) and its host figures numbers a float holds."""
    try:
        json.dumps(outcome.to_dict(), allow_nan=False)
        for key, value in outcome.health.items():
            if key != "redis" and not math.isfinite(float(value)):
                raise ValueError(f"health figure {key} is not a finite number")
    except Exception as error:  # noqa: BLE001 - whatever the target sent, it is UNKNOWN
        return unknown(outcome.target, f"its answers cannot be reported: {type(error).__name__}")
    return outcome


def target_budget(target: Target, options: CheckOptions) -> float:
    """How long one target may take in all: every attempt running every planned probe to
    its timeout, the backoffs between attempts, and some slack."""
    try:
        per_attempt = sum(
            probe.timeout_s for probe in plan_probes(target, options.timeout_s, False)
        )
    except Exception:  # noqa: BLE001 - a target the plan refuses fails fast anyway
        per_attempt = options.timeout_s
    attempts = options.retries + 1
    backoff = sum(options.backoff_s * 2.0**index for index in range(options.retries))
    return attempts * (per_attempt + BUDGET_SLACK_S) + backoff


def check_target(
    target: Target,
    options: CheckOptions,
    run: RunProbes | None = None,
    diagnose_fn: Diagnose = diagnose,
    sleep: Callable[[float], None] = time.sleep,
) -> TargetOutcome:
    """Probe one target, retrying while it fails (CRITICAL/UNKNOWN), with exponential backoff."""
    run = run or probe_runner(options)
    started = time.monotonic()

    def attempt(_number: int) -> TargetOutcome:
        try:
            return screen(evaluate(target, run(target, options.timeout_s), options, diagnose_fn))
        except Exception as error:  # a bug or an environment problem, not the target's health
            return unknown(target, f"{type(error).__name__}: {error}")

    policy = options.retry_policy(sleep)
    outcome, attempts = policy.run(attempt, lambda seen: seen.status not in RETRIED)
    outcome.attempts = attempts
    outcome.duration_s = time.monotonic() - started
    return outcome


@dataclass
class _Slot:
    """One target's run in its own thread."""

    target: Target
    budget_s: float
    done: threading.Event = field(default_factory=threading.Event)
    outcome: TargetOutcome | None = None
    started: float = 0.0
    released: bool = False


def process_count(targets: int, concurrency: int) -> int:
    """How many processes check `targets` targets: one per SHARD_TARGETS of them, at most one
    per CPU this process may use and one per concurrent target. Probe threads share one
    interpreter lock, so past a few hundred targets one process is bound to one core."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, targets // SHARD_TARGETS, concurrency))


def check_all(
    targets: Sequence[Target],
    options: CheckOptions,
    run: RunProbes | None = None,
    diagnose_fn: Diagnose = diagnose,
    sleep: Callable[[float], None] = time.sleep,
    budget: Callable[[Target, CheckOptions], float] = target_budget,
    on_outcome: Callable[[TargetOutcome], None] | None = None,
    processes: int | None = None,
) -> CheckReport:
    """Check every target, at most `options.concurrency` at a time, keeping input order;
    a target not done within its budget is UNKNOWN (its thread is left behind: a daemon,
    it never holds the process). `on_outcome` hears each target's outcome as soon as it is
    final (before the broadcast across hosts). Above SHARD_TARGETS targets the fleet is
    shared out over `processes` (default: `options.processes`, else `process_count`) forked
    processes, each running
    this same engine on its share with its part of the concurrency, and streaming each
    outcome back as it is done."""
    started_at, started = time.time(), time.monotonic()
    processes = options.processes if processes is None else processes
    count = process_count(len(targets), options.concurrency) if processes is None else processes
    count = max(1, min(count, len(targets), options.concurrency))
    outcomes: list[TargetOutcome | None] = [None] * len(targets)
    heard = threading.Lock()

    def deliver(index: int, outcome: TargetOutcome) -> None:
        outcomes[index] = outcome
        if on_outcome is not None:
            with heard:
                on_outcome(outcome)

    def sweep(part: list[tuple[int, Target]]) -> None:
        shards = max(1, min(count, len(part)))
        if shards == 1:
            _sweep(part, options, run, diagnose_fn, sleep, budget, deliver)
        else:
            _sharded(part, shards, options, (run, diagnose_fn, sleep, budget), deliver)

    indexed = list(enumerate(targets))
    # Front doors last: each expects the app hosts behind it that are healthy on their own.
    fronts = [(index, target) for index, target in indexed if target.front_of]
    sweep([(index, target) for index, target in indexed if not target.front_of])
    if fronts:
        sweep([(index, expecting(target, outcomes)) for index, target in fronts])
    done = [outcome for outcome in outcomes if outcome is not None]
    across_hosts(done, options, diagnose_fn)
    return CheckReport(done, started_at=started_at, duration_s=time.monotonic() - started)


def expecting(front: Target, outcomes: Sequence[TargetOutcome | None]) -> Target:
    """`front` expecting, behind it, the hosts of its `front_of` targets that are healthy on
    their own address (OK or WARNING, their nginx naming itself in X-Wsready-Host)."""
    hosts = []
    for outcome in outcomes:
        if outcome is None or outcome.label not in front.front_of:
            continue
        if outcome.status not in (ExitStatus.OK, ExitStatus.WARNING):
            continue
        health = next((r for r in outcome.results if r.probe == names.HEALTH and r.ok), None)
        name = Health.of(health).host
        if isinstance(name, str) and name not in hosts:
            hosts.append(name)
    try:
        return replace(front, behind=(*front.behind, *(h for h in hosts if h not in front.behind)))
    except validate.ConfigError:  # a name no host should give: checked without expectations
        return front


Deliver = Callable[[int, TargetOutcome], None]


def _sweep(
    indexed: list[tuple[int, Target]],
    options: CheckOptions,
    run: RunProbes | None,
    diagnose_fn: Diagnose,
    sleep: Callable[[float], None],
    budget: Callable[[Target, CheckOptions], float],
    deliver: Deliver,
) -> None:
    """The engine of one process: a daemon thread per target, at most
    `options.concurrency` at once; each outcome goes to `deliver` once, as soon as it is final
    (the target's own, or UNKNOWN when its budget ran out first)."""
    run = run or probe_runner(options)
    free = threading.Semaphore(max(1, min(options.concurrency, len(indexed))))
    lock = threading.Lock()
    slots = [(index, _Slot(target, budget(target, options))) for index, target in indexed]

    def release(index: int, slot: _Slot, outcome: TargetOutcome) -> None:
        with lock:
            if slot.released:
                return  # too late: the target was already reported UNKNOWN
            slot.released = True
        deliver(index, outcome)
        free.release()
        slot.done.set()

    def work(index: int, slot: _Slot) -> None:
        try:
            outcome = check_target(slot.target, options, run, diagnose_fn, sleep)
        except BaseException as error:  # noqa: BLE001 - never lose a target's slot
            outcome = unknown(slot.target, f"{type(error).__name__}: {error}")
        release(index, slot, outcome)

    def expire_overdue(now: float) -> None:
        for index, slot in slots:
            if slot.started and not slot.done.is_set() and now - slot.started >= slot.budget_s:
                why = f"no result within {slot.budget_s:g} s: its probes were abandoned"
                outcome = unknown(slot.target, why)
                outcome.duration_s = now - slot.started
                release(index, slot, outcome)

    for index, slot in slots:
        while not free.acquire(timeout=0.1):
            expire_overdue(time.monotonic())
        slot.started = time.monotonic()
        name = f"wsready-check-{target_label(slot.target)}"[:60]
        threading.Thread(target=work, args=(index, slot), name=name, daemon=True).start()
    for _index, slot in slots:
        while not slot.done.wait(timeout=max(slot.started + slot.budget_s - time.monotonic(), 0)):
            expire_overdue(time.monotonic())


def _shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` whole numbers that differ by at most one."""
    return [total // parts + (1 if part < total % parts else 0) for part in range(parts)]


def _sharded(
    indexed: list[tuple[int, Target]],
    count: int,
    options: CheckOptions,
    engine: tuple[Any, ...],
    deliver: Deliver,
) -> None:
    """`count` shares of the fleet (every count-th target), each with its part of the
    concurrency: the first checked in this process, the others in forked children that
    stream each outcome back over a pipe as it is done. A target a child never sent back (it
    died) is UNKNOWN, saying so."""
    context = multiprocessing.get_context("fork")
    concurrency = _shares(options.concurrency, count)
    shares = [indexed[part::count] for part in range(count)]
    readers = []
    for part in range(1, count):
        receiver, sender = context.Pipe(duplex=False)
        share_options = replace(options, concurrency=concurrency[part])
        child = context.Process(
            target=_shard_main,
            args=(sender, shares[part], share_options, engine),
            name=f"wsready-check-shard-{part}",
            daemon=True,
        )
        child.start()
        sender.close()
        readers.append(
            threading.Thread(
                target=_receive,
                args=(child, receiver, shares[part], deliver),
                name=f"wsready-check-shard-{part}-reader",
                daemon=True,
            )
        )
    for reader in readers:  # only now: no thread of this process is copied into a child
        reader.start()
    own = replace(options, concurrency=concurrency[0])
    _sweep(shares[0], own, *engine, deliver)
    for reader in readers:
        reader.join()


def _shard_main(
    sender: Any, share: list[tuple[int, Target]], options: CheckOptions, engine: tuple
) -> None:
    """A child's work: its share through the engine, each outcome sent as it is done (then
    dropped: the parent keeps the report), None at the end."""
    lock = threading.Lock()
    targets = dict(share)

    def send(index: int, outcome: TargetOutcome) -> None:
        try:
            data = pickle.dumps((index, outcome), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # noqa: BLE001 - whatever it holds, the target is reported
            why = f"its outcome could not be passed on: {type(error).__name__}"
            data = pickle.dumps((index, unknown(targets[index], why)))
        with lock:
            sender.send_bytes(data)

    try:
        _sweep(share, options, *engine, send)
        with lock:
            sender.send_bytes(pickle.dumps(None))
    finally:
        sender.close()


def _receive(child: Any, receiver: Any, share: list[tuple[int, Target]], deliver: Deliver) -> None:
    """The parent's end of one child: each outcome delivered as it arrives (with the parent's
    own Target object); at the end, UNKNOWN for every target the child did not send."""
    targets = dict(share)
    try:
        while True:
            item = pickle.loads(receiver.recv_bytes())
            if item is None:
                break
            index, outcome = item
            outcome.target = targets.pop(index)
            deliver(index, outcome)
    except Exception:  # noqa: BLE001 - the pipe ended or broke: the rest is UNKNOWN below
        pass
    finally:
        receiver.close()
    child.join(timeout=10)
    for index, target in targets.items():
        why = f"its check process ended (exit {child.exitcode}) before this target was judged"
        deliver(index, unknown(target, why))


def across_hosts(
    outcomes: list[TargetOutcome], options: CheckOptions, diagnose_fn: Diagnose = diagnose
) -> None:
    """Where targets report the same Redis, a broadcast must cross them: the result joins each
    of those targets' runs, which are judged again (a failure makes them CRITICAL). Each group
    runs in its own daemon thread with a budget; a group not done by then is left out."""
    runs = [(outcome.target, outcome.results) for outcome in outcomes]
    labels = [outcome.label for outcome in outcomes]
    for redis_id, members in hosts.shared_redis(runs, labels).items():
        chosen = [outcomes[index] for index in members]
        found: list[ProbeResult] = []

        def cross(
            chosen: list[TargetOutcome] = chosen,
            redis_id: str = redis_id,
            found: list[ProbeResult] = found,
        ) -> None:
            labels = [o.label for o in chosen]
            try:
                found.append(
                    hosts.across([o.target for o in chosen], labels, redis_id, options.timeout_s)
                )
            except Exception as error:  # noqa: BLE001 - one group must not blind the others
                found.append(hosts.failed(redis_id, labels, error))

        worker = threading.Thread(target=cross, name="wsready-hosts-broadcast", daemon=True)
        worker.start()
        worker.join(timeout=options.timeout_s * 4 + BUDGET_SLACK_S)
        if not found:
            continue  # abandoned: the targets keep their own verdicts
        for index in members:
            outcome = outcomes[index]
            judged = evaluate(outcome.target, [*outcome.results, found[0]], options, diagnose_fn)
            outcome.results, outcome.status = judged.results, judged.status
            outcome.diagnosis, outcome.latency_note = judged.diagnosis, judged.latency_note
