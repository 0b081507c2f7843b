"""bench/live_deploy.py: one configuration's row from the clients' own counts."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.live_deploy import host_moves, percentile, rollout_fields, summarize

ROOT = Path(__file__).resolve().parents[2]


def _client(disconnects, down_ms, missed, recovered, errors=None, connected=True) -> dict:
    return {
        "connected": connected,
        "disconnects": disconnects,
        "reconnects": disconnects,
        "recovered": recovered,
        "reasons": {},
        "errors": errors or {},
        "down_ms": down_ms,
        "seq": {"received": 10 - missed, "missed": missed, "duplicates": 0},
    }


def test_a_row_counts_moves_errors_gaps_and_recovery() -> None:
    clients = [
        _client(1, [900], 0, 1),
        _client(2, [800, 1200], 2, 1, {"xhr poll error": 1}),
        _client(0, [], 0, 0),
        _client(1, [5000], 1, 0, {"xhr poll error": 2, "timeout": 1}, connected=False),
    ]
    row = summarize("one-at-a-time", clients, 10.04, 40)
    assert row["disconnects_per_client"] == {"max": 2, "mean": 1.0}
    assert row["moved_more_than_once"] == 1
    assert row["connect_errors"] == {"xhr poll error": 3, "timeout": 1}
    assert row["disconnected_ms"] == {"p50": 1200, "p99": 5000, "max": 5000}
    assert row["still_disconnected"] == 1
    assert (row["clients_with_gap"], row["broadcasts_missed"]) == (2, 3)
    assert row["recovered_fraction"] == 0.5  # 2 of 4 reconnects
    assert row["deploy_s"] == 10.0


def test_nobody_moved_has_no_recovered_fraction_and_empty_percentiles() -> None:
    row = summarize("restart-all", [_client(0, [], 0, 0)], 1.0, 4)
    assert row["recovered_fraction"] is None
    assert row["disconnected_ms"] == {"p50": 0.0, "p99": 0.0, "max": 0}
    assert percentile([3, 1, 2], 0.5) == 2


def test_a_rollout_row_counts_host_moves_per_client_from_the_balancer_cookie() -> None:
    clients = [
        {**_client(1, [900], 0, 1), "hosts": ["wsr-1", "wsr-1"]},  # back on its own host
        {**_client(2, [800, 700], 0, 2), "hosts": ["wsr-1", "wsr-2", "wsr-1"]},  # there and back
        {**_client(1, [600], 0, 1), "hosts": ["wsr-2", None, "wsr-1"]},  # one host not known
    ]
    output = "\n".join(
        [
            "rollout: 4 hosts in 4 batches: [wsr-1] [wsr-2] [wsr-3] [wsr-4]",
            "rollout: $ pyinfra -y inv.py deploy.py --limit wsr-1",
            "rollout: batch 1/4 [wsr-1]: wsr-1: drained (0 connections)",
            "pyinfra's own line",
            "rollout: batch 1/4 [wsr-1]: ok in 41.0 s",
            "rollout: rollout ok: 4 hosts in 150.2 s",
        ]
    )
    fields = rollout_fields(clients, output)
    assert [host_moves(c["hosts"]) for c in clients] == [0, 2, 1]
    assert fields["host_moves_per_client"] == {"max": 2, "mean": 1.0}
    assert fields["moved_host_more_than_once"] == 1
    assert fields["clients_per_host_before"] == {"wsr-1": 2, "wsr-2": 1}
    assert fields["clients_per_host_after"] == {"wsr-1": 3}
    assert fields["rollout"] == [
        "4 hosts in 4 batches: [wsr-1] [wsr-2] [wsr-3] [wsr-4]",
        "batch 1/4 [wsr-1]: wsr-1: drained (0 connections)",
        "batch 1/4 [wsr-1]: ok in 41.0 s",
        "rollout ok: 4 hosts in 150.2 s",
    ]


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "live_deploy.py"), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_command_line_refuses_what_it_cannot_run_before_starting_a_host() -> None:
    cases = {
        ("--clients", "20001"): "--clients 20001: must be 1..20000",
        ("--clients", "20000", "--processes", "3"): "at most 5000 per process",
        ("--connect-rate", "-1"): "--connect-rate -1: must be 0..100000",
        ("--data", "app_drain_rate"): "--data 'app_drain_rate': must be KEY=VALUE",
    }
    for args, message in cases.items():
        result = _bench(*args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)


def test_the_clients_refuse_a_connect_rate_that_is_not_a_count() -> None:
    for rate in ("-5", "fast", "100001"):
        result = subprocess.run(
            ["node", str(ROOT / "tests" / "oracle" / "live_clients.js"),
             "--url", "http://127.0.0.1:9", "--connect-rate", rate],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert result.returncode == 2, result
        assert json.loads(result.stdout) == {
            "error": f"--connect-rate {json.dumps(rate)}: must be 0..100000"
        }


def test_ports_held_counts_this_machines_sockets_toward_an_address(monkeypatch) -> None:
    from bench import live_deploy

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        before = live_deploy.ports_held("127.0.0.1")
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        try:
            assert live_deploy.ports_held("127.0.0.1") >= before + 3
            # no room for 2 more clients among `before + 3` ports: the bounded wait gives up
            monkeypatch.setattr(live_deploy, "EPHEMERAL_PORTS", before + 3)
            monkeypatch.setattr(live_deploy, "PORTS_FREE_WITHIN_S", 0)
            with pytest.raises(live_deploy.BenchError, match="ports toward 127.0.0.1 still held"):
                live_deploy.wait_for_ports("127.0.0.1", 2)
        finally:
            for client in clients:
                client.close()
