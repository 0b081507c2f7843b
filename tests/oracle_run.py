"""The oracle of issue 20: the official socket.io-client 4 against a service, from Python.

    outcome = run_oracle("http://10.200.3.2", trigger=broadcast_trigger(on_host, [3000, 3001]))
    outcome.ok          # every official client connected, upgraded and received the broadcast
    outcome.describe()  # "default 10/10 ok · websocket 0/10: websocket error ×10"

`run_oracle` starts tests/oracle/clients.js (N clients with the default options, polling then
the upgrade, and N WebSocket-only), waits until they have connected or failed, calls
`trigger(nonce)` to emit a broadcast carrying the nonce, and reads what every client saw. The
rule: OK if and only if every client of every mode connected without a connect_error, an
upgrade error or a disconnect, runs over WebSocket (default mode: after the engine's upgrade)
and received the broadcast. The Node process is always ended, at its deadline at the latest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ORACLE_DIR = Path(__file__).resolve().parent / "oracle"
CLIENTS_JS = ORACLE_DIR / "clients.js"
MODES = ("default", "websocket")
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
MARGIN_S = 10.0  # on top of each phase's own bound, for Node's start-up and the JSON
CURL_TIMEOUT_S = 5
STDERR_SHOWN = 2000


class OracleError(RuntimeError):
    """The harness itself failed (not the service under test): bad input, Node, a timeout."""


@dataclass(frozen=True)
class ModeSummary:
    """What the clients of one mode went through; the kind counts are clients per kind."""

    mode: str
    clients: int
    ok: int
    connected: int
    upgraded: int
    received: int
    errors: dict[str, int] = field(default_factory=dict)
    upgrade_errors: dict[str, int] = field(default_factory=dict)
    disconnects: dict[str, int] = field(default_factory=dict)
    never_connected: int = 0
    not_upgraded: int = 0
    not_received: int = 0

    @property
    def all_ok(self) -> bool:
        return self.clients > 0 and self.ok == self.clients

    def describe(self) -> str:
        """`default 10/10 ok` or `websocket 0/10: websocket error ×10`."""
        head = f"{self.mode} {self.ok}/{self.clients}"
        if self.all_ok:
            return f"{head} ok"
        kinds = [f"{kind} ×{n}" for kind, n in self.errors.items()]
        kinds += [f"upgrade {kind} ×{n}" for kind, n in self.upgrade_errors.items()]
        kinds += [f"disconnect {reason} ×{n}" for reason, n in self.disconnects.items()]
        for what, n in (
            ("never connected", self.never_connected),
            ("not upgraded", self.not_upgraded),
            ("no broadcast", self.not_received),
        ):
            if n:
                kinds.append(f"{what} ×{n}")
        return f"{head}: {', '.join(kinds) or 'not ok'}"


def client_ok(record: dict[str, Any]) -> bool:
    """The oracle's rule for one client (clients.js applies the same one)."""
    return bool(
        record["connected"]
        and not record["errors"]
        and not record["upgrade_errors"]
        and not record["disconnects"]
        and record["transport"] == "websocket"
        and (record["mode"] == "websocket" or record["upgraded"])
        and record["received"]
    )


def _count(records: list[dict[str, Any]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        for kind in dict.fromkeys(record[key]):
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def summarise(mode: str, records: list[dict[str, Any]]) -> ModeSummary:
    """The summary of one mode's client records."""
    connected = [r for r in records if r["connected"]]
    return ModeSummary(
        mode=mode,
        clients=len(records),
        ok=sum(client_ok(r) for r in records),
        connected=len(connected),
        upgraded=sum(bool(r["upgraded"]) for r in records),
        received=sum(bool(r["received"]) for r in records),
        errors=_count(records, "errors"),
        upgrade_errors=_count(records, "upgrade_errors"),
        disconnects=_count(records, "disconnects"),
        never_connected=len(records) - len(connected),
        not_upgraded=sum(
            1
            for r in connected
            if r["transport"] != "websocket" or (mode == "default" and not r["upgraded"])
        ),
        not_received=sum(1 for r in connected if not r["received"]),
    )


@dataclass(frozen=True)
class OracleOutcome:
    """What the official clients saw; `ok` is the oracle's verdict."""

    modes: dict[str, ModeSummary]
    clients: list[dict[str, Any]]
    ready: dict[str, Any]
    trigger_result: object = None
    trigger_error: str | None = None
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.trigger_error is None
            and bool(self.modes)
            and all(summary.all_ok for summary in self.modes.values())
        )

    def describe(self) -> str:
        text = " · ".join(summary.describe() for summary in self.modes.values())
        if self.trigger_error:
            text += f" · broadcast not sent: {self.trigger_error}"
        return text


def _check_inputs(
    url: str, path: str, clients: int, mode: str, ca: str | None, insecure: bool
) -> None:
    if not re.fullmatch(r"https?://[^/\s?#@]+/?", url):
        raise OracleError(f"url={url!r}: must be http(s)://host[:port] (the path goes in path=)")
    if not path.startswith("/"):
        raise OracleError(f"path={path!r}: must start with '/'")
    if isinstance(clients, bool) or not isinstance(clients, int) or not 1 <= clients <= 2000:
        raise OracleError(f"clients={clients!r}: must be an integer from 1 to 2000")
    if mode not in (*MODES, "both"):
        raise OracleError(f"mode={mode!r}: must be default, websocket or both")
    if ca is not None and insecure:
        raise OracleError("ca= and insecure=True exclude each other")


def _argv(
    url: str,
    path: str,
    clients: int,
    mode: str,
    event: str,
    origin: str | None,
    ca: str | None,
    insecure: bool,
    timeouts_ms: tuple[int, int, int],
    with_credentials: bool = False,
) -> list[str]:
    node = shutil.which("node")
    if not node:
        raise OracleError("node is not installed: the oracle runs the official Node.js client")
    if not (ORACLE_DIR / "node_modules" / "socket.io-client").is_dir():
        raise OracleError(f"run `npm ci --prefix {ORACLE_DIR}` first (scripts/setup does)")
    argv = [node, str(CLIENTS_JS), "--url", url.rstrip("/"), "--path", path]
    argv += ["--clients", str(clients), "--mode", mode, "--event", event]
    for name, ms in zip(("connect", "broadcast", "trigger"), timeouts_ms, strict=True):
        argv += [f"--{name}-timeout-ms", str(ms)]
    if origin is not None:
        argv += ["--origin", origin]
    if ca is not None:
        argv += ["--ca", ca]
    if insecure:
        argv.append("--insecure")
    if with_credentials:
        argv.append("--with-credentials")
    return argv


class _Lines:
    """stdout lines of a process, read by a thread, taken with a deadline."""

    def __init__(self, stream: Any) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def json(self, deadline: float, what: str) -> dict[str, Any]:
        """The next stdout line as JSON; OracleError at EOF, on non-JSON or at the deadline."""
        try:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise OracleError(f"clients.js: no {what} line in time") from None
        if line is None:
            raise OracleError(f"clients.js ended before its {what} line")
        try:
            message = json.loads(line)
        except ValueError:
            raise OracleError(f"clients.js: {what} line is not JSON: {line[:200]!r}") from None
        if "error" in message:
            raise OracleError(f"clients.js: {message['error']}")
        return message


def run_oracle(
    url: str,
    *,
    trigger: Callable[[str], object],
    path: str = "/ws",
    clients: int = 10,
    mode: str = "both",
    event: str = "oracle",
    token: str | None = None,
    origin: str | None = None,
    ca: str | None = None,
    insecure: bool = False,
    connect_timeout_s: float = 10.0,
    broadcast_timeout_s: float = 5.0,
    trigger_timeout_s: float = 60.0,
    with_credentials: bool = False,
) -> OracleOutcome:
    """Run `clients` official clients per mode against `url` + `path` and judge them.

    `with_credentials`: the clients keep cookies, as browsers do (a balancer's cookie
    stickiness needs it; without it a Node client sends none).
    `trigger(nonce)` must make the service broadcast `event` with data {"nonce": nonce} (see
    broadcast_trigger); its return value is kept as `trigger_result`. It is not called when no
    client connected. An exception from it is kept as `trigger_error` (the outcome is then not
    ok): a fault may well break the broadcast. OracleError: the harness failed.
    """
    _check_inputs(url, path, clients, mode, ca, insecure)
    _check_event(event)
    timeouts_ms = tuple(
        round(s * 1000) for s in (connect_timeout_s, broadcast_timeout_s, trigger_timeout_s)
    )
    argv = _argv(
        url, path, clients, mode, event, origin, ca, insecure, timeouts_ms, with_credentials
    )
    env = {k: v for k, v in os.environ.items() if k != "ORACLE_TOKEN"}
    if token is not None:
        env["ORACLE_TOKEN"] = token
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stderr: list[str] = []
    stderr_reader = threading.Thread(target=lambda: stderr.append(process.stderr.read()))
    stderr_reader.daemon = True
    stderr_reader.start()
    try:
        lines = _Lines(process.stdout)
        ready = lines.json(started + connect_timeout_s + MARGIN_S, "ready")
        trigger_result: object = None
        trigger_error = None
        if ready.get("connected", 0) == 0:
            reply = "skip"
        else:
            nonce = secrets.token_hex(8)
            try:
                trigger_result = trigger(nonce)
            except Exception as error:  # a fault may break the broadcast: kept, not raised
                trigger_error = f"{type(error).__name__}: {error}"
            reply = "skip" if trigger_error else f"sent {nonce}"
        with contextlib.suppress(OSError):  # a harness that gave up: its error line follows
            process.stdin.write(reply + "\n")
            process.stdin.flush()
        result = lines.json(time.monotonic() + broadcast_timeout_s + MARGIN_S, "result")["result"]
        with contextlib.suppress(subprocess.TimeoutExpired):  # the result is in: kill below
            process.wait(timeout=MARGIN_S)
    except OracleError as error:
        process.kill()
        process.wait()
        stderr_reader.join(timeout=2)
        detail = "".join(stderr).strip()[-STDERR_SHOWN:]
        raise OracleError(f"{error}{f' (stderr: {detail})' if detail else ''}") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        with contextlib.suppress(OSError):
            process.stdin.close()
    records = result["clients"]
    modes = {
        m: summarise(m, [r for r in records if r["mode"] == m])
        for m in (MODES if mode == "both" else (mode,))
    }
    return OracleOutcome(
        modes=modes,
        clients=records,
        ready=ready,
        trigger_result=trigger_result,
        trigger_error=trigger_error,
        elapsed_s=time.monotonic() - started,
    )


def _check_event(event: str) -> None:
    if not isinstance(event, str) or not 1 <= len(event) <= 64 or event in RESERVED_EVENTS:
        raise OracleError(f"event={event!r}: must be 1 to 64 characters, not a reserved event")


def broadcast_trigger(
    host_ssh: Callable[[str], object], workers_ports: Sequence[int], event: str = "oracle"
) -> Callable[[str], int]:
    """A trigger that POSTs {"event": event, "data": {"nonce": …}} to the app's
    /api/broadcast on the host (loopback, as the app requires), through the first worker port
    in `workers_ports` that accepts it (a fault may have stopped worker 0). `host_ssh(cmd)`
    runs a shell command as root on the host and returns its stdout. The trigger returns the
    port that accepted; OracleError when none did, with each port's answer."""
    _check_event(event)
    ports = list(workers_ports)
    bad = [p for p in ports if isinstance(p, bool) or not isinstance(p, int) or not 0 < p < 65536]
    if not ports or bad:
        raise OracleError(f"workers_ports={workers_ports!r}: need TCP ports (1..65535)")

    def trigger(nonce: str) -> int:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", nonce):
            raise OracleError(f"nonce={nonce!r}: letters, digits, _ and - only")
        body = json.dumps({"event": event, "data": {"nonce": nonce}})
        output = str(host_ssh(_broadcast_command(ports, body)))
        answers = dict(re.findall(r"^port (\d+) (\S+)$", output, flags=re.M))
        accepted = [int(p) for p, status in answers.items() if status == "200"]
        if accepted:
            return accepted[0]
        seen = ", ".join(f"{p}: {answers.get(str(p), 'no answer')}" for p in ports)
        raise OracleError(f"no worker accepted POST /api/broadcast ({seen})")

    return trigger


def _broadcast_command(ports: list[int], body: str) -> str:
    """Shell: POST `body` to each port in turn until one answers 200; prints `port N STATUS`
    per try (STATUS 000: no connection). Always exits 0: the caller reads the lines."""
    tries = " ".join(str(port) for port in ports)
    curl = [
        "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-m", str(CURL_TIMEOUT_S),
        "-H", "Content-Type: application/json", "--data-binary", body,
    ]  # fmt: skip
    return (
        f"for port in {tries}; do "
        f'status=$({shlex.join(curl)} "http://127.0.0.1:$port/api/broadcast" 2>/dev/null); '
        'echo "port $port ${status:-000}"; '
        'if [ "$status" = 200 ]; then break; fi; '
        "done; true"
    )


def local_shell(command: str) -> str:
    """host_ssh for a service on this machine's loopback: the command through bash here."""
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise OracleError(f"`{command}` exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def sandbox_shell(name: str) -> Callable[[str], str]:
    """host_ssh for the sandbox host `name` (root over SSH, as the e2e fixtures do)."""
    from wsready.sandbox import hosts

    def run(command: str) -> str:
        result = hosts.ssh(name, command, timeout_s=60)
        if result.returncode != 0:
            raise OracleError(f"{name}: exited {result.returncode}: {result.stderr.strip()}")
        return result.stdout

    return run


def _ports(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ports {text!r}: want e.g. 3000,3001") from None


def main(argv: list[str] | None = None) -> int:
    """By hand: `python -m tests.oracle_run URL --host NAME` (0 ok, 1 not ok, 3 harness error).
    The token, if any, comes from the environment variable ORACLE_TOKEN."""
    parser = argparse.ArgumentParser(prog="python -m tests.oracle_run", description=__doc__)
    parser.add_argument("url", help="http(s)://host[:port] of the service (nginx or a worker)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--host", help="sandbox host to broadcast from (wsready sandbox status)")
    where.add_argument("--local", action="store_true", help="broadcast from this machine")
    parser.add_argument("--ports", type=_ports, default=[3000, 3001], help="worker ports")
    parser.add_argument("--path", default="/ws")
    parser.add_argument("--clients", type=int, default=10, help="per mode")
    parser.add_argument("--mode", default="both", choices=[*MODES, "both"])
    parser.add_argument("--event", default="oracle")
    parser.add_argument("--origin")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--ca", help="CA file (PEM) the clients trust")
    tls.add_argument("--insecure", action="store_true", help="no certificate check")
    parser.add_argument("--connect-timeout", type=float, default=10.0, metavar="S")
    parser.add_argument("--broadcast-timeout", type=float, default=5.0, metavar="S")
    parser.add_argument("--json", action="store_true", help="every client's record as JSON")
    args = parser.parse_args(argv)
    shell = local_shell if args.local else sandbox_shell(args.host)
    try:
        outcome = run_oracle(
            args.url,
            trigger=broadcast_trigger(shell, args.ports, args.event),
            path=args.path,
            clients=args.clients,
            mode=args.mode,
            event=args.event,
            token=os.environ.get("ORACLE_TOKEN") or None,
            origin=args.origin,
            ca=args.ca,
            insecure=args.insecure,
            connect_timeout_s=args.connect_timeout,
            broadcast_timeout_s=args.broadcast_timeout,
        )
    except OracleError as error:
        print(f"oracle: {error}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps({"ok": outcome.ok, "clients": outcome.clients}, indent=1))
    verdict = "OK" if outcome.ok else "NOT OK"
    print(f"{verdict}: {outcome.describe()} ({outcome.elapsed_s:.1f} s)")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
