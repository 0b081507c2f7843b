"""A CI-sized run of bench/ws_capacity.py on a sandbox host: 2,000 clients over 2 workers.

Deployed with the defaults, every client connects through nginx, is held and receives the
one broadcast. The same host deployed "stock" (Debian's nginx defaults, one worker: the
tuning off, bench/ws_capacity.py CONFIGS) cannot hold them: the same run fails there. The
host is deployed with the defaults again at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bench import ws_capacity
from tests.e2e.conftest import Fleet, host_ssh, redeploy
from wsready.deploy import generations

pytestmark = pytest.mark.e2e

CLIENTS = 2000
PROCESSES = 2
RAMP_PER_S = 500.0


def _data_args(config: str) -> list[str]:
    args = []
    for key, value in ws_capacity.CONFIGS[config].items():
        args += ["--data", f"{key}={json.dumps(value)}"]
    return args


def _load(fleet: Fleet, config: str) -> dict:
    host = fleet.hosts[1]
    run = ws_capacity.sandbox_runner(host.name)
    return ws_capacity.run_load(
        f"http://{host.address}",
        CLIENTS,
        PROCESSES,
        RAMP_PER_S,
        ws_capacity.ssh_trigger(run),
        config=config,
        hold_s=1.0,
        connect_timeout_s=30.0,
        broadcast_timeout_s=20.0,
        max_seconds=240.0,
        server_health=ws_capacity.ssh_health(run),
    )


@pytest.fixture
def stock_host(fleet: Fleet) -> Iterator[Fleet]:
    """fleet.hosts[1] deployed stock for the test, with the defaults again afterwards."""
    limit = ["--limit", fleet.hosts[1].name]
    result = redeploy(fleet, *limit, *_data_args("stock"))
    try:
        assert result.returncode == 0, result
        yield fleet
    finally:
        restored = redeploy(fleet, *limit)
        assert restored.returncode == 0, restored


def test_defaults_hold_2000_clients_and_reach_each_with_one_broadcast(fleet: Fleet) -> None:
    row = _load(fleet, "wsready")
    print(json.dumps(row))
    assert row["connected"] == CLIENTS, row
    assert row["errors"] == 0, row
    assert row["broadcast_received"] == CLIENTS, row
    # Both workers of the generation nginx serves (slot a or b) still run.
    active = host_ssh(fleet.hosts[1], f"cat {generations.ACTIVE_FILE}", check=False)
    workers = " ".join(generations.units("wsready-app", generations.serving(active), 2))
    assert host_ssh(fleet.hosts[1], f"systemctl is-active {workers}").split() == ["active"] * 2


def test_the_stock_config_fails_the_same_run(stock_host: Fleet) -> None:
    host = stock_host.hosts[1]
    assert "worker_connections 768;" in host_ssh(host, "cat /etc/nginx/nginx.conf")
    row = _load(stock_host, "stock")
    print(json.dumps(row))
    assert row["connected"] < CLIENTS or row["errors"] > 0, row
    assert row["broadcast_received"] < CLIENTS, row
    log = host_ssh(host, "tail -n 200 /var/log/nginx/error.log")
    assert "worker_connections are not enough" in log, log
