"""`wsready check` end to end with real probes: a real Socket.IO app on loopback that is
stopped and started again, a real HTTP receiver for the alerts, the real Prometheus file;
and (marked e2e) the real sandbox fleet read from its inventory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.waiting import accepting, wait_for
from wsready.processes import stop_processes

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "files" / "app" / "server.js"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LoopbackApp:
    """The project's own Socket.IO app (files/app) as a process on 127.0.0.1:port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "APP_PORT": str(self.port), "APP_BIND": "127.0.0.1"}
        self.process = subprocess.Popen(
            ["node", str(APP)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(lambda: accepting("127.0.0.1", self.port), 15, "the app listening", interval_s=0.1)

    def stop(self) -> None:
        if self.process is not None:
            stop_processes(self.process)
            self.process = None


class Receiver:
    """An HTTP server on 127.0.0.1 that records every JSON body POSTed to it."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app() -> Iterator[LoopbackApp]:
    loopback = LoopbackApp(free_port())
    loopback.start()
    yield loopback
    loopback.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def wsready_check(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wsready.cli", "check", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def metrics(path: Path) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(path.read_text())
        for sample in family.samples
    }


def test_alerts_once_on_failure_none_while_down_once_on_recovery(
    app: LoopbackApp, receiver: Receiver, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{app.port}"
    state, prom = tmp_path / "state.json", tmp_path / "wsready.prom"
    args = ["--retries", "0", "--timeout", "3", "--json", "--state", str(state)]
    args += ["--alert-webhook", receiver.url, "--prometheus", str(prom), url]
    label = (("target", url),)

    first = wsready_check(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert receiver.received == []  # first sight and OK: nothing to say
    assert metrics(prom)[("wsready_target_status", label)] == 0

    app.stop()
    exits = [wsready_check(*args).returncode for _ in range(3)]
    assert exits == [2, 2, 2]
    assert len(receiver.received) == 1  # one message for OK -> CRITICAL, none while it stays
    down = receiver.received[0]
    assert (down["target"], down["old_status"], down["new_status"]) == (url, "OK", "CRITICAL")
    assert down["diagnosis"]["layer"] == "tcp"
    assert "refused" in down["diagnosis"]["title"].lower()
    assert any("connection refused" in line for line in down["diagnosis"]["evidence"])
    assert f"port {app.port}" in down["diagnosis"]["fix"]
    assert down["text"].startswith(f"wsready: {url} OK -> CRITICAL: [tcp]")
    found = metrics(prom)
    assert found[("wsready_target_status", label)] == 2
    assert found[("wsready_probe_success", (("probe", "tcp"), ("target", url)))] == 0

    app.start()
    back = wsready_check(*args)
    assert back.returncode == 0, back.stdout + back.stderr
    assert [(m["old_status"], m["new_status"]) for m in receiver.received] == [
        ("OK", "CRITICAL"),
        ("CRITICAL", "OK"),
    ]
    assert receiver.received[1]["diagnosis"]["layer"] == "none"
    assert json.loads(state.read_text())["targets"][url]["status"] == "OK"


def test_undeliverable_webhook_is_reported_and_does_not_change_the_exit(
    tmp_path: Path,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: the target is down
    hook = f"http://127.0.0.1:{free_port()}/hook"  # and so is the receiver
    state = tmp_path / "state.json"
    result = wsready_check(
        "--retries", "0", "--state", str(state), "--alert-webhook-env", "WSREADY_E2E_HOOK", closed,
        env={"WSREADY_E2E_HOOK": hook},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        f"wsready check: alert for {closed} (NEW -> CRITICAL) not delivered: "
        "cannot connect to the webhook; it will be sent again next run\n"
    )
    # The run's history is kept, but not the undelivered transition: it is sent again.
    saved = json.loads(state.read_text())["targets"]
    assert [run["status"] for run in saved[closed]["history"]] == ["CRITICAL"], saved
    assert "status" not in saved[closed], saved


def test_prometheus_file_from_a_healthy_target_parses_with_every_probe(
    app: LoopbackApp, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{app.port}"
    prom = tmp_path / "wsready.prom"
    before = time.time()
    result = wsready_check("--prometheus", str(prom), url)
    assert result.returncode == 0, result.stdout + result.stderr
    found = metrics(prom)
    probes = {dict(labels)["probe"] for name, labels in found if name == "wsready_probe_success"}
    assert {"dns", "tcp", "health", "upgrade", "open", "connect", "polling"} <= probes
    assert all(value == 1 for (name, _), value in found.items() if name == "wsready_probe_success")
    durations = [v for (name, _), v in found.items() if name == "wsready_probe_duration_seconds"]
    assert len(durations) == len(probes) and all(0 <= value < 3 for value in durations)
    assert before - 1 <= found[("wsready_check_timestamp_seconds", ())] <= time.time()
    assert "OK" in result.stdout and url in result.stdout


def test_one_failing_target_makes_the_run_critical_and_the_table_names_the_layer(
    app: LoopbackApp,
) -> None:
    healthy = f"http://127.0.0.1:{app.port}"
    wrong_path = f"http://127.0.0.1:{app.port}/socket"  # Socket.IO is at /ws, not /socket
    result = wsready_check("--retries", "1", "--backoff", "0.1", healthy, wrong_path)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[1].split()[:2] == [healthy, "OK"]
    wrong = lines[2].split()
    assert (wrong[0], wrong[1], wrong[3]) == (wrong_path, "CRITICAL", "2")  # retried once
    assert "layer: websocket path - Socket.IO is not attached at /socket" in result.stdout
    assert lines[-1].startswith("CRITICAL: 2 targets (1 CRITICAL, 1 OK)")


@pytest.mark.e2e
def test_check_the_sandbox_fleet_from_its_inventory(fleet) -> None:  # noqa: ANN001
    """The deployed sandbox fleet, read from the same inventory the deploy used."""
    result = wsready_check("--inventory", str(fleet.inventory), "--json", "--timeout", "10")
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["status"] == "OK"
    assert len(report["targets"]) == len(fleet.hosts)
    for target in report["targets"]:
        assert target["url"].startswith("http://10.200.")
        assert {p["probe"]: p["ok"] for p in target["probes"]}["upgrade"] is True


@pytest.mark.e2e
def test_check_names_the_broken_host_and_layer_in_the_sandbox_fleet(fleet) -> None:  # noqa: ANN001
    """Stop the app on one host: that host is CRITICAL at layer `app` (502), the other OK."""
    from tests.e2e.conftest import host_ssh

    broken, healthy = fleet.hosts[1], fleet.hosts[0]
    host_ssh(broken, "systemctl stop wsready-app.target")
    # `stop` returns with the workers still draining their clients (paced, SIGTERM): the
    # host is "down" once no worker runs any more.
    wait_for(
        lambda: host_ssh(
            broken,
            "systemctl list-units --plain --no-legend "
            "--state=active,activating,deactivating,reloading 'wsready-app@*'",
        ).strip(),
        60,
        f"every worker on {broken.name} stopped",
        until=lambda active: active == "",
        interval_s=0.5,
    )
    try:
        result = wsready_check("--inventory", str(fleet.inventory), "--json", "--retries", "0")
        report = json.loads(result.stdout)
        assert result.returncode == 2, result.stdout + result.stderr
        by_name = {target["target"]: target for target in report["targets"]}
        assert by_name[healthy.name]["status"] == "OK"
        assert by_name[broken.name]["status"] == "CRITICAL"
        assert by_name[broken.name]["diagnosis"]["layer"] == "app"
        assert "502" in by_name[broken.name]["diagnosis"]["title"]
    finally:
        host_ssh(broken, "systemctl start wsready-app.target")
    wait_for(
        lambda: wsready_check("--inventory", str(fleet.inventory), "--json"),
        30,
        "the fleet OK again after restarting the app",
        until=lambda result: result.returncode == 0,
        interval_s=1,
    )


def test_unwritable_prometheus_file_is_unknown_unless_a_target_is_critical(
    app: LoopbackApp,
) -> None:
    unwritable = "/proc/wsready.prom"  # the directory exists, but nothing can be created in it
    healthy = wsready_check("--prometheus", unwritable, f"http://127.0.0.1:{app.port}")
    assert healthy.returncode == 3
    assert f"wsready check: error: --prometheus {unwritable}:" in healthy.stderr
    closed = f"http://127.0.0.1:{free_port()}"
    down = wsready_check("--retries", "0", "--prometheus", unwritable, closed)
    assert down.returncode == 2  # the CRITICAL target is still what the exit status says
    assert f"wsready check: error: --prometheus {unwritable}:" in down.stderr
