"""Stopping child processes: one way, used by the sandbox, the tests and the benchmarks."""

from __future__ import annotations

import subprocess


def stop_processes(*processes: subprocess.Popen, timeout_s: float = 10) -> None:
    """Ask each process to stop (SIGTERM), wait up to `timeout_s` for each, and kill the ones
    still running (SIGKILL), waiting for them too: none is left behind as a zombie."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)
