"""A slow target does not delay the others (issue 26): one target's server holds every answer
until the check has reported all the other targets, in one process and with the fleet shared
out over processes (the slow target in the parent's share, and in a child's). A barrier, not
a wall-clock limit: were the others waiting on the slow one, the slow one would be reported
first (its held probe timing out) and the barrier never reached, and the test says so."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.unit.test_probes_loopback import NodeApp
from tests.unit.test_sweep import diagnose_by_results, result
from wsready.exitstatus import ExitStatus
from wsready.fleet.sweep import SHARD_TARGETS, CheckOptions, TargetOutcome, check_all, process_count
from wsready.probes import ProbeResult, Target

FAST = 5
FALLBACK_S = 20.0  # the hold ends here only when the barrier never came: the test fails
TIMEOUT_S = 10.0  # per probe (the CLI's default): the slow target's held probe times out


class HoldingServer:
    """Accepts, reads, and answers nothing until `release` is set (then closes every
    connection, and closes new ones at once)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.release = threading.Event()
        self.held = threading.Event()  # a connection waited on the barrier
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(FALLBACK_S)
            try:
                if conn.recv(4096):
                    self.held.set()
            except OSError:
                return
            self.release.wait(FALLBACK_S)

    def close(self) -> None:
        self.release.set()
        self.listener.close()


@pytest.fixture(scope="module")
def app() -> Iterator[NodeApp]:
    node = NodeApp(APP_AUTH="off")
    try:
        yield node
    finally:
        node.process.terminate()
        node.process.wait(timeout=10)


@pytest.mark.parametrize(
    ("processes", "slow_index"),
    [(1, 0), (2, 0), (2, 1)],
    ids=["one process", "shared out, slow in the parent", "shared out, slow in a child"],
)
def test_a_held_target_does_not_delay_the_others(
    app: NodeApp, processes: int, slow_index: int
) -> None:
    holding = HoldingServer()
    targets = [Target(url=app.url, name=f"fast-{i}") for i in range(FAST)]
    targets.insert(slow_index, Target(url=holding.url, name="slow"))
    heard: list[TargetOutcome] = []
    released_by_barrier = threading.Event()

    def on_outcome(outcome: TargetOutcome) -> None:
        heard.append(outcome)
        others = [o for o in heard if o.target.name != "slow"]
        if len(others) == FAST and not holding.release.is_set():
            released_by_barrier.set()
            holding.release.set()

    options = CheckOptions(timeout_s=TIMEOUT_S, retries=0, concurrency=len(targets))
    try:
        report = check_all(targets, options, on_outcome=on_outcome, processes=processes)
    finally:
        holding.close()

    assert holding.held.is_set(), "the slow target's server never held a request"
    assert released_by_barrier.is_set(), (
        f"the other targets were not all reported while the slow one was held "
        f"(heard before the fallback: {[o.label for o in heard]})"
    )
    assert [o.label for o in heard][-1] == "slow"
    by_name = {o.target.name: o for o in report.outcomes}
    assert [o.target.name for o in report.outcomes] == [t.name for t in targets]
    assert all(by_name[f"fast-{i}"].status == ExitStatus.OK for i in range(FAST)), {
        name: o.status.name for name, o in by_name.items()
    }
    assert by_name["slow"].status == ExitStatus.CRITICAL
    assert report.outcomes[slow_index].target is targets[slow_index]


def test_the_fleet_is_shared_out_only_past_a_few_hundred_targets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    assert process_count(SHARD_TARGETS - 1, 16) == 1
    assert process_count(2 * SHARD_TARGETS, 16) == 2
    assert process_count(100 * SHARD_TARGETS, 16) == 4  # one per CPU at most
    assert process_count(100 * SHARD_TARGETS, 3) == 3  # never more than targets at once


def test_a_target_whose_process_died_is_unknown_and_the_rest_is_reported() -> None:
    def run(target: Target, timeout_s: float) -> list[ProbeResult]:
        if target.name == "dies":
            os._exit(3)  # the child process checking it dies with it
        return [result(True)]

    targets = [Target(url=f"http://127.0.0.1:{9000 + i}", name=f"web-{i}") for i in range(6)]
    targets[3] = Target(url="http://127.0.0.1:9100", name="dies")  # the child's share: 1, 3, 5
    options = CheckOptions(retries=0, concurrency=2)  # one target at a time in each process
    report = check_all(targets, options, run, diagnose_by_results, processes=2)

    assert [o.target for o in report.outcomes] == targets
    statuses = {o.target.name: o.status for o in report.outcomes}
    assert statuses == {
        "web-0": ExitStatus.OK,
        "web-1": ExitStatus.OK,  # sent back before its process died
        "web-2": ExitStatus.OK,
        "dies": ExitStatus.UNKNOWN,
        "web-4": ExitStatus.OK,
        "web-5": ExitStatus.UNKNOWN,  # never checked: its process was gone
    }
    errors = {o.target.name: o.error for o in report.outcomes if o.error}
    assert set(errors) == {"dies", "web-5"}
    assert all("check process ended (exit 3)" in error for error in errors.values()), errors
