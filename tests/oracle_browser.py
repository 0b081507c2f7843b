"""The oracle in a browser: the official socket.io-client 4 (its browser build) in headless
Chromium, for the faults only a browser enforces (CORS: Node's client ignores it).

    outcome = run_browser_oracle("http://10.200.3.2", trigger=broadcast_trigger(...))

The page (tests/oracle/browser.html) is served from a loopback port, so its origin is
`http://127.0.0.1:PORT`; it opens the same clients as tests/oracle/clients.js (default
options, and WebSocket-only) and keeps the same records, read over Chrome's DevTools protocol.
The outcome is judged by the same rule (tests/oracle_run.py: summarise, OracleOutcome).
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests
import websocket

from tests.oracle_run import MODES, OracleError, OracleOutcome, summarise
from tests.waiting import wait_for

ORACLE_DIR = Path(__file__).resolve().parent / "oracle"
CLIENT_BUNDLE = ORACLE_DIR / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--remote-debugging-port=0",
)


class _Files(http.server.SimpleHTTPRequestHandler):
    """The page and the client bundle, nothing else."""

    FILES = {"/browser.html": ORACLE_DIR / "browser.html", "/socket.io.min.js": CLIENT_BUNDLE}

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.FILES.get(self.path.split("?")[0])
        if path is None:
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        kind = "text/html" if path.suffix == ".html" else "text/javascript"
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@contextlib.contextmanager
def _page_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _DevTools:
    """One page of a headless Chromium, driven over the DevTools protocol."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=10, suppress_origin=True)
        self.ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        self.ws.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("id") == number:
                if "error" in answer:
                    raise OracleError(f"DevTools {method}: {answer['error']}")
                return answer.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()


@contextlib.contextmanager
def _chromium() -> Iterator[_DevTools]:
    binary = shutil.which("chromium")
    if binary is None:
        raise OracleError("chromium is not installed (scripts/setup installs it)")
    with tempfile.TemporaryDirectory(
        prefix="wsready-oracle-", ignore_cleanup_errors=True
    ) as profile:
        process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: every Chromium process ends with it
        )
        tools = None
        try:
            active = Path(profile) / "DevToolsActivePort"
            port = wait_for(
                lambda: active.read_text().split()[0] if active.is_file() else None,
                20,
                "Chromium's DevTools port",
            )
            pages = wait_for(
                lambda: [
                    page
                    for page in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                    if page.get("type") == "page"
                ],
                10,
                "a Chromium page",
            )
            tools = _DevTools(pages[0]["webSocketDebuggerUrl"])
            yield tools
        finally:
            if tools is not None:
                tools.close()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


SETTLED = """(() => {
  const o = window.oracle;
  if (!o) return false;
  return o.records.every((r) => r.errors.length || r.upgrade_errors.length || r.disconnects.length
    || (r.connected && (r.mode === 'websocket' || r.upgraded
        || (r.upgrades_offered !== null && !r.upgrades_offered.includes('websocket')))));
})()"""
RECEIVED = "window.oracle.records.every((r) => !r.connected || r.received)"


def run_browser_oracle(
    url: str,
    *,
    trigger: Callable[[str], object],
    path: str = "/ws",
    clients: int = 5,
    event: str = "oracle",
    token: str | None = None,
    connect_timeout_s: float = 6.0,
    broadcast_timeout_s: float = 3.0,
) -> OracleOutcome:
    """`clients` official clients per mode in headless Chromium against `url` + `path`."""
    started = time.monotonic()
    settings = {"url": url, "path": path, "clients": clients, "event": event, "token": token,
                "modes": list(MODES)}  # fmt: skip
    fragment = requests.utils.quote(json.dumps(settings), safe="")
    with _page_server() as port, _chromium() as page:
        page.call("Page.navigate", url=f"http://127.0.0.1:{port}/browser.html#{fragment}")
        with contextlib.suppress(AssertionError):  # unsettled clients are judged as they are
            wait_for(lambda: page.evaluate(SETTLED), connect_timeout_s, "clients settled",
                     until=bool, interval_s=0.1)  # fmt: skip
        records = page.evaluate("window.oracle ? window.oracle.records : []") or []
        nonce = f"browser-{time.monotonic_ns()}"
        trigger_result, trigger_error = None, None
        if any(record["connected"] for record in records):
            page.evaluate(f"window.oracle.expect({json.dumps(nonce)})")
            try:
                trigger_result = trigger(nonce)
            except Exception as error:  # noqa: BLE001 - a fault may break the broadcast
                trigger_error = f"{type(error).__name__}: {error}"
            with contextlib.suppress(AssertionError):
                wait_for(lambda: page.evaluate(RECEIVED), broadcast_timeout_s,
                         "broadcast received", until=bool, interval_s=0.1)  # fmt: skip
        records = page.evaluate("window.oracle.records") or []
        page.evaluate("window.oracle.close()")
    modes = {mode: summarise(mode, [r for r in records if r["mode"] == mode]) for mode in MODES}
    return OracleOutcome(
        modes=modes,
        clients=records,
        ready={"browser": True},
        trigger_result=trigger_result,
        trigger_error=trigger_error,
        elapsed_s=time.monotonic() - started,
    )
