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
import heapq
import itertools
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
    passes. `dog.fired` tells a caller that a failure was the deadline's doing.

    Every watchdog of a process is kept by one timer thread (`_Deadlines`), not a thread of
    its own: a probe run arms about a dozen, and a thread per request cost more CPU than the
    request (issue 26)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.fired = False
        self._lock = threading.Lock()
        self._watched: list[Any] = []
        self._armed = False

    def __enter__(self) -> Watchdog:
        self._armed = True
        _DEADLINES.arm(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._armed = False
            self._watched = []  # nothing to shut any more: let the sockets go now
        _DEADLINES.disarm()

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
            if not self._armed:
                return
            self.fired = True
            watched = list(self._watched)
        for holder in watched:
            _shutdown(holder)

    def adapter(self, base: type[requests.adapters.HTTPAdapter] | None = None, *args: Any):
        """A requests adapter (of class `base`, HTTPAdapter by default) whose connections
        this watchdog watches from the moment their TCP socket exists (TLS handshake
        included)."""
        return _watched_adapter(base or requests.adapters.HTTPAdapter, self)(*args)


class _Deadlines:
    """The one thread that fires every armed Watchdog of this process at its deadline: a heap
    of (end, order, watchdog); a disarmed watchdog is dropped when it comes up. Started on
    first use, and again in a forked child (threads do not survive a fork)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watchdog]] = []
        self._order = itertools.count()
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._disarmed = 0

    def arm(self, dog: Watchdog) -> None:
        with self._wake:
            if self._thread is None or self._pid != os.getpid():
                self._start()
            heapq.heappush(self._heap, (dog.end, next(self._order), dog))
            if self._heap[0][2] is dog:
                self._wake.notify()

    def disarm(self) -> None:
        """A watchdog ended before its deadline: when most of the heap is such, drop them
        (a fleet of 10,000 targets arms ~100,000 in a timeout's time)."""
        with self._wake:
            self._disarmed += 1
            if self._disarmed > 1024 and self._disarmed * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if entry[2]._armed]
                heapq.heapify(self._heap)
                self._disarmed = 0

    def _start(self) -> None:
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="wsready-deadlines", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and not self._heap[0][2]._armed:
                    heapq.heappop(self._heap)  # its request ended before its deadline
                    self._disarmed = max(self._disarmed - 1, 0)
                if not self._heap:
                    self._wake.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                dog = heapq.heappop(self._heap)[2]
            dog._fire()


_DEADLINES = _Deadlines()


def _after_fork() -> None:
    global _DEADLINES  # noqa: PLW0603 - the parent's timer thread does not exist here
    _DEADLINES = _Deadlines()


os.register_at_fork(after_in_child=_after_fork)


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


# The watchdog of the request a thread is sending through a watched adapter: the classes
# below are made once per base class (a class per request cost ~0.2 ms each), and a new
# connection finds its watchdog here (urllib3 opens it inside the adapter's send).
_SENDING = threading.local()
_WATCHED: dict[tuple[str, type], type] = {}


def _watched_connection(base: type) -> type:
    key = ("connection", base)
    if key not in _WATCHED:

        class Watched(base):  # type: ignore[misc, valid-type]
            def _new_conn(self):  # urllib3: the TCP socket, before any TLS
                sock = super()._new_conn()
                self._wsready_fileno = sock.fileno()
                dog = getattr(_SENDING, "dog", None)
                if dog is not None:
                    dog.watch(self)
                return sock

        _WATCHED[key] = Watched
    return _WATCHED[key]


def _watched_pool(pool: type) -> type:
    key = ("pool", pool)
    if key not in _WATCHED:
        watched = {"ConnectionCls": _watched_connection(pool.ConnectionCls)}
        _WATCHED[key] = type(f"Watched{pool.__name__}", (pool,), watched)
    return _WATCHED[key]


def _watched_adapter(base: type, dog: Watchdog) -> Any:
    key = ("adapter", base)
    if key not in _WATCHED:

        class WatchedAdapter(base):  # type: ignore[misc, valid-type]
            wsready_dog: Watchdog | None = None

            def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
                super().init_poolmanager(*args, **kwargs)
                pools = dict(self.poolmanager.pool_classes_by_scheme)
                for scheme, pool in pools.items():
                    pools[scheme] = _watched_pool(pool)
                self.poolmanager.pool_classes_by_scheme = pools

            def send(self, *args: Any, **kwargs: Any):
                _SENDING.dog = self.wsready_dog
                try:
                    return super().send(*args, **kwargs)
                finally:
                    _SENDING.dog = None

        _WATCHED[key] = WatchedAdapter
    adapter_class = _WATCHED[key]

    def make(*args: Any) -> Any:
        adapter = adapter_class(*args)
        adapter.wsready_dog = dog
        return adapter

    return make


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


def watched_websocket(dog: Watchdog, max_bytes: int = MAX_MESSAGE_BYTES) -> Any:
    """A websocket-client WebSocket maker for `create_connection(class_=...)`: its socket is
    shut down at `dog`'s deadline (the handshake's status line and headers included) and a
    frame longer than `max_bytes` is refused before it is read (see `cap_frames`). One class
    for every connection (a class per connection cost ~0.1 ms each)."""
    cls = _watched_websocket_class()

    def make(*args: Any, **kwargs: Any) -> Any:
        ws = cls(*args, **kwargs)
        ws.wsready_dog, ws.wsready_max_bytes = dog, max_bytes
        return ws

    return make


_WATCHED_WEBSOCKET: type | None = None
_WATCHED_LOCK = threading.Lock()
_HEADER_LINES = threading.local()  # .fast: this thread is in a watched WebSocket's handshake


def _watched_websocket_class() -> type:
    with _WATCHED_LOCK:  # the first probes of a check start together
        return _make_watched_websocket_class()


def _make_watched_websocket_class() -> type:
    global _WATCHED_WEBSOCKET  # noqa: PLW0603 - made once, on first use (websocket is lazy)
    if _WATCHED_WEBSOCKET is None:
        import websocket
        import websocket._http

        class WatchedWebSocket(websocket.WebSocket):
            wsready_dog: Watchdog
            wsready_max_bytes: int

            def connect(self, url: str, **options: Any) -> None:
                self.wsready_dog.watch(self)
                cap_frames(self, self.wsready_max_bytes)
                _HEADER_LINES.fast = True
                try:
                    super().connect(url, **options)
                finally:
                    _HEADER_LINES.fast = False

        if websocket._http.recv_line is not _recv_line:
            _recv_line.original = websocket._http.recv_line  # type: ignore[attr-defined]
            websocket._http.recv_line = _recv_line
        _WATCHED_WEBSOCKET = WatchedWebSocket
    return _WATCHED_WEBSOCKET


class _Peek:
    """A plain socket whose recv only looks (MSG_PEEK), for websocket-client's `recv`."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size, socket.MSG_PEEK)

    def gettimeout(self) -> float | None:
        return self.sock.gettimeout()

    def fileno(self) -> int:
        return self.sock.fileno()


def _recv_line(sock: Any) -> bytes:
    """websocket-client's handshake reads the answer's status line and headers one byte per
    recv() (~135 system calls per handshake). In a watched WebSocket's handshake over plain
    TCP, look at what has arrived (MSG_PEEK) and take up to the end of the line: the same
    bytes, the same errors (websocket-client's own recv maps them), ~2 calls a line; the
    bytes after the headers (the first frame) stay in the socket. Elsewhere (TLS, another
    caller): websocket-client's own."""
    import ssl

    from websocket import _socket

    original = _recv_line.original  # type: ignore[attr-defined]
    plain = isinstance(sock, socket.socket) and not isinstance(sock, ssl.SSLSocket)
    if not (plain and getattr(_HEADER_LINES, "fast", False)):
        return original(sock)
    line = b""
    while True:
        seen = _socket.recv(_Peek(sock), 4096)  # blocks like recv(1); empty: closed
        end = seen.find(b"\n")
        line += _socket.recv(sock, len(seen) if end < 0 else end + 1)
        if line.endswith(b"\n"):
            return line


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
