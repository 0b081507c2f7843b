"""Sandbox bookkeeping: state files round-trip, and only our own PIDs are ever signalled."""

from __future__ import annotations

import os
import signal
import subprocess

from wsready.commands.sandbox import format_table
from wsready.sandbox import HostStatus
from wsready.sandbox import state as sandbox_state
from wsready.sandbox.state import HostState, Process


def test_state_round_trips_with_derived_names(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox_state, "STATE_ROOT", tmp_path)
    state = HostState("wsr-12", 12, "/tmp/me/sandbox.py", "/k", Process(10, 20), Process(11, 21))
    state.save()
    loaded = HostState.load("wsr-12")
    assert loaded == state
    assert (loaded.netns, loaded.veth) == ("wsr-12", "vwsr-12")
    assert (loaded.address, loaded.gateway) == ("10.200.12.2", "10.200.12.1")
    assert loaded.rootfs == tmp_path / "wsr-12" / "rootfs"
    assert sandbox_state.known_names() == ["wsr-12"]


def test_missing_or_broken_state_loads_as_none(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox_state, "STATE_ROOT", tmp_path)
    (tmp_path / "wsr-3").mkdir()
    (tmp_path / "wsr-3" / "state.json").write_text("{not json")
    assert HostState.load("wsr-3") is None
    assert HostState.load("wsr-4") is None


def test_known_names_sorted_numerically_and_only_ours(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox_state, "STATE_ROOT", tmp_path)
    for name in ("wsr-10", "wsr-2", ".build-x", "other"):
        (tmp_path / name).mkdir()
    assert sandbox_state.known_names() == ["wsr-2", "wsr-10"]


def test_a_reused_pid_is_not_ours():
    me = Process.of(os.getpid())
    assert me.alive()
    impostor = Process(os.getpid(), me.start_ticks + 1)
    assert not impostor.alive()
    assert impostor.signal(signal.SIGTERM) is False  # would have killed pytest otherwise


def test_stop_terminates_and_reaps_our_child():
    child = subprocess.Popen(["sleep", "30"])
    process = Process.of(child.pid)
    assert process.alive()
    process.stop(timeout_s=5)
    assert not process.alive()
    assert sandbox_state.start_ticks(child.pid) is None  # reaped: no zombie left


def test_status_table_lists_hosts():
    rows = [
        HostStatus("wsr-1", "10.200.1.2", True, "running", 75.0, "/tmp/a.py"),
        HostStatus("wsr-2", "10.200.2.2", False, "-", None, "/tmp/b.py"),
    ]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["NAME", "ADDRESS", "STATE", "SYSTEMD", "UPTIME", "INVENTORY"]
    assert lines[1].split() == ["wsr-1", "10.200.1.2", "running", "running", "1m15s", "/tmp/a.py"]
    assert lines[2].split() == ["wsr-2", "10.200.2.2", "stopped", "-", "-", "/tmp/b.py"]
