"""The pure part of app_restart "generations" (wsready/deploy/generations.py): which slot
serves, what a run does from what the host runs (convergence after a killed run), and the
host-side switch script."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wsready.deploy import generations as g


def test_slots_have_their_own_instances_and_the_second_starts_above_any_worker_count() -> None:
    assert g.instances("a", 2) == [0, 1]
    assert g.instances("b", 2) == [100, 101]
    assert g.units("app", "b", 2) == ["app@100.service", "app@101.service"]
    assert [g.slot_of(i) for i in (0, 63, 100, 163)] == ["a", "a", "b", "b"]
    assert g.other("a") == "b" and g.other("b") == "a"


def test_the_active_file_names_the_serving_slot_and_a_missing_one_means_slot_a() -> None:
    for slot in g.SLOTS:
        assert g.serving(g.active_file(slot)) == slot
    assert g.serving(None) == "a"
    assert g.serving("# nothing here\n") == "a"
    assert g.serving("default wsready_app_b;  # switched\n") == "b"
    assert g.serving("default somewhere_else;\n") == "a"


def test_running_slots_counts_active_instances_per_slot() -> None:
    units = ["app@0.service", "app@1.service", "app@100.service", "other@100.service", "app.target"]
    assert g.running_slots(units, "app") == {"a": 2, "b": 1}
    assert g.running_slots([], "app") == {"a": 0, "b": 0}


@pytest.mark.parametrize(
    ("serving", "running", "current", "expected"),
    [
        # a first deploy: nothing runs, start the serving slot in place, nobody moves
        ("a", {"a": 0, "b": 0}, False, ("a", None, None)),
        # the usual release deploy: start b beside a, prove, switch, drain a
        ("a", {"a": 2, "b": 0}, False, ("b", "b", "a")),
        ("b", {"a": 0, "b": 2}, False, ("a", "a", "b")),
        # nothing changed: nothing to do
        ("a", {"a": 2, "b": 0}, True, (None, None, None)),
        # killed after the switch, before the old slot stopped: only stop the old one
        ("b", {"a": 2, "b": 2}, True, (None, None, "a")),
        # killed before the switch: the unproven slot never got a client; start it again
        ("a", {"a": 2, "b": 2}, False, ("b", "b", "a")),
        # killed with nginx on a slot that runs nothing: start it in place, stop the other
        ("b", {"a": 2, "b": 0}, False, ("b", None, "a")),
    ],
)
def test_decide(serving: str, running: dict, current: bool, expected: tuple) -> None:
    decision = g.decide(serving, running, current)
    assert (decision.start, decision.switch_to, decision.stop) == expected, decision.why


def test_every_decision_ends_with_one_slot_serving() -> None:
    """Whatever the host runs, after the steps only the slot nginx names runs."""
    for serving in g.SLOTS:
        for a in (0, 2):
            for b in (0, 2):
                for current in (False, True):
                    running = {"a": a, "b": b}
                    d = g.decide(serving, running, current and running[serving] > 0)
                    after = dict(running)
                    if d.start:
                        after[d.start] = 2
                    if d.stop:
                        after[d.stop] = 0
                    end = d.switch_to or serving
                    assert after[end] == 2 and after[g.other(end)] == 0, (serving, running, d)


def _fake_bin(tmp_path: Path, nginx_ok: bool) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    for name, body in (
        ("nginx", f'echo "nginx $*" >> {log}; exit {0 if nginx_ok else 1}'),
        ("systemctl", f'echo "systemctl $*" >> {log}'),
    ):
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("nginx_ok", [True, False])
def test_switch_script_points_nginx_then_drains_the_old_slot(
    tmp_path: Path, nginx_ok: bool
) -> None:
    active = tmp_path / "wsready-generation.conf"
    active.write_text(g.active_file("a"))
    script = g.switch_script("app", 2, "b", "a").replace(g.ACTIVE_FILE, str(active))
    bin_dir = _fake_bin(tmp_path, nginx_ok)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    calls = (tmp_path / "calls").read_text().splitlines()
    if nginx_ok:
        assert result.returncode == 0, result.stderr
        assert g.serving(active.read_text()) == "b"
        assert calls == [
            "nginx -t -q",
            "systemctl reload nginx",
            "systemctl enable --quiet app@100.service app@101.service",
            "systemctl disable --quiet --now app@0.service app@1.service",
        ]
    else:  # refused: the old file is back, nothing reloaded or stopped
        assert result.returncode == 1
        assert g.serving(active.read_text()) == "a"
        assert calls == ["nginx -t -q"]


def test_switch_script_only_stops_when_converging() -> None:
    script = g.switch_script("app", 2, None, "b")
    assert "nginx" not in script
    assert "systemctl disable --quiet --now app@100.service app@101.service" in script


def test_retiring_workers_spares_the_second_generation() -> None:
    from wsready.deploy.operations.app_units import _retired

    assert [i for i in (0, 1, 2, 99, 100, 101, 102) if _retired(i, 2, 100)] == [2, 99, 102]
    assert [i for i in (0, 1, 2, 100) if _retired(i, 2, None)] == [2, 100]


def test_a_no_change_run_is_idle_and_a_leftover_slot_is_not() -> None:
    assert g.decide("a", {"a": 2, "b": 0}, True).idle
    assert not g.decide("a", {"a": 2, "b": 2}, True).idle  # a killed run's leftover
    assert not g.decide("a", {"a": 2, "b": 0}, False).idle  # a new release
    assert not g.decide("a", {"a": 0, "b": 0}, False).idle  # a first deploy
