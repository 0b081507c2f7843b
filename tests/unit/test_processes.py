"""wsready.processes.stop_processes: SIGTERM first, SIGKILL for a process that ignores it,
and nothing left running or unreaped."""

from __future__ import annotations

import signal
import subprocess

from wsready.processes import stop_processes


def test_a_process_that_stops_on_sigterm_is_not_killed() -> None:
    process = subprocess.Popen(["sleep", "30"])
    stop_processes(process, timeout_s=5)
    assert process.returncode == -signal.SIGTERM


def test_a_process_ignoring_sigterm_is_killed_after_the_timeout() -> None:
    stubborn = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert stubborn.stdout.readline() == "ready\n"  # the trap is set
    polite = subprocess.Popen(["sleep", "30"])
    stop_processes(stubborn, polite, timeout_s=0.3)
    assert stubborn.returncode == -signal.SIGKILL
    assert polite.returncode == -signal.SIGTERM
    stubborn.stdout.close()


def test_a_process_already_gone_is_only_reaped() -> None:
    process = subprocess.Popen(["true"])
    process.wait(timeout=5)
    stop_processes(process)
    assert process.returncode == 0
