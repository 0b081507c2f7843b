"""bench/ws_capacity.py: pure logic, and real loads on loopback against a Socket.IO server."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("ws_capacity", ROOT / "bench" / "ws_capacity.py")
assert SPEC and SPEC.loader
wc = importlib.util.module_from_spec(SPEC)
sys.modules["ws_capacity"] = wc
SPEC.loader.exec_module(wc)

NODE_READY = (
    shutil.which("node") is not None
    and (ROOT / "files" / "app" / "node_modules" / "socket.io-client").is_dir()
)


@pytest.fixture
def node_ready() -> None:
    assert NODE_READY, "node and files/app/node_modules are needed (run scripts/setup)"


needs_node = pytest.mark.usefixtures("node_ready")


# --- the address guard ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:3000", ("127.0.0.1", 3000)),
        ("http://localhost:8080", ("127.0.0.1", 8080)),
        ("http://[::1]:81", ("::1", 81)),
        ("http://10.200.3.2", ("10.200.3.2", 80)),
        ("https://10.200.255.2", ("10.200.255.2", 443)),
        ("ws://127.8.0.1:9", ("127.8.0.1", 9)),
    ],
)
def test_targets_on_loopback_or_sandbox_addresses_are_accepted(
    url: str, expected: tuple[str, int]
) -> None:
    assert wc.check_target(url) == expected


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://10.201.0.2", "refused"),  # the sandbox LAN, not a veth address
        ("http://10.0.0.5", "refused"),
        ("http://192.168.1.10", "refused"),
        ("http://8.8.8.8", "refused"),
        ("http://[2001:db8::1]", "refused"),
        ("http://example.com", "not a name"),
        ("ftp://127.0.0.1", "scheme"),
        ("127.0.0.1:3000", "scheme"),
    ],
)
def test_other_targets_are_refused(url: str, words: str) -> None:
    with pytest.raises(wc.CapacityError, match=words):
        wc.check_target(url)


def test_run_load_refuses_a_foreign_target_before_starting_anything() -> None:
    with pytest.raises(wc.CapacityError, match="refused"):
        wc.run_load("http://1.1.1.1", 10, 1, 100, None)


def test_broadcast_to_a_non_loopback_endpoint_is_refused() -> None:
    with pytest.raises(wc.CapacityError, match="loopback only"):
        wc.http_trigger("http://10.200.3.2:3000/api/broadcast")


# --- percentiles, shares, rows --------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert wc.percentile(values, 50) == 50
    assert wc.percentile(values, 99) == 99
    assert wc.percentile(values, 100) == 100
    assert wc.percentile([7.0], 99) == 7.0
    assert wc.percentile([3, 1, 2], 50) == 2
    assert wc.percentile([], 50) is None


def test_clients_are_split_evenly_and_never_into_empty_processes() -> None:
    assert wc.split_clients(10, 3) == [4, 3, 3]
    assert wc.split_clients(2, 5) == [1, 1]
    assert sum(wc.split_clients(20_000, 4)) == 20_000
    assert wc.default_processes(20_000) == 4
    assert wc.default_processes(5_001) == 2


def test_too_many_clients_per_process_is_refused() -> None:
    with pytest.raises(wc.CapacityError, match="per process"):
        wc.run_load("http://127.0.0.1:9", 20_000, 1, 100, None)


def _result(
    connect_ms: list[float],
    received_at_ms: list[float],
    payload_t: float | None,
    errors: dict[str, int] | None = None,
) -> dict[str, Any]:
    errors = errors or {}
    return {
        "opened": len(connect_ms) + sum(errors.values()),
        "errors": sum(errors.values()),
        "connect_ms": connect_ms,
        "received_at_ms": received_at_ms,
        "payload_t": payload_t,
        "ramp_seconds": 0.5,
        "error_kinds": errors,
        "memory_rss_bytes": 1000,
    }


def test_summarize_builds_the_row_from_every_generator() -> None:
    results = [
        _result([1.0, 2.0, 3.0], [1_000_010.0, 1_000_030.0], 1_000_000.0, {"connect: x": 1}),
        _result([4.0, 5.0], [1_000_020.0], 1_000_000.0, {"connect: x": 2, "dropped: y": 1}),
    ]
    row = wc.summarize(
        config="wsready",
        clients=9,
        processes=2,
        ramp_per_s=100.0,
        transports=["websocket"],
        results=results,
        connected=5,
        trigger_epoch_ms=999_000.0,
        rss_before={"app": 1000, "nginx": 500},
        rss_holding={"app": 6000, "nginx": 1000},
        health={"clients": 5, "workers": {"up": 2, "total": 2}, "status": "ok"},
    )
    assert {k: row[k] for k in list(row)[:9]} == {
        "config": "wsready",
        "clients": 9,
        "connected": 5,
        "errors": 4,
        "connect_p50_ms": 3.0,
        "connect_p99_ms": 5.0,
        "broadcast_received": 3,
        "broadcast_last_ms": 30.0,  # from the payload's t, not this process's trigger time
        "server_rss_bytes_per_client": 1100,  # (7000 - 1500) / 5
    }
    assert row["errors_by_kind"] == {"connect: x": 3, "dropped: y": 1}
    assert row["ramp_achieved_per_s"] == 18.0  # 9 opened in 0.5 s
    assert row["processes"] == 2 and row["ramp_per_s"] == 100.0
    assert row["health"] == {"clients": 5, "workers": {"up": 2, "total": 2}}


def test_summarize_without_payload_time_or_broadcast_or_rss() -> None:
    results = [_result([1.0], [2_000.0], -1)]
    common = dict(config="c", clients=1, processes=1, ramp_per_s=1.0, transports=["websocket"])
    row = wc.summarize(**common, results=results, connected=1, trigger_epoch_ms=1_500.0)
    assert row["broadcast_last_ms"] == 500.0
    assert row["server_rss_bytes_per_client"] is None
    row = wc.summarize(
        **common, results=[_result([1.0], [], None)], connected=1, trigger_epoch_ms=None
    )
    assert row["broadcast_received"] is None and row["broadcast_last_ms"] is None


def test_ratio_row_divides_tuned_by_stock() -> None:
    stock = {"config": "stock", "connected": 1500, "connect_p99_ms": 400.0, "errors": 0}
    tuned = {"config": "wsready", "connected": 20000, "connect_p99_ms": 80.0, "errors": 0}
    ratio = wc.ratio_row(stock, tuned)
    assert ratio["ratio"] == "wsready/stock"
    assert ratio["connected"] == 13.33
    assert ratio["connect_p99_ms"] == 0.2
    assert ratio["errors"] is None  # 0 / 0


# --- server-side commands -------------------------------------------------------------------


def test_broadcast_command_posts_a_json_body_stamped_by_the_host_clock() -> None:
    command = wc.broadcast_command("bench", 3000)
    assert command.startswith("curl ")
    # Run the command's quoting through a real shell, with curl replaced by printf (no
    # generation file here: the first port).
    body = subprocess.run(
        ["bash", "-c", "curl() { printf '%s\\n' \"$@\"; }; " + command],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert body[-1] == "http://127.0.0.1:3000/api/broadcast"
    payload = body[body.index("-d") + 1]
    parsed = json.loads(payload)
    assert parsed["event"] == "bench" and isinstance(parsed["data"]["t"], int)
    with pytest.raises(wc.CapacityError):
        wc.broadcast_command("x'; rm -rf /")


def test_ps_rss_is_summed_per_process_group() -> None:
    assert wc.ps_rss_command() == (
        "ps -o rss= -C node; echo --; ps -o rss= -C nginx; echo --; "
        "ps -o rss= -C redis-server; echo --"
    )
    assert wc.parse_ps_rss(" 1000\n 2000\n--\n 300\n 400\n--\n--\n") == {
        "app": 3000 * 1024,
        "nginx": 700 * 1024,
        "redis": 0,
    }
    # The real command's output shape, through a shell with ps replaced.
    out = subprocess.run(
        ["bash", "-c", "ps() { echo ' 10'; echo ' 20'; }; " + wc.ps_rss_command()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert wc.parse_ps_rss(out) == {"app": 30 * 1024, "nginx": 30 * 1024, "redis": 30 * 1024}
    with pytest.raises(wc.CapacityError):
        wc.parse_ps_rss("garbage")


def test_ssh_trigger_fails_loudly_when_the_app_refuses() -> None:
    def run(answer: str, code: int = 0) -> Any:
        return lambda cmd: subprocess.CompletedProcess(cmd, code, answer, "")

    assert wc.ssh_trigger(run('{"sent": true, "worker": 1}'))() == {"sent": True, "worker": 1}
    with pytest.raises(wc.CapacityError, match="refused"):
        wc.ssh_trigger(run('{"error": "not found"}'))()
    with pytest.raises(wc.CapacityError, match="exit 7"):
        wc.ssh_trigger(run("", 7))()


@pytest.mark.parametrize(
    ("active", "port"),
    [(None, "3000"), ("default wsready_app;\n", "3000"), ("default wsready_app_b;\n", "3100")],
)
def test_the_host_side_commands_reach_the_serving_generation(
    tmp_path, active: str | None, port: str
) -> None:
    """app_restart "generations": slot b's first worker listens on app_port + 100."""
    active_file = tmp_path / "wsready-generation.conf"
    if active is not None:
        active_file.write_text(active)
    shell = f"echo {wc.serving_port(3000, str(active_file))}"
    assert subprocess.run(["sh", "-c", shell], capture_output=True, text=True).stdout == f"{port}\n"
    assert "127.0.0.1:$(grep -qs wsready_app_b" in wc.broadcast_command()


def test_deploy_argv_passes_overrides_as_json_data() -> None:
    argv = wc.deploy_argv(Path("/tmp/inv.py"), wc.CONFIGS["stock"])
    assert argv[1:6] == ["-m", "pyinfra", "-y", "/tmp/inv.py", "deploy.py"]
    assert "nginx_worker_rlimit_nofile=null" in argv
    assert 'nginx_worker_processes="auto"' in argv
    assert "app_workers=1" in argv


# --- real loads on loopback -----------------------------------------------------------------


def _load(extra_args: list[str], clients: int = 300, **options: Any) -> dict[str, Any]:
    with wc.loopback_server("test-server", extra_args) as server:
        return wc.run_load(
            server.url,
            clients,
            2,
            2000,
            wc.http_trigger(server.broadcast_url),
            max_seconds=60,
            connect_timeout_s=10,
            broadcast_timeout_s=10,
            server_rss=wc.local_rss({"app": server.pid}),
            server_health=wc.http_health(server.url),
            log=lambda line: None,
            **options,
        )


@needs_node
def test_every_client_connects_holds_through_pings_and_gets_the_broadcast() -> None:
    # Pings every 200 ms, 2 s to answer (a loaded 2-core machine stalls a client process for
    # more than 500 ms). The hold outlasts interval + timeout, so a client that did not answer
    # would be dropped before the broadcast.
    row = _load(["--ping-interval-ms", "200", "--ping-timeout-ms", "2000"], hold_s=3.0)
    assert row["connected"] == 300, row
    assert row["errors"] == 0, row
    assert row["broadcast_received"] == 300, row
    assert row["processes"] == 2
    # Figures measured, not judged here: their speed is bench/ws_capacity.py's to report.
    assert 0 < row["connect_p50_ms"] <= row["connect_p99_ms"]
    assert row["broadcast_last_ms"] >= 0
    assert row["server_rss_bytes_per_client"] is not None
    assert row["health"]["clients"] == 300


@needs_node
def test_a_server_that_drops_every_tenth_client_is_reported() -> None:
    # The hold lets the last drop (right after its connect) land before the snapshot.
    row = _load(["--drop-every", "10"], clients=200, hold_s=0.5)
    assert row["errors"] == 20, row
    assert row["connected"] == 180
    assert row["broadcast_received"] == 180
    assert row["errors_by_kind"] == {"dropped: io server disconnect": 20}


@needs_node
def test_a_server_that_refuses_handshakes_is_reported() -> None:
    row = _load(["--refuse-every", "10"], clients=200)
    assert row["errors"] == 20, row
    assert row["connected"] == 180
    assert row["errors_by_kind"] == {"connect: refused by test server": 20}


@needs_node
def test_polling_then_upgrade_also_connects() -> None:
    row = _load([], clients=100, transports=("polling", "websocket"))
    assert (row["connected"], row["errors"], row["broadcast_received"]) == (100, 0, 100), row


@needs_node
def test_nobody_listening_is_errors_not_a_hang() -> None:
    port = wc.free_port()
    row = wc.run_load(
        f"http://127.0.0.1:{port}", 20, 2, 1000, None, max_seconds=30, log=lambda line: None
    )
    assert row["connected"] == 0 and row["errors"] == 20
    assert row["broadcast_received"] is None
    assert all(kind.startswith("connect: websocket error") for kind in row["errors_by_kind"])


def test_ports_in_use_counts_sockets_towards_one_destination() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        # Sockets of an earlier user of this port number may still sit in TIME-WAIT: they
        # count (they hold ports towards it), so the three are counted on top of them.
        before = wc.ports_in_use("127.0.0.1", port)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        try:
            used = wc.ports_in_use("127.0.0.1", port)
        finally:
            for client in clients:
                client.close()
    assert before is not None and used is not None, "ss (iproute2) is needed (scripts/setup)"
    assert used - before == 3, (before, used)


# --- the CLI --------------------------------------------------------------------------------


def test_cli_refuses_a_foreign_target(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "--clients",
        "5",
        "--url",
        "http://192.0.2.1",
        "--broadcast-url",
        "http://127.0.0.1:9/b",
    ]
    assert wc.main(argv) == 1
    assert "refused" in capsys.readouterr().err


def test_cli_url_needs_a_way_to_broadcast() -> None:
    with pytest.raises(SystemExit):
        wc.parse_args(["--clients", "5", "--url", "http://127.0.0.1:3000"])


@needs_node
def test_cli_loopback_prints_one_json_row(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--loopback", "test-server", "--clients", "50", "--processes", "2", "--hold-s", "0"]
    assert wc.main([*argv, "--max-seconds", "30"]) == 0
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    row = json.loads(line)
    assert (row["config"], row["connected"], row["errors"]) == ("loopback-test-server", 50, 0)
    assert "ramp 500 clients/s (250/s each)" in err
    assert "warm-up: 50/50 connected" in err
