"""wsready.deploy.capacity: workers per host from its CPUs, and the limits that cannot hold
app_max_clients named by their keys (the preflight refuses them before any change)."""

from __future__ import annotations

import pytest

from wsready.deploy import capacity
from wsready.hostdata import HostConfig


def _errors(data, cpus: int):
    """capacity.errors on a host with `cpus` CPUs."""
    return capacity.errors(data, capacity.plan(data, cpus))


def _data(**overrides) -> HostConfig:
    return HostConfig.from_data("wsr-1", overrides)


@pytest.mark.parametrize(
    ("cpus", "app_workers", "nginx_workers"),
    [
        # 20000 clients x 2 connections x 1.25 headroom / 16384 per worker = 3.05 -> 4
        (1, 1, 4),
        (2, 2, 4),
        (8, 8, 8),  # at least one nginx worker per CPU
    ],
)
def test_plan_with_the_defaults(cpus: int, app_workers: int, nginx_workers: int) -> None:
    sized = capacity.plan(_data(), cpus)
    assert sized == capacity.Plan(app_workers, nginx_workers, nginx_workers)
    assert sized.app_ports(3000) == list(range(3000, 3000 + app_workers))


def test_plan_takes_explicit_counts_and_auto() -> None:
    assert capacity.plan(_data(app_workers=3), 8).app_workers == 3
    assert capacity.plan(_data(nginx_worker_processes=2), 8).nginx_worker_processes == 2
    auto = capacity.plan(_data(nginx_worker_processes="auto"), 8)
    assert (auto.nginx_worker_processes, auto.nginx_workers_effective) == ("auto", 8)


def test_plan_sizes_nginx_for_more_clients() -> None:
    # 100000 x 2 x 1.25 / 16384 = 15.3 -> 16 workers, above the 2 CPUs
    assert capacity.plan(_data(app_max_clients=100_000), 2).nginx_worker_processes == 16


def test_plan_treats_an_unknown_cpu_count_as_one() -> None:
    assert capacity.plan(_data(), 0) == capacity.plan(_data(), 1)


@pytest.mark.parametrize("cpus", [1, 2, 8])
def test_defaults_hold_the_target_on_any_size(cpus: int) -> None:
    assert _errors(_data(), cpus) == []


def test_a_sized_data_set_for_100k_clients_passes() -> None:
    data = _data(  # HostConfig.from_data: valid data
        app_max_clients=100_000,
        app_workers=4,
        app_limit_nofile=30_000,
        nginx_worker_processes=8,
        nginx_worker_connections=32_768,
        nginx_worker_rlimit_nofile=33_792,
        nginx_listen_backlog=8192,
        app_listen_backlog=8192,
        kernel_sysctls={"net.core.somaxconn": 8192},
    )
    assert _errors(data, 4) == []


def _keys(data: HostConfig, cpus: int) -> list[str]:
    return [error.key for error in _errors(data, cpus)]


def test_too_few_nginx_connections_name_nginx_worker_connections() -> None:
    (error,) = _errors(_data(nginx_worker_processes=1), 8)
    assert error.key == "nginx_worker_connections"
    assert error.value == 16384
    assert "x 1 nginx workers" in error.why
    assert "below the 40000 that app_max_clients = 20000 WebSockets need" in error.why
    # "auto" on one CPU is one worker too.
    assert _keys(_data(nginx_worker_processes="auto"), 1) == ["nginx_worker_connections"]
    assert _keys(_data(nginx_worker_processes="auto"), 4) == []


def test_too_few_open_files_name_app_limit_nofile() -> None:
    (error,) = _errors(_data(app_limit_nofile=10_000, app_workers=1), 8)
    assert error.key == "app_limit_nofile"
    assert error.value == 10_000
    assert "x 1 app workers" in error.why and "app_max_clients = 20000" in error.why
    # Spread over enough workers the same limit holds.
    assert _keys(_data(app_limit_nofile=10_000, app_workers=3), 8) == []
    # None: one worker per CPU.
    assert _keys(_data(app_limit_nofile=10_000), 1) == ["app_limit_nofile"]
    assert _keys(_data(app_limit_nofile=10_000), 4) == []


@pytest.mark.parametrize("key", ["nginx_listen_backlog", "app_listen_backlog"])
def test_a_backlog_above_somaxconn_is_named(key: str) -> None:
    (error,) = _errors(_data(**{key: 8192}), 2)
    assert error.key == key and error.value == 8192
    assert "exceeds kernel_sysctls['net.core.somaxconn'] = 4096" in error.why
    # Raised together with the kernel's limit, it holds; without a somaxconn setting the
    # kernel's own value is not known here, so nothing is claimed.
    assert _keys(_data(**{key: 8192, "kernel_sysctls": {"net.core.somaxconn": "8192"}}), 2) == []
    assert _keys(_data(**{key: 8192, "kernel_sysctls": {}}), 2) == []


def test_nginx_backlog_none_is_nginx_default_and_not_compared() -> None:
    data = _data(nginx_listen_backlog=None, kernel_sysctls={"net.core.somaxconn": 128})
    assert _keys(data, 2) == ["app_listen_backlog"]


def test_every_problem_at_once() -> None:
    data = _data(
        nginx_worker_processes=1,
        app_workers=1,
        app_limit_nofile=4096,
        nginx_listen_backlog=65535,
        app_listen_backlog=65535,
    )
    assert _keys(data, 2) == [
        "nginx_worker_connections",
        "app_limit_nofile",
        "nginx_listen_backlog",
        "app_listen_backlog",
    ]
