"""wsready.fleet.sweep: scheduling, retries, latency thresholds, worst status (fake probes)."""

from __future__ import annotations

import threading

import pytest

from tests.unit.checkfakes import FakeDiagnosis
from wsready.exitstatus import ExitStatus
from wsready.fleet.sweep import (
    CheckOptions,
    check_all,
    check_target,
    latency_status,
    thresholds_for,
    worst,
)
from wsready.probes import ProbeResult, Target, Thresholds
from wsready.validate import ConfigError


def result(ok: bool, duration_s: float = 0.01, probe: str = "health") -> ProbeResult:
    return ProbeResult(
        probe=probe,
        layer="http",
        ok=ok,
        expected="status == 200",
        actual="200" if ok else "502",
        duration_s=duration_s,
    )


def diagnose_by_results(target: Target, results: list[ProbeResult]) -> FakeDiagnosis:
    if all(r.ok or r.skipped for r in results):
        return FakeDiagnosis("none", "all probes passed", ExitStatus.OK)
    return FakeDiagnosis(
        "app", "nginx up, app down (502)", ExitStatus.CRITICAL, ["502"], "start it"
    )


def no_sleep(seconds: float) -> None:
    return None


TARGET = Target(url="http://127.0.0.1:8080", name="web-1")


def test_concurrent_targets_run_at_once_but_never_more_than_the_bound() -> None:
    running, peak, lock = 0, 0, threading.Lock()
    together = threading.Barrier(4, timeout=10)  # a probe returns once four run at once

    def slow_probe(target: Target, timeout_s: float) -> list[ProbeResult]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        together.wait()
        with lock:
            running -= 1
        return [result(True)]

    targets = [Target(url=f"http://127.0.0.1:{9000 + i}") for i in range(12)]
    report = check_all(targets, CheckOptions(concurrency=4), slow_probe, diagnose_by_results)
    assert peak == 4  # the barrier passed three times: 3 waves of 4, never more
    assert [o.target for o in report.outcomes] == targets  # input order kept
    assert report.status == ExitStatus.OK


def test_concurrency_one_is_sequential() -> None:
    events: list[tuple[str, str]] = []
    second_started = threading.Event()
    overlapped: list[bool] = []

    def probe(target: Target, timeout_s: float) -> list[ProbeResult]:
        events.append(("start", target.url))
        if target is targets[0]:  # give a second probe the chance to start alongside
            overlapped.append(second_started.wait(0.5))
        else:
            second_started.set()
        events.append(("end", target.url))
        return [result(True)]

    targets = [Target(url=f"http://127.0.0.1:{9000 + i}") for i in range(6)]
    report = check_all(targets, CheckOptions(concurrency=1), probe, diagnose_by_results)
    assert overlapped == [False]
    assert events == [(edge, t.url) for t in targets for edge in ("start", "end")]
    assert report.status == ExitStatus.OK


def test_only_failed_targets_are_retried_with_doubling_backoff() -> None:
    calls: dict[str, int] = {}
    sleeps: list[float] = []
    lock = threading.Lock()

    def flaky(target: Target, timeout_s: float) -> list[ProbeResult]:
        with lock:
            calls[target.name] = calls.get(target.name, 0) + 1
            count = calls[target.name]
        if target.name == "bad":
            return [result(False)]
        if target.name == "flaky":
            return [result(count >= 3)]
        return [result(True)]

    targets = [Target(url="http://127.0.0.1:1", name=n) for n in ("good", "flaky", "bad")]
    options = CheckOptions(retries=3, backoff_s=0.5)
    report = check_all(targets, options, flaky, diagnose_by_results, sleep=sleeps.append)
    assert calls == {"good": 1, "flaky": 3, "bad": 4}
    good, flaky_outcome, bad = report.outcomes
    assert (good.status, good.attempts) == (ExitStatus.OK, 1)
    assert (flaky_outcome.status, flaky_outcome.attempts) == (ExitStatus.OK, 3)
    assert (bad.status, bad.attempts) == (ExitStatus.CRITICAL, 4)
    assert sorted(sleeps) == sorted([0.5, 1.0] + [0.5, 1.0, 2.0])
    assert report.status == ExitStatus.CRITICAL


def test_retries_zero_means_one_attempt() -> None:
    outcome = check_target(
        TARGET, CheckOptions(retries=0), lambda t, s: [result(False)], diagnose_by_results
    )
    assert outcome.attempts == 1 and outcome.status == ExitStatus.CRITICAL
    assert outcome.diagnosis.layer == "app"


def test_per_probe_timeout_is_passed_to_the_probes() -> None:
    seen: list[float] = []

    def probe(target: Target, timeout_s: float) -> list[ProbeResult]:
        seen.append(timeout_s)
        return [result(True)]

    check_target(TARGET, CheckOptions(timeout_s=2.5), probe, diagnose_by_results)
    assert seen == [2.5]


def test_a_probe_crash_is_unknown_and_retried() -> None:
    calls = []

    def broken(target: Target, timeout_s: float) -> list[ProbeResult]:
        calls.append(1)
        raise RuntimeError("boom")

    outcome = check_target(
        TARGET, CheckOptions(retries=2), broken, diagnose_by_results, sleep=no_sleep
    )
    assert outcome.status == ExitStatus.UNKNOWN
    assert outcome.error == "RuntimeError: boom"
    assert len(calls) == 3


def test_latency_thresholds_use_the_slowest_passing_probe() -> None:
    options = CheckOptions(warn_latency_s=0.5, crit_latency_s=2.0, retries=0)

    def probes_taking(*durations: float):
        return lambda t, s: [result(True, d, f"p{i}") for i, d in enumerate(durations)]

    ok = check_target(TARGET, options, probes_taking(0.1, 0.2), diagnose_by_results)
    warn = check_target(TARGET, options, probes_taking(0.1, 0.7), diagnose_by_results)
    crit = check_target(TARGET, options, probes_taking(2.5, 0.1), diagnose_by_results)
    assert (ok.status, ok.latency_s, ok.latency_note) == (ExitStatus.OK, 0.2, None)
    assert warn.status == ExitStatus.WARNING
    assert warn.latency_note == "latency 0.700s >= warn 0.5s"
    assert crit.status == ExitStatus.CRITICAL
    assert crit.latency_note == "latency 2.500s >= crit 2.0s"


def test_a_warning_is_not_retried() -> None:
    calls = []

    def slow(target: Target, timeout_s: float) -> list[ProbeResult]:
        calls.append(1)
        return [result(True, 0.7)]

    outcome = check_target(
        TARGET, CheckOptions(warn_latency_s=0.5, retries=3), slow, diagnose_by_results
    )
    assert outcome.status == ExitStatus.WARNING and len(calls) == 1


def test_latency_status_without_thresholds_is_ok() -> None:
    assert latency_status(99.0, CheckOptions()) == (ExitStatus.OK, None)
    assert latency_status(None, CheckOptions(warn_latency_s=0.1)) == (ExitStatus.OK, None)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], ExitStatus.OK),
        ([ExitStatus.OK, ExitStatus.OK], ExitStatus.OK),
        ([ExitStatus.OK, ExitStatus.UNKNOWN], ExitStatus.UNKNOWN),
        ([ExitStatus.UNKNOWN, ExitStatus.WARNING], ExitStatus.WARNING),
        ([ExitStatus.WARNING, ExitStatus.CRITICAL, ExitStatus.UNKNOWN], ExitStatus.CRITICAL),
    ],
)
def test_overall_status_is_the_worst(statuses: list[ExitStatus], expected: ExitStatus) -> None:
    assert worst(statuses) == expected


def test_diagnosis_status_counts_even_when_probes_pass() -> None:
    def warn_diagnosis(target: Target, results: list[ProbeResult]) -> FakeDiagnosis:
        return FakeDiagnosis("tls", "certificate expires in 5 days", ExitStatus.WARNING)

    outcome = check_target(TARGET, CheckOptions(), lambda t, s: [result(True)], warn_diagnosis)
    assert outcome.status == ExitStatus.WARNING


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"timeout_s": -1}, "--timeout"),
        ({"timeout_s": 0}, "--timeout"),
        ({"retries": -1}, "--retries"),
        ({"retries": 11}, "--retries"),
        ({"concurrency": 0}, "--concurrency"),
        ({"concurrency": 1000}, "--concurrency"),
        ({"warn_latency_s": -0.5}, "--warn-latency"),
        ({"crit_latency_s": 0}, "--crit-latency"),
        ({"warn_latency_s": 2.0, "crit_latency_s": 1.0}, "--warn-latency"),
        ({"tls_crit_days": -1}, "--tls-crit-days"),
        ({"tls_warn_days": 5, "tls_crit_days": 7}, "--tls-warn-days"),
        ({"tls_warn_days": True}, "--tls-warn-days"),
    ],
)
def test_bad_options_name_the_option(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        CheckOptions(**kwargs)
    assert caught.value.key == key


def test_tls_thresholds_reach_the_probes() -> None:
    options = CheckOptions(tls_warn_days=40, tls_crit_days=10, warn_latency_s=2.0)
    assert thresholds_for(options) == Thresholds(2.0, tls_warn_days=40, tls_crit_days=10)
    assert thresholds_for(CheckOptions()) == Thresholds()
