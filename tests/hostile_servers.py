"""Hostile targets on loopback for the checker: each a raw TCP server in daemon threads
that answers every request the same hostile way (issue 22).

    huge-number  /api/health 200 with a 400-digit client count of 20000 (other paths 404)
    trickle      a 200 whose body comes one byte every 0.5 s, for ever
    huge-body    a 200 with a 300 MiB body, as fast as the reader takes it
    escapes      Server, Location and health values full of terminal escapes, bidi
                 overrides and chat markup; a redirect whose Location is the target's choice
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

ESCAPE = "\x1b]0;pwned\x07\x1b[2J\x1b[31m\u202e"  # title set, screen cleared, red, RTL override
EVIL_URL = "https://evil.example/steal"
HUGE = 300 << 20
KINDS = ("huge-number", "trickle", "huge-body", "escapes")


def _read_request(conn: socket.socket) -> str:
    conn.settimeout(5)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b" ", 2)[1].decode(errors="replace") if data.count(b" ") >= 2 else "/"


def _answer(kind: str, conn: socket.socket, stop: threading.Event) -> None:
    path = _read_request(conn)
    try:
        if kind == "huge-number":
            if path.startswith("/api/health"):
                digits = "9" * 400
                body = (
                    f'{{"status": "ok", "websocket": "enabled", "clients": {digits}, '
                    '"max_clients": 20000}'
                ).encode()
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n"
                )
            else:
                body, head = b"no", "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n"
            conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
        elif kind == "trickle":
            conn.sendall(b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 1000000\r\n\r\n")
            while not stop.is_set():
                conn.sendall(b"{")
                time.sleep(0.5)
        elif kind == "huge-body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % HUGE)
            block = b"x" * (1 << 20)
            for _ in range(HUGE >> 20):
                if stop.is_set():
                    break
                conn.sendall(block)
        elif kind == "escapes":
            server = f"nginx{ESCAPE}<{EVIL_URL}|click here>"
            if path.startswith("/api/health"):
                body = json.dumps(
                    {"status": "degraded", "websocket": f"enabled{ESCAPE}", "redis": ESCAPE}
                ).encode()
                head = f"HTTP/1.1 503 {ESCAPE}\r\nServer: {server}\r\n"
            else:
                body = f"moved{ESCAPE}".encode()
                head = f"HTTP/1.1 301 Moved\r\nServer: {server}\r\nLocation: {EVIL_URL}{ESCAPE}\r\n"
            conn.sendall(
                head.encode("utf-8")
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
    except OSError:
        pass
    finally:
        conn.close()


@contextlib.contextmanager
def hostile(kind: str) -> Iterator[str]:
    """A hostile target of `kind` on 127.0.0.1; yields its base URL (http://127.0.0.1:PORT)."""
    if kind not in KINDS:
        raise ValueError(kind)
    stop = threading.Event()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=_answer, args=(kind, conn, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@contextlib.contextmanager
def all_kinds() -> Iterator[dict[str, str]]:
    """One hostile target of every kind: {kind: base URL}."""
    with contextlib.ExitStack() as stack:
        yield {kind: stack.enter_context(hostile(kind)) for kind in KINDS}
