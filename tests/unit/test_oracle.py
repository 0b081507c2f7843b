"""The oracle harness (tests/oracle/clients.js driven by tests/oracle_run.py) for real: Node,
the pinned official socket.io-client and real Socket.IO servers on loopback (the bundled app,
and tests/oracle/fault_server.js for server settings the app does not expose). The broadcast
goes through broadcast_trigger with this machine's own shell standing in for the host's SSH,
so the curl command, its quoting and the fall-back to the next worker port run for real."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oracle_run import (
    CLIENTS_JS,
    OracleError,
    broadcast_trigger,
    client_ok,
    run_oracle,
    summarise,
)
from tests.pki import PrivateCA
from tests.waiting import wait_for
from wsready.processes import stop_processes

REPO = Path(__file__).resolve().parents[2]
APP_SERVER = REPO / "files" / "app" / "server.js"
FAULT_SERVER = REPO / "tests" / "oracle" / "fault_server.js"
NODE = shutil.which("node") or "node"
N = 4  # clients per mode: enough to see "every client", small enough to stay fast
FAST = {"connect_timeout_s": 4.0, "broadcast_timeout_s": 3.0}
# An event name that needs quoting on its way through the shell, JSON and the client.
EVENT = 'it\'s $HOME "oracle"'


def free_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def on_this_machine(command: str) -> str:
    """Stands in for host_ssh: the command through a real shell, as root on 'the host'."""
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextlib.contextmanager
def node_server(argv: list[str], env: dict[str, str], listening: str) -> Iterator[int]:
    """A Node server on 127.0.0.1; yields the port read from its `listening` regex (group 1);
    ended (SIGTERM, then SIGKILL) after the block."""
    process = subprocess.Popen(
        [NODE, *argv],
        env={"PATH": os.environ["PATH"], **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    try:
        match = wait_for(
            lambda: re.search(listening, "".join(output)),
            15,
            f"{argv[0]} listening",
            until=lambda m: m is not None or process.poll() is not None,
        )
        assert match, f"{argv[0]} exited {process.returncode}: {''.join(output)}"
        yield int(match.group(1))
    finally:
        stop_processes(process)


def app(**env: str) -> contextlib.AbstractContextManager[int]:
    """The bundled app, one worker, ephemeral port, no Redis."""
    return node_server(
        [str(APP_SERVER)],
        {"APP_PORT": "0", **env},
        r"Socket\.IO listening on http://127\.0\.0\.1:(\d+) path",
    )


def fault_server(*args: str) -> contextlib.AbstractContextManager[int]:
    return node_server([str(FAULT_SERVER), *args], {}, r"listening (\d+)")


@pytest.fixture(scope="module")
def app_port() -> Iterator[int]:
    with app() as port:
        yield port


def by_mode(outcome, mode: str) -> list[dict]:
    return [record for record in outcome.clients if record["mode"] == mode]


def test_healthy_app_every_official_client_connects_upgrades_and_receives(app_port: int) -> None:
    dead = free_port()
    trigger = broadcast_trigger(on_this_machine, [dead, app_port], EVENT)
    outcome = run_oracle(
        f"http://127.0.0.1:{app_port}", trigger=trigger, clients=N, event=EVENT, **FAST
    )
    assert outcome.ok, outcome.describe()
    assert outcome.describe() == f"default {N}/{N} ok · websocket {N}/{N} ok"
    assert outcome.trigger_result == app_port  # the dead first port was passed over
    assert outcome.ready["connected"] == 2 * N and outcome.ready["upgraded"] == N
    assert len(by_mode(outcome, "default")) == len(by_mode(outcome, "websocket")) == N
    for record in outcome.clients:
        assert record["connected"] and record["received"], record
        assert record["transport"] == "websocket", record
        assert record["errors"] == record["disconnects"] == record["upgrade_errors"] == []
        assert record["ok"] is client_ok(record) is True  # clients.js and Python: one rule
    # The handshake over polling offers the upgrade; one over WebSocket has none to offer.
    assert all(r["upgraded"] for r in by_mode(outcome, "default"))
    assert all(r["upgrades_offered"] == ["websocket"] for r in by_mode(outcome, "default"))
    assert all(r["upgrades_offered"] == [] for r in by_mode(outcome, "websocket"))
    assert not any(record["upgraded"] for record in by_mode(outcome, "websocket"))
    assert outcome.elapsed_s < 10, outcome.elapsed_s


def test_broadcast_on_another_event_or_nonce_is_not_received(app_port: int) -> None:
    """Receipt means this run's nonce on this event: another event or nonce does not count."""
    other_event = broadcast_trigger(on_this_machine, [app_port], "not-the-oracle-event")
    same_event = broadcast_trigger(on_this_machine, [app_port])
    for trigger in (other_event, lambda nonce: same_event(f"old-{nonce}")):
        outcome = run_oracle(
            f"http://127.0.0.1:{app_port}",
            trigger=trigger,
            clients=2,
            connect_timeout_s=4,
            broadcast_timeout_s=0.5,
        )
        assert not outcome.ok
        assert outcome.describe() == (
            "default 0/2: no broadcast ×2 · websocket 0/2: no broadcast ×2"
        )
        assert not any(record["received"] for record in outcome.clients)


def test_server_that_refuses_the_websocket_transport() -> None:
    """transports: ['polling'] on the server: default clients connect over polling and are
    offered no upgrade; WebSocket-only clients get "websocket error" (HTTP 400)."""
    with fault_server("--transports", "polling") as port:
        trigger = broadcast_trigger(on_this_machine, [port])
        outcome = run_oracle(f"http://127.0.0.1:{port}", trigger=trigger, clients=N, **FAST)
    assert not outcome.ok
    assert outcome.describe() == (
        f"default 0/{N}: not upgraded ×{N} · websocket 0/{N}: websocket error ×{N}, "
        f"never connected ×{N}"
    )
    for record in by_mode(outcome, "default"):
        assert record["connected"] and record["received"], record
        assert record["transport"] == "polling" and not record["upgraded"], record
        assert record["upgrades_offered"] == [], record
    for record in by_mode(outcome, "websocket"):
        assert not record["connected"], record
        assert set(record["errors"]) == {"websocket error"}, record
        assert "Unexpected server response: 400" in record["error_details"], record
    assert all(record["ok"] is client_ok(record) is False for record in outcome.clients)


def test_server_without_upgrades_fails_default_clients_only() -> None:
    with fault_server("--no-upgrades") as port:
        trigger = broadcast_trigger(on_this_machine, [port])
        outcome = run_oracle(f"http://127.0.0.1:{port}", trigger=trigger, clients=N, **FAST)
    assert not outcome.ok
    assert outcome.describe() == f"default 0/{N}: not upgraded ×{N} · websocket {N}/{N} ok"
    assert outcome.modes["websocket"].all_ok and not outcome.modes["default"].all_ok


def test_websocket_only_server_fails_default_clients_which_do_not_fall_back() -> None:
    with fault_server("--transports", "websocket") as port:
        trigger = broadcast_trigger(on_this_machine, [port])
        outcome = run_oracle(f"http://127.0.0.1:{port}", trigger=trigger, clients=N, **FAST)
    assert outcome.describe() == (
        f"default 0/{N}: xhr poll error ×{N}, never connected ×{N} · websocket {N}/{N} ok"
    )
    # Engine.IO's own words reach the record: code 0, "Transport unknown".
    answer = 'HTTP 400 {"code":0,"message":"Transport unknown"}'
    assert all(answer in r["error_details"] for r in by_mode(outcome, "default"))


def test_nothing_listening_every_client_fails_and_the_run_ends_in_time() -> None:
    calls: list[str] = []
    started = time.monotonic()
    outcome = run_oracle(f"http://127.0.0.1:{free_port()}", trigger=calls.append, clients=N, **FAST)
    took = time.monotonic() - started
    assert not outcome.ok
    assert outcome.modes["default"].errors == {"xhr poll error": N}
    assert outcome.modes["websocket"].errors == {"websocket error": N}
    assert outcome.modes["default"].connected == outcome.modes["websocket"].connected == 0
    assert calls == []  # no client to receive: no broadcast asked for
    assert all("ECONNREFUSED" in r["error_details"][0] for r in outcome.clients)
    assert outcome.ready["connected"] == 0 and outcome.ready["failed"] == 2 * N
    assert took < FAST["connect_timeout_s"] + 5, took


def test_wrong_path_is_refused_with_the_servers_answer(app_port: int) -> None:
    trigger = broadcast_trigger(on_this_machine, [app_port])
    outcome = run_oracle(
        f"http://127.0.0.1:{app_port}", path="/socket.io", trigger=trigger, clients=N, **FAST
    )
    assert not outcome.ok
    assert outcome.modes["default"].errors == {"xhr poll error": N}
    assert outcome.modes["websocket"].errors == {"websocket error": N}
    for record in by_mode(outcome, "default"):
        assert record["error_details"][0].startswith("HTTP 404 "), record
    assert "xhr poll error ×4" in outcome.describe()


def test_token_goes_as_auth_and_a_refusal_is_the_servers_own_message() -> None:
    token = secrets.token_urlsafe(24)
    digest = hashlib.sha256(token.encode()).hexdigest()
    with app(APP_AUTH="static", STATIC_TOKEN_SHA256=digest) as port:
        url = f"http://127.0.0.1:{port}"
        trigger = broadcast_trigger(on_this_machine, [port])
        accepted = run_oracle(url, trigger=trigger, clients=2, token=token, **FAST)
        refused = run_oracle(url, trigger=trigger, clients=2, token="wrong", **FAST)
        # The raw protocol, to see that the token is in no output.
        run = subprocess.run(
            [NODE, str(CLIENTS_JS), "--url", url, "--clients", "2", "--mode", "websocket"],
            input="skip\n",
            env={**os.environ, "ORACLE_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert accepted.ok, accepted.describe()
    assert not refused.ok
    assert (
        refused.modes["default"].errors == refused.modes["websocket"].errors == {"unauthorized": 2}
    )
    assert run.returncode == 0, run.stderr
    ready, result = (json.loads(line) for line in run.stdout.splitlines())
    assert ready["ready"] and ready["connected"] == 2
    assert result["result"]["summary"]["websocket"]["connected"] == 2
    assert token not in run.stdout + run.stderr
    assert token not in repr(accepted) + repr(refused)


def test_a_failing_trigger_is_kept_in_the_outcome(app_port: int) -> None:
    def broken(nonce: str) -> None:
        raise RuntimeError("ssh: host unreachable")

    outcome = run_oracle(f"http://127.0.0.1:{app_port}", trigger=broken, clients=2, **FAST)
    assert not outcome.ok
    assert outcome.trigger_error == "RuntimeError: ssh: host unreachable"
    assert outcome.describe().endswith("· broadcast not sent: RuntimeError: ssh: host unreachable")


def test_broadcast_trigger_names_every_port_when_none_accepts() -> None:
    first, second = free_port(), free_port()
    trigger = broadcast_trigger(on_this_machine, [first, second])
    with pytest.raises(OracleError) as failure:
        trigger("abc")
    assert str(failure.value) == (
        f"no worker accepted POST /api/broadcast ({first}: 000, {second}: 000)"
    )


def test_a_trigger_slower_than_its_bound_ends_the_harness(app_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(OracleError, match='no "sent <nonce>" / "skip" line on stdin'):
        run_oracle(
            f"http://127.0.0.1:{app_port}",
            trigger=lambda nonce: time.sleep(2),
            clients=1,
            trigger_timeout_s=0.5,
            **FAST,
        )
    assert time.monotonic() - started < 10


def test_clients_js_alone_gives_up_when_no_line_comes(app_port: int) -> None:
    """Nobody writes on stdin (the pipe stays open): the harness still ends, exit 3."""
    process = subprocess.Popen(
        [
            NODE,
            str(CLIENTS_JS),
            "--url",
            f"http://127.0.0.1:{app_port}",
            "--clients",
            "1",
            "--trigger-timeout-ms",
            "500",
        ],  # fmt: skip
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 3, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["ready"] is True and lines[0]["connected"] == 2
    assert lines[1] == {"error": 'no "sent <nonce>" / "skip" line on stdin within 500 ms'}


BAD_ARGV = [
    ([], "--url is required"),
    (["--url", "ftp://127.0.0.1"], '--url "ftp://127.0.0.1": the scheme must be http or https'),
    (["--url", "http://127.0.0.1/ws"], "the Socket.IO path goes in --path"),
    (["--url", "nonsense"], '--url "nonsense": not a URL'),
    (["--clients", "0"], '--clients "0": must be an integer from 1 to 2000'),
    (["--clients", "1e3"], '--clients "1e3": must be an integer'),
    (["--clients", "3", "--clients", "4"], "--clients given twice"),
    (["--mode", "polling"], '--mode "polling": must be default, websocket or both'),
    (["--event", "connect"], '--event "connect": must be 1 to 64 characters'),
    (["--path", "ws"], '--path "ws": must start with "/"'),
    (["--connect-timeout-ms", "-1"], '--connect-timeout-ms "-1": must be an integer'),
    (["--broadcast-timeout-ms", "soon"], '--broadcast-timeout-ms "soon": must be an integer'),
    (["--insecure"], "--ca / --insecure need an https --url"),
    (["--origin", "https://a.example/x"], '--origin "https://a.example/x": must be an origin'),
    (["--clients"], "--clients needs a value"),
    (["--token", "x"], 'unknown argument "--token"'),
    (["--clients=3"], 'unknown argument "--clients=3"'),
    (["extra"], 'unknown argument "extra"'),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGV, ids=[" ".join(a) for a, _ in BAD_ARGV])
def test_bad_argv_exits_2_naming_the_option(args: list[str], message: str) -> None:
    base = [] if not args or args[0] == "--url" else ["--url", "http://127.0.0.1:9"]
    if args == ["--insecure"]:
        base = ["--url", "http://127.0.0.1:9"]
    run = subprocess.run(
        [NODE, str(CLIENTS_JS), *base, *args], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert message in run.stderr, run.stderr
    assert "usage: clients.js --url" in run.stderr
    assert message in json.loads(run.stdout)["error"]


def test_ca_and_insecure_exclude_each_other_and_a_missing_ca_is_named(tmp_path: Path) -> None:
    for args, message in (
        (["--ca", "/dev/null", "--insecure"], "--ca and --insecure exclude each other"),
        (["--ca", str(tmp_path / "none.pem")], f'--ca "{tmp_path / "none.pem"}": cannot read'),
    ):
        run = subprocess.run(
            [NODE, str(CLIENTS_JS), "--url", "https://127.0.0.1:9", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 2 and message in run.stderr, run.stderr


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "http://127.0.0.1:1/ws"}, "url='http://127.0.0.1:1/ws'"),
        ({"clients": 0}, "clients=0"),
        ({"mode": "polling"}, "mode='polling'"),
        ({"event": "disconnect"}, "event='disconnect'"),
        ({"path": "ws"}, "path='ws'"),
        ({"ca": "/x.pem", "insecure": True}, "exclude each other"),
    ],
)
def test_run_oracle_refuses_bad_input_before_starting_node(kwargs: dict, message: str) -> None:
    calls: list[str] = []
    arguments = {"url": "http://127.0.0.1:1", **kwargs}
    url = arguments.pop("url")
    with pytest.raises(OracleError, match=re.escape(message)):
        run_oracle(url, trigger=calls.append, **arguments)
    assert calls == []


@pytest.mark.parametrize("ports", [[], [0], [70000], ["3000"], [True]])
def test_broadcast_trigger_refuses_bad_ports(ports: list) -> None:
    with pytest.raises(OracleError, match="workers_ports="):
        broadcast_trigger(on_this_machine, ports)


def test_summary_counts_each_client_once_per_kind() -> None:
    """A retrying client repeats its error: describe() counts clients, not attempts."""
    retried = {
        "mode": "default",
        "connected": True,
        "upgraded": True,
        "transport": "websocket",
        "errors": ["xhr poll error", "xhr poll error"],
        "upgrade_errors": [],
        "disconnects": ["transport close"],
        "received": True,
    }
    clean = {**retried, "errors": [], "disconnects": []}
    summary = summarise("default", [retried, clean])
    assert not client_ok(retried) and client_ok(clean)
    assert summary.describe() == ("default 1/2: xhr poll error ×1, disconnect transport close ×1")


def test_tls_with_the_ca_without_it_and_insecure(tmp_path: Path) -> None:
    """Over HTTPS the clients trust --ca; without it the service's private CA is refused
    (every client fails); --insecure connects without checking."""
    ca = PrivateCA.create(tmp_path / "ca")
    pair = ca.issue(["127.0.0.1"], "server")
    with fault_server("--cert", str(pair.cert), "--key", str(pair.key)) as port:
        url = f"https://127.0.0.1:{port}"
        posted: list[str] = []
        calls: list[str] = []

        def https_trigger(nonce: str) -> int:
            body = json.dumps({"event": "oracle", "data": {"nonce": nonce}})
            command = (
                f"curl -sS -o /dev/null -w '%{{http_code}}' --cacert {shlex.quote(str(ca.cert))} "
                f"-H 'Content-Type: application/json' --data-binary {shlex.quote(body)} "
                f"{url}/api/broadcast"
            )
            posted.append(on_this_machine(command))
            return port

        trusted = run_oracle(url, trigger=https_trigger, clients=2, ca=str(ca.cert), **FAST)
        untrusted = run_oracle(url, trigger=calls.append, clients=2, **FAST)
        insecure = run_oracle(url, trigger=https_trigger, clients=2, insecure=True, **FAST)
    assert trusted.ok, trusted.describe()
    assert insecure.ok, insecure.describe()
    assert posted == ["200", "200"] and calls == []  # no client connected: nothing to send
    assert untrusted.modes["default"].errors == {"xhr poll error": 2}
    assert untrusted.modes["websocket"].errors == {"websocket error": 2}
    details = {d for r in untrusted.clients for d in r["error_details"]}
    assert details == {"unable to verify the first certificate"}, details


def test_origin_is_sent_on_both_transports() -> None:
    origin = "https://app.example.com"
    with fault_server("--require-origin", origin) as port:
        url = f"http://127.0.0.1:{port}"
        trigger = broadcast_trigger(on_this_machine, [port])
        with_origin = run_oracle(url, trigger=trigger, clients=2, origin=origin, **FAST)
        without = run_oracle(url, trigger=trigger, clients=2, **FAST)
    assert with_origin.ok, with_origin.describe()
    assert without.modes["default"].errors == {"xhr poll error": 2}
    assert without.modes["websocket"].errors == {"websocket error": 2}
    forbidden = 'HTTP 403 {"code":4,"message":"Forbidden"}'
    assert all(forbidden in r["error_details"] for r in by_mode(without, "default"))


def test_by_hand_command_line(app_port: int) -> None:
    """`python -m tests.oracle_run URL --local`: the verdict line and its exit status."""

    def oracle(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tests.oracle_run", f"http://127.0.0.1:{app_port}", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    ports = f"{free_port()},{app_port}"
    healthy = oracle("--local", "--ports", ports, "--clients", "3")
    wrong_path = oracle("--local", "--ports", ports, "--clients", "3", "--path", "/nope")
    no_host = oracle("--clients", "3")
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout.startswith("OK: default 3/3 ok · websocket 3/3 ok ("), healthy.stdout
    assert wrong_path.returncode == 1, wrong_path.stderr
    assert wrong_path.stdout.startswith("NOT OK: default 0/3: xhr poll error ×3"), wrong_path.stdout
    assert no_host.returncode == 2 and "one of the arguments --host --local" in no_host.stderr


def test_clients_js_refuses_a_line_that_is_not_the_protocol(app_port: int) -> None:
    run = subprocess.run(
        [NODE, str(CLIENTS_JS), "--url", f"http://127.0.0.1:{app_port}", "--clients", "1"],
        input="sent not a nonce\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 3, run.stderr
    error = json.loads(run.stdout.splitlines()[-1])["error"]
    assert error == (
        'stdin: expected "sent <nonce>" ([A-Za-z0-9_-]{1,64}) or "skip", got "sent not a nonce"'
    )
