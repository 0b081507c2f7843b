"""The probes and `wsready diagnose` against real servers on loopback.

The bundled Node app (files/app, real socket.io) runs on 127.0.0.1 random ports; small
Python HTTP servers stand in for a broken proxy in front of it (no upgrade headers, 502,
a self-signed TLS listener, a server that echoes the token back), and a python-socketio server
plays an app whose REST and socket token checks disagree.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import http.server
import json
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import socketio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.unit.loopback import running, socketio_server
from wsready.cli import main
from wsready.exitstatus import ExitStatus
from wsready.probes import Target, run_probes
from wsready.probes.diagnosis import diagnose
from wsready.processes import stop_processes

APP_DIR = Path(__file__).resolve().parents[2] / "files" / "app"
TOKEN = "loopback-token-7f3a9c"
GOOD_ORIGIN = "http://app.example"


class NodeApp:
    """`node files/app/server.js` on a random loopback port with the given environment."""

    def __init__(self, **env: str) -> None:
        node = shutil.which("node")
        assert node, "node is needed for the loopback probe tests"
        assert (APP_DIR / "node_modules" / "socket.io").is_dir(), f"run npm ci in {APP_DIR}"
        full_env = {**os.environ, "APP_PORT": "0", "APP_BIND": "127.0.0.1", **env}
        self.process = subprocess.Popen(
            [node, "server.js"],
            cwd=APP_DIR,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line = self.process.stdout.readline()
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        assert match, f"app did not start: {line!r}"
        self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def stop(self) -> None:
        stop_processes(self.process)


@pytest.fixture(scope="module")
def app() -> Iterator[NodeApp]:
    """Static-token auth, one allowed CORS origin, a fast heartbeat."""
    running = NodeApp(
        APP_AUTH="static",
        STATIC_TOKEN_SHA256=hashlib.sha256(TOKEN.encode()).hexdigest(),
        CORS_ORIGINS=GOOD_ORIGIN,
        PING_INTERVAL_MS="400",
        PING_TIMEOUT_MS="400",
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def app_on_other_path() -> Iterator[NodeApp]:
    running = NodeApp(WS_PATH="/socket")
    yield running
    running.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers from the server's `answer(handler) -> (status, headers, body)`."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        status, headers, body = self.server.answer(self)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def serve(answer, context: ssl.SSLContext | None = None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.answer = answer
    scheme = "http"
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    with running(server):
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"


HEALTH = (200, {"Content-Type": "application/json"}, b'{"status":"ok","websocket":"enabled"}')
OPEN = b'0{"sid":"s1","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}'


def proxy_without_upgrade(handler) -> tuple[int, dict, bytes]:
    """What Socket.IO behind nginx answers when nginx drops Upgrade/Connection."""
    if handler.path.startswith("/api/health"):
        return HEALTH
    if "transport=websocket" in handler.path:
        return 400, {"Content-Type": "application/json"}, b'{"code":3,"message":"Bad request"}'
    if "transport=polling" in handler.path:
        return 200, {"Content-Type": "text/plain"}, OPEN
    return 404, {}, b"not found"


def gateway_error(handler) -> tuple[int, dict, bytes]:
    return 502, {"Content-Type": "text/html"}, b"<html><h1>502 Bad Gateway</h1></html>"


def token_echo(handler) -> tuple[int, dict, bytes]:
    """A careless server that puts the Authorization header in every error body."""
    if handler.path.startswith("/api/health"):
        return HEALTH
    echoed = f"denied: {handler.headers.get('Authorization')}".encode()
    return 401, {"Content-Type": "text/plain"}, echoed


@pytest.fixture
def no_upgrade_proxy() -> Iterator[str]:
    yield from serve(proxy_without_upgrade)


@pytest.fixture
def bad_gateway() -> Iterator[str]:
    yield from serve(gateway_error)


def _by_name(results) -> dict:
    return {result.probe: result for result in results}


def test_healthy_app_passes_every_layer(app: NodeApp) -> None:
    target = Target(app.url, token=TOKEN, origin=GOOD_ORIGIN)
    results = run_probes(target, timeout_s=3, idle=True)
    states = {result.probe: result.state for result in results}
    assert states == {
        "dns": "ok",
        "tcp": "ok",
        "server": "ok",
        "health": "ok",
        "upgrade": "ok",
        "open": "ok",
        "connect": "ok",
        "ping": "ok",
        "idle": "ok",
        "polling": "ok",
        "session": "ok",
        "session-upgrade": "ok",
        "websocket-only": "ok",
        "workers": "ok",
        "broadcast": "ok",
        "cors": "ok",
        "rest-auth": "ok",
        "auth-match": "ok",
    }, [str(result) for result in results]
    seen = _by_name(results)
    # The official client's sessions, each step answered by the bundled app's worker 0.
    assert seen["workers"].detail["worker_table"][0]["worker"] == "0"
    steps = seen["session-upgrade"].detail["session_steps"][0]["steps"]
    assert [step["step"] for step in steps] == [
        "handshake", "connect", "connect answer", "upgrade", "3probe", "message"
    ]  # fmt: skip
    assert {step.get("worker") for step in steps if "status" in step} == {"0"}
    assert seen["broadcast"].detail["delivered"] is True
    assert seen["upgrade"].detail["status"] == 101
    assert seen["open"].detail["ping_interval_ms"] == 400
    # ok: the ping came within the server's pingInterval (+ slack), which the probe judged by
    assert seen["ping"].ok and seen["ping"].detail["ping_interval_ms"] == 400
    assert seen["ping"].detail["ping_after_s"] > 0
    assert seen["idle"].detail["pings"] >= 2
    assert diagnose(target, results).status == ExitStatus.OK


def test_bad_token_is_an_auth_error_not_a_transport_error(app: NodeApp) -> None:
    target = Target(app.url, token="not-the-token")
    results = run_probes(target, timeout_s=3)
    seen = _by_name(results)
    assert seen["upgrade"].ok and seen["open"].ok
    assert str(seen["connect"]) == (
        'connect CONNECT answer (44 {"message":"unauthorized"}) == 40 (accepted)'
    )
    assert seen["rest-auth"].detail["status"] == 401
    assert seen["auth-match"].ok  # both refuse: consistent
    assert seen["ping"].skipped
    diagnosis = diagnose(target, results)
    assert (diagnosis.code, diagnosis.layer) == ("auth-refused", "auth")
    assert "not a transport error" in diagnosis.title
    assert diagnosis.status == ExitStatus.CRITICAL


def test_missing_token_is_named(app: NodeApp) -> None:
    target = Target(app.url)
    diagnosis = diagnose(target, run_probes(target, timeout_s=3))
    assert diagnosis.code == "auth-refused"
    assert "no token was sent" in diagnosis.title


def test_origin_not_allowed_by_cors(app: NodeApp) -> None:
    target = Target(app.url, token=TOKEN, origin="http://evil.example")
    results = run_probes(target, timeout_s=3)
    seen = _by_name(results)
    assert seen["polling"].ok
    assert not seen["cors"].ok
    assert seen["cors"].detail["allow_origin"] is None
    diagnosis = diagnose(target, results)
    assert (diagnosis.code, diagnosis.layer) == ("cors-origin", "cors")
    assert "http://evil.example" in diagnosis.fix


def test_socketio_on_another_path(app_on_other_path: NodeApp) -> None:
    target = Target(app_on_other_path.url)
    results = run_probes(target, timeout_s=3)
    seen = _by_name(results)
    assert seen["health"].ok
    assert not seen["upgrade"].ok
    assert seen["polling"].detail["status"] == 404
    assert seen["open"].skipped and seen["connect"].skipped
    diagnosis = diagnose(target, results)
    assert (diagnosis.code, diagnosis.layer) == ("socketio-path", "websocket path")
    assert "TransportError: websocket error while REST works" in diagnosis.evidence[0]
    # and where it really is, every layer works
    moved = Target(app_on_other_path.url, socketio_path="/socket")
    assert diagnose(moved, run_probes(moved, timeout_s=3)).status == ExitStatus.OK


def test_proxy_without_upgrade_headers(no_upgrade_proxy: str) -> None:
    target = Target(no_upgrade_proxy)
    results = run_probes(target, timeout_s=3)
    seen = _by_name(results)
    assert str(seen["upgrade"]) == "upgrade status (400) == 101"
    assert seen["upgrade"].detail["engineio_error"] == {"code": 3, "message": "Bad request"}
    assert seen["polling"].ok
    diagnosis = diagnose(target, results)
    assert (diagnosis.code, diagnosis.layer) == ("upgrade-headers", "proxy upgrade")
    assert 'Engine.IO error 3 "Bad request"' in diagnosis.title
    assert "proxy_set_header Upgrade $http_upgrade" in diagnosis.fix


def test_app_down_behind_the_proxy(bad_gateway: str) -> None:
    target = Target(bad_gateway)
    results = run_probes(target, timeout_s=3)
    diagnosis = diagnose(target, results)
    assert (diagnosis.code, diagnosis.layer) == ("app-down", "app")
    assert "502 on /api/health and 502 on /ws" in diagnosis.title


def test_connection_refused() -> None:
    target = Target(f"http://127.0.0.1:{free_port()}")
    results = run_probes(target, timeout_s=2)
    seen = _by_name(results)
    assert seen["tcp"].detail["error"] == "refused"
    assert all(result.skipped for result in results[2:])
    assert diagnose(target, results).code == "connection-refused"


def test_token_never_leaves_the_probes() -> None:
    """Even when the server echoes it back, the token is not in any result, the diagnosis or
    the CLI's output."""
    server = serve(token_echo)
    url = next(server)
    try:
        target = Target(url, token=TOKEN)
        results = run_probes(target, timeout_s=3)
        rest = _by_name(results)["rest-auth"]
        assert "[token redacted]" in rest.detail["body"]  # the echo happened, and was caught
        everything = json.dumps([r.to_dict() for r in results]) + repr(results)
        everything += json.dumps(diagnose(target, results).to_dict(), default=str)
        assert TOKEN not in everything
    finally:
        next(server, None)


def test_cli_hides_the_token_and_reports_json(app: NodeApp, capsys, monkeypatch) -> None:
    monkeypatch.setenv("WSR_TEST_TOKEN", TOKEN)
    code = main(["diagnose", app.url + "/ws", "--token-env", "WSR_TEST_TOKEN", "--json"])
    out = capsys.readouterr()
    assert code == ExitStatus.OK
    document = json.loads(out.out)
    assert document["diagnosis"]["status"] == "OK"
    assert document["target"]["token_sent"] is True
    assert [r["probe"] for r in document["results"]][:5] == [
        "dns",
        "tcp",
        "server",
        "health",
        "polling",
    ]
    assert TOKEN not in out.out + out.err


def test_cli_table_names_the_broken_layer(app_on_other_path: NodeApp, capsys) -> None:
    code = main(["diagnose", app_on_other_path.url, "--timeout", "3"])
    out = capsys.readouterr().out
    assert code == ExitStatus.CRITICAL
    assert "Broken layer: websocket path — Socket.IO is not attached at /ws" in out
    assert re.search(r"websocket\s+upgrade\s+FAIL", out)
    assert re.search(r"engine\.io\s+open\s+skipped\s+upgrade failed\n", out)


def _certificate(days: int) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    directory = Path(os.environ.get("TMPDIR", "/tmp"))
    cert_file = directory / f"wsready-probe-test-{os.getpid()}-{days}.pem"
    key_file = directory / f"wsready-probe-test-{os.getpid()}-{days}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    cert_file.unlink()
    key_file.unlink()
    return context


PROBE_SCRIPT = """
import json, sys
from wsready.probes.diagnosis import diagnose
from wsready.probes import Target, run_probes
target = Target(sys.argv[1], tls_verify=sys.argv[2] == "verify")
results = run_probes(target, timeout_s=3)
print(json.dumps({
    "results": {result.probe: result.to_dict() for result in results},
    "layer": diagnose(target, results).layer,
}))
"""


def probe_in_fresh_interpreter(url: str, verify: bool) -> dict:
    """run_probes in a new Python process. Other unit tests import pyinfra_cli, whose gevent
    monkey-patching breaks TLS client code (RecursionError in SSLContext) in this process."""
    completed = subprocess.run(
        [sys.executable, "-c", PROBE_SCRIPT, url, "verify" if verify else "insecure"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.mark.parametrize(
    ("days", "state", "verify"),
    [(60, "ok", False), (15, "WARN", False), (3, "FAIL", False), (60, "FAIL", True)],
)
def test_tls_days_left(days: int, state: str, verify: bool) -> None:
    server = serve(lambda handler: HEALTH, context=_certificate(days))
    url = next(server)
    try:
        seen = probe_in_fresh_interpreter(url, verify)
    finally:
        next(server, None)
    tls, health = seen["results"]["tls"], seen["results"]["health"]
    assert tls["state"] == state, tls["text"]
    if verify:
        assert "certificate not trusted" in tls["actual"]
        assert health["skipped"]
        assert seen["layer"] == "tls"
    else:
        assert abs(tls["detail"]["days_left"] - days) < 0.1
        assert health["ok"], health["text"]


def test_cli_slow_health_is_a_warning(app: NodeApp, capsys, monkeypatch) -> None:
    monkeypatch.setenv("WSR_TEST_TOKEN", TOKEN)
    argv = [app.url, "--token-env", "WSR_TEST_TOKEN", "--warn-latency", "0.000001"]
    code = main(["diagnose", *argv])
    out = capsys.readouterr().out
    assert code == ExitStatus.WARNING
    assert "Broken layer: http — Degraded: health 200" in out
    assert "Status: WARNING (1)" in out


@contextlib.contextmanager
def split_auth_server(rest_accepts: bool, socket_accepts: bool) -> Iterator[str]:
    """A real python-socketio server whose REST and socket token checks disagree."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    sio = socketio.Server(async_mode="threading")

    @sio.event
    def connect(sid, environ, auth):
        if not socket_accepts:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")

    def rest(environ, start_response):
        if environ["PATH_INFO"] == "/api/health":
            status, body = "200 OK", {"status": "ok", "websocket": "enabled"}
        elif rest_accepts:
            status, body = "200 OK", {"subject": "probe"}
        else:
            status, body = "401 Unauthorized", {"error": "unauthorized"}
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    with socketio_server(sio, rest) as url:
        yield url


@pytest.mark.parametrize(
    ("rest_accepts", "socket_accepts", "match"),
    [
        (True, False, "REST accepts, socket refuses"),
        (False, True, "REST refuses, socket accepts"),
    ],
)
def test_rest_and_socket_must_agree_on_the_token(
    rest_accepts: bool, socket_accepts: bool, match: str
) -> None:
    with split_auth_server(rest_accepts, socket_accepts) as url:
        target = Target(url, token=TOKEN)
        results = run_probes(target, timeout_s=3)
    seen = _by_name(results)
    assert seen["upgrade"].ok and seen["open"].ok
    assert not seen["auth-match"].ok
    assert seen["auth-match"].actual == match
    diagnosis = diagnose(target, results)
    assert (diagnosis.code, diagnosis.status) == ("auth-mismatch", ExitStatus.CRITICAL)
