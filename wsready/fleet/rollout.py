"""Rolling deploy: hosts in batches, each batch proven by the probes before the next starts.

The plan and the run loop are pure: the deploy of a batch and the check of a host are passed
in, so the ordering and stop rules are tested without hosts. `wsready rollout` wires them to
`pyinfra -y INVENTORY deploy.py --limit HOST …` subprocesses and to `wsready.probes`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wsready.validate import ConfigError


@dataclass(frozen=True)
class HostVerdict:
    """Whether one host passed its probes after the deploy, and if not, why."""

    host: str
    ok: bool
    reason: str = ""
    duration_s: float = 0.0


@dataclass(frozen=True)
class DeployRun:
    """One batch's deploy: pyinfra's exit code and, per host, the verify step's own error
    line (which probes failed, and whether the release was rolled back)."""

    exit_code: int
    errors: dict[str, str] = field(default_factory=dict)


VERIFY_ERROR = "VerifyError: "


def verify_errors(output_lines: Sequence[str], hosts: Sequence[str]) -> dict[str, str]:
    """The `VerifyError: HOST: …` lines of a deploy's output, by host."""
    errors: dict[str, str] = {}
    for line in output_lines:
        if VERIFY_ERROR not in line:
            continue
        message = line.split(VERIFY_ERROR, 1)[1].strip()
        host = message.split(":", 1)[0]
        if host in hosts:
            errors[host] = message.split(":", 1)[1].strip()
    return errors


@dataclass
class BatchReport:
    index: int  # 1-based
    hosts: list[str]
    deploy_exit: int | None = None
    deploy_errors: dict[str, str] = field(default_factory=dict)
    deploy_s: float = 0.0
    verdicts: list[HostVerdict] = field(default_factory=list)
    total_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.deploy_exit == 0 and all(verdict.ok for verdict in self.verdicts)

    def failures(self) -> list[HostVerdict]:
        """The hosts that failed and why; the whole batch when only the deploy failed."""
        failed = [verdict for verdict in self.verdicts if not verdict.ok]
        if failed or self.deploy_exit == 0:
            return failed
        generic = f"deploy exited {self.deploy_exit} (see pyinfra's output)"
        return [
            HostVerdict(host, False, f"{self.deploy_errors.get(host, generic)}; probes pass now")
            for host in self.hosts
        ]


@dataclass
class RolloutReport:
    batches: list[BatchReport]
    untouched: list[str]
    total_s: float

    @property
    def ok(self) -> bool:
        return all(batch.ok for batch in self.batches) and not self.untouched


def count(number: int, noun: str, plural: str | None = None) -> str:
    """`1 host`, `3 hosts`; `2 batches` with plural="batches"."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def plan(hosts: Sequence[str], batch_size: int) -> list[list[str]]:
    """Hosts in inventory order, cut into batches of `batch_size` (the last may be smaller)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError("--batch", batch_size, "must be a whole number of hosts, 1 or more")
    if not hosts:
        raise ConfigError("inventory", list(hosts), "has no hosts to roll out to")
    duplicates = sorted({host for host in hosts if list(hosts).count(host) > 1})
    if duplicates:
        raise ConfigError("inventory", duplicates, "lists these hosts more than once")
    return [list(hosts[start : start + batch_size]) for start in range(0, len(hosts), batch_size)]


def pyinfra_argv(
    inventory: str, deploy_file: str, hosts: Sequence[str], extra: Sequence[str] = ()
) -> list[str]:
    """`pyinfra -y INVENTORY DEPLOY --limit H1 --limit H2 … EXTRA` (one --limit per host)."""
    limits = [arg for host in hosts for arg in ("--limit", host)]
    return ["pyinfra", "-y", inventory, deploy_file, *limits, *extra]


def run(
    batches: Sequence[Sequence[str]],
    deploy: Callable[[list[str]], DeployRun],
    check: Callable[[str], HostVerdict],
    say: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    drain: Callable[[str], str | None] | None = None,
    restore: Callable[[str], str | None] | None = None,
) -> RolloutReport:
    """Deploy batch after batch; stop at the first batch whose deploy or probes fail.

    Behind a front door, `drain(host)` takes each host of the batch out of the balancer and
    waits for its connections to drain before the deploy, and `restore(host)` puts it back
    after its probes passed; each returns "" (done), None (the host is not behind it) or why
    it failed (which stops the rollout)."""
    reports: list[BatchReport] = []
    started = clock()
    count = len(batches)
    for index, hosts in enumerate(batches, start=1):
        label = f"batch {index}/{count} [{', '.join(hosts)}]"
        report = BatchReport(index=index, hosts=list(hosts))
        reports.append(report)
        batch_started = clock()
        drained = _each(hosts, drain, report, say, label, "drained")
        if drained is not None:
            report.total_s = clock() - batch_started
            break
        say(f"{label}: deploying")
        deployed = deploy(list(hosts))
        report.deploy_exit, report.deploy_errors = deployed.exit_code, deployed.errors
        report.deploy_s = clock() - batch_started
        say(f"{label}: deploy exited {report.deploy_exit} after {report.deploy_s:.1f} s")
        for host in hosts:
            verdict = check(host)
            report.verdicts.append(verdict)
            outcome = "probes pass" if verdict.ok else f"probes FAIL: {verdict.reason}"
            say(f"{label}: {host}: {outcome} ({verdict.duration_s:.1f} s)")
        if report.ok:
            _each(hosts, restore, report, say, label, "back behind the front door")
        report.total_s = clock() - batch_started
        say(f"{label}: {'ok' if report.ok else 'FAILED'} in {report.total_s:.1f} s")
        if not report.ok:
            break
    done = {host for report in reports for host in report.hosts}
    untouched = [host for hosts in batches for host in hosts if host not in done]
    return RolloutReport(batches=reports, untouched=untouched, total_s=clock() - started)


def _each(
    hosts: Sequence[str],
    step: Callable[[str], str | None] | None,
    report: BatchReport,
    say: Callable[[str], None],
    label: str,
    done: str,
) -> str | None:
    """Run a front-door step on each host; the first failure becomes the host's verdict."""
    if step is None:
        return None
    for host in hosts:
        why = step(host)
        if why is None:
            continue
        if why:
            report.deploy_exit = 0 if report.deploy_exit is None else report.deploy_exit
            report.verdicts.append(HostVerdict(host, False, f"front door: {why}"))
            say(f"{label}: {host}: front door FAILED: {why}")
            return why
        say(f"{label}: {host}: {done}")
    return None


def summary(report: RolloutReport) -> list[str]:
    """The closing lines: per-batch timings, then either success or who failed and why."""
    lines = [
        f"batch {batch.index}: {', '.join(batch.hosts)}: {'ok' if batch.ok else 'FAILED'}"
        f" (deploy {batch.deploy_s:.1f} s, total {batch.total_s:.1f} s)"
        for batch in report.batches
    ]
    if report.ok:
        hosts = sum(len(batch.hosts) for batch in report.batches)
        lines.append(f"rollout ok: {count(hosts, 'host')} in {report.total_s:.1f} s")
        return lines
    failed = report.batches[-1]
    lines.append(f"rollout STOPPED at batch {failed.index} after {report.total_s:.1f} s")
    lines.extend(f"failed: {verdict.host}: {verdict.reason}" for verdict in failed.failures())
    lines.append(
        f"not touched (still on their previous release): {', '.join(report.untouched)}"
        if report.untouched
        else "not touched: none (the failed batch was the last)"
    )
    return lines
