"""Bounded reading of what a target sends: one overall deadline per request, a body cap.

A socket timeout bounds each read, not the answer: a target that trickles a byte every
half second never trips it, and holds a probe (and the whole check) for as long as it
likes. `Watchdog` gives a request one deadline: when it passes, the sockets it opened are
shut down, so whatever read is waiting returns at once and the request fails as a timeout.
`read_capped` reads at most `max_bytes` of a body, so a 300 MiB answer costs 1 MiB.

Used by the HTTP probes (wsready/probes/http.py get_direct, refused_upgrade) and the
WebSocket handshake (wsready/probes/websocket.py); new probes that read from a target
should use it too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Any

import requests.adapters

MAX_BODY_BYTES = 1 << 20  # what a probe reads of any answer's body (a health JSON is < 1 KiB)
CHUNK = 64 << 10


class DeadlineExceeded(requests.Timeout):
    """The request's overall deadline passed (a requests.Timeout: callers report a timeout)."""


class Watchdog:
    """One deadline for everything done inside `with Watchdog(seconds) as dog:`; sockets
    handed to `dog.watch(...)` (or opened by a `dog.adapter()`) are shut down when it
    passes. `dog.fired` tells a caller that a failure was the deadline's doing."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.fired = False
        self._lock = threading.Lock()
        self._watched: list[Any] = []
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        """Seconds left (never below a small positive number: a timeout of 0 means none)."""
        return max(self.end - time.monotonic(), 0.001)

    def watch(self, holder: Any) -> None:
        """Shut `holder` down at the deadline: a socket, or an object whose `sock` is one
        (a urllib3 connection, a websocket-client WebSocket) when the deadline passes."""
        with self._lock:
            if self.fired:
                _shutdown(holder)
            else:
                self._watched.append(holder)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            watched = list(self._watched)
        for holder in watched:
            _shutdown(holder)

    def adapter(self, base: type[requests.adapters.HTTPAdapter] | None = None, *args: Any):
        """A requests adapter (of class `base`, HTTPAdapter by default) whose connections
        this watchdog watches from the moment their TCP socket exists (TLS handshake
        included)."""
        return _watched_adapter(base or requests.adapters.HTTPAdapter, self)(*args)


def _shutdown(holder: Any) -> None:
    sock = holder if isinstance(holder, socket.socket) else getattr(holder, "sock", None)
    fileno = getattr(holder, "_wsready_fileno", None)
    with contextlib.suppress(OSError, ValueError):
        if isinstance(sock, socket.socket) and sock.fileno() >= 0:
            sock.shutdown(socket.SHUT_RDWR)
            return
        if fileno is not None:
            # Mid-TLS-handshake: the raw socket object is detached, its descriptor is not;
            # shutting a duplicate down ends the connection for both.
            with socket.socket(fileno=os.dup(fileno)) as duplicate:
                duplicate.shutdown(socket.SHUT_RDWR)


def _watched_connection(base: type, dog: Watchdog) -> type:
    class Watched(base):  # type: ignore[misc, valid-type]
        def _new_conn(self):  # urllib3: the TCP socket, before any TLS
            sock = super()._new_conn()
            self._wsready_fileno = sock.fileno()
            dog.watch(self)
            return sock

    return Watched


def _watched_adapter(base: type, dog: Watchdog) -> type:
    class WatchedAdapter(base):  # type: ignore[misc, valid-type]
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            pools = dict(self.poolmanager.pool_classes_by_scheme)
            for scheme, pool in pools.items():
                watched = {"ConnectionCls": _watched_connection(pool.ConnectionCls, dog)}
                pools[scheme] = type(f"Watched{pool.__name__}", (pool,), watched)
            self.poolmanager.pool_classes_by_scheme = pools

    return WatchedAdapter


def read_capped(response: requests.Response, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """At most `max_bytes` of a streamed response's (decoded) body; what is beyond is left
    unread and the connection dropped. The result becomes `response.content`/`.text`, and
    `response.truncated` says whether the body was longer."""
    parts: list[bytes] = []
    size = 0
    truncated = False
    while True:
        chunk = response.raw.read(min(CHUNK, max_bytes + 1 - size), decode_content=True)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            truncated = True
            break
    body = b"".join(parts)[:max_bytes]
    response._content = body  # type: ignore[attr-defined]
    response._content_consumed = True  # type: ignore[attr-defined]
    response.truncated = truncated  # type: ignore[attr-defined]
    if truncated:
        response.close()
    return body


MAX_MESSAGE_BYTES = 1 << 20  # the largest WebSocket frame a probe accepts


def watched_websocket(dog: Watchdog, max_bytes: int = MAX_MESSAGE_BYTES) -> type:
    """A websocket-client WebSocket class for `create_connection(class_=...)`: its socket is
    shut down at `dog`'s deadline (the handshake's status line and headers included) and a
    frame longer than `max_bytes` is refused before it is read (see `cap_frames`)."""
    import websocket

    class WatchedWebSocket(websocket.WebSocket):
        def connect(self, url: str, **options: Any) -> None:
            dog.watch(self)
            cap_frames(self, max_bytes)
            super().connect(url, **options)

    return WatchedWebSocket


def cap_frames(ws: Any, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
    """Refuse (WebSocketProtocolException) any frame `ws` receives that announces more than
    `max_bytes`: websocket-client would otherwise read it whole into memory."""
    import websocket

    frames = ws.frame_buffer
    read_length = frames.recv_length

    def recv_length() -> None:
        read_length()
        if frames.length > max_bytes:
            raise websocket.WebSocketProtocolException(
                f"a frame of {frames.length} bytes (more than the probes read: {max_bytes})"
            )

    frames.recv_length = recv_length
