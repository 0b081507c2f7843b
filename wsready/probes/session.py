"""Sessions as the official `socket.io-client` 4 opens them, sampled over every worker.

A *polling* session walks the default client's request sequence: the long-polling handshake
(GET), the Socket.IO CONNECT sent on that session (POST `40`), its answer (GET `40`/`44`),
then the upgrade of the same session (WebSocket with `sid`, `2probe` → `3probe`, `5`) and a
message each way over the WebSocket. A *websocket* session is the `transports:
['websocket']` path mobile clients use: the WebSocket handshake, the open packet, CONNECT.

Every step records what the server said in its own words: the HTTP status, Engine.IO's error
`code`/`message`, and which worker answered (the app's `X-Wsready-Worker` header, else the
session id's `N-` prefix). `sample` opens sessions of both kinds until each worker that
/api/health lists has been reached in each kind, within a bound, and keeps one connected
WebSocket per worker for the broadcast check. Behind a front door (a balancer in front of
several app hosts, each naming itself in `X-Wsready-Host`), a worker is a (host, worker)
pair: sessions are held until every host seen or expected (`Target.behind`) has answered on
each of its workers.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
import websocket

from wsready.probes import http, intake
from wsready.probes.model import Target
from wsready.probes.packets import (
    EIO_MESSAGE,
    EIO_NOOP,
    EIO_PING,
    EIO_PONG,
    EIO_UPGRADE,
    PacketError,
    connect_packet,
    engine_error,
    parse_open,
    parse_socket,
    snippet,
    split_polling_payload,
)

WORKER_HEADER = "x-wsready-worker"
HOST_HEADER = "x-wsready-host"  # the app host's nginx names itself (behind a balancer)
POLLING, WEBSOCKET = "polling", "websocket"
MODES = (POLLING, WEBSOCKET)
# How many sessions of each kind at most: enough to reach every worker behind a least-conn
# balancer (which spreads new sessions evenly), bounded for hosts with many workers.
SESSIONS_PER_WORKER = 2
MIN_SESSIONS = 2
MAX_SESSIONS = 16
MAX_FRONT_DOOR_SESSIONS = 32  # behind a front door: every worker of every host, bounded
V2_CONNECT = "40 without a sid"  # a Socket.IO 2 server's CONNECT: Socket.IO 4 clients refuse it
PENDING_JOIN_S = 0.5  # how long a session waits for a long-poll its failure left open
PROBE_NAMESPACE = "/wsready-probe"  # answered by Socket.IO itself: `44` (unknown) or `40`
# files/app/lib/app.js: `<worker>-<15 random bytes, base64url>`. A stock Engine.IO or
# python-socketio id is those 20 characters alone, and may itself start with `7-`.
_SID_WORKER = re.compile(r"^(\d{1,4})-[A-Za-z0-9_-]{20}$")


@dataclass
class Step:
    """One request of a session and what answered it."""

    name: str
    ok: bool
    said: str
    status: int | None = None
    worker: str | None = None
    engineio_error: dict[str, Any] | None = None
    server: str = ""
    ms: float = 0.0
    host: str | None = None  # which app host answered (X-Wsready-Host), behind a balancer

    def to_dict(self) -> dict[str, Any]:
        data = {"step": self.name, "ok": self.ok, "said": self.said, "ms": round(self.ms, 1)}
        for key in ("status", "worker", "engineio_error", "host"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.server:
            data["server"] = self.server
        return data


@dataclass
class Session:
    """One client's way in: its steps in order, the worker that owns it, what it was offered."""

    mode: str
    steps: list[Step] = field(default_factory=list)
    sid: str | None = None
    worker: str | None = None
    upgrades: tuple[str, ...] | None = None
    timings: dict[str, int] = field(default_factory=dict)  # the open packet's ping values
    socket: Any = field(default=None, repr=False)  # connected WebSocket kept for the broadcast

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps) and bool(self.steps)

    @property
    def host(self) -> str | None:
        """The app host that made the session (its first answer's X-Wsready-Host)."""
        return next((step.host for step in self.steps if step.host), None)

    @property
    def failed(self) -> Step | None:
        return next((step for step in self.steps if not step.ok), None)

    def close(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(Exception):
                self.socket.close(timeout=1)
            self.socket = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "ok": self.ok,
            "worker": self.worker,
            "sid_worker": sid_worker(self.sid),
            "upgrades": list(self.upgrades) if self.upgrades is not None else None,
            **self.timings,
            "steps": [step.to_dict() for step in self.steps],
        }


@dataclass
class Sample:
    """The sessions of one probe run, the workers health listed (None: not listed) and the
    hosts expected behind a front door (X-Wsready-Host names; empty: none given)."""

    sessions: list[Session]
    expected: list[str] | None
    bound: int
    hosts: tuple[str, ...] = ()
    by_host: bool = True  # name a worker with its host when several hosts answered
    modes: tuple[str, ...] = MODES  # the kinds of session sampled (WebSocket only: one)

    def of(self, mode: str) -> list[Session]:
        return [session for session in self.sessions if session.mode == mode]

    def reached(self, mode: str) -> set[str]:
        return {s.worker for s in self.of(mode) if s.worker is not None}

    @property
    def hosts_seen(self) -> list[str]:
        """The hosts that answered any step of any session, in the order they first did."""
        return hosts_of(self.sessions)

    @property
    def several_hosts(self) -> bool:
        return self.by_host and len(set(self.hosts_seen) | set(self.hosts)) > 1

    def label(self, session: Session) -> str | None:
        """How a session's worker is named: `host/worker` when several hosts answered."""
        if self.several_hosts and session.host:
            return f"{session.host}/{session.worker}"
        return session.worker

    def close(self) -> None:
        for session in self.sessions:
            session.close()


def sid_worker(sid: str | None) -> str | None:
    """The worker a wsready app's session id names (`1-…` → "1"), else None."""
    match = _SID_WORKER.match(sid or "")
    return match.group(1) if match else None


class _Stop(Exception):
    """The session cannot go on: its last step failed."""


class _Walk:
    """One session being walked: records steps, stops at the first failure."""

    def __init__(
        self, target: Target, mode: str, deadline: float, step_timeout_s: float, dog: Any = None
    ):
        self.target = target
        self.session = Session(mode)
        self.deadline = deadline
        self.step_timeout_s = step_timeout_s
        self.dog = dog  # intake.Watchdog: the session's sockets are shut at its deadline
        self.cookies = ""  # what the polling requests were given (a balancer's stickiness)
        self.pending: _Pending | None = None  # the long-poll GET beside the CONNECT POST

    def request(self, http_session: requests.Session, method: str, url: str, **options: Any):
        """One request of the session: the body read up to intake's cap, never more."""
        response = http_session.request(method, url, stream=True, **options)
        with response:
            intake.read_capped(response)
        return response

    def timeout(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.record("deadline", False, "no time left for this session")
            raise _Stop
        return min(self.step_timeout_s, left)

    def record(self, name: str, ok: bool, said: str, **answer: Any) -> Step:
        step = Step(name, ok, said, **answer)
        self.session.steps.append(step)
        if self.session.worker is None and step.worker is not None:
            self.session.worker = step.worker  # a refused handshake still names its worker
        return step

    def answer_of(self, response: requests.Response) -> dict[str, Any]:
        headers = {key.lower(): value for key, value in response.headers.items()}
        answer: dict[str, Any] = {
            "status": response.status_code,
            "worker": headers.get(WORKER_HEADER),
            "server": headers.get("server", ""),
            "ms": response.elapsed.total_seconds() * 1000,
            "host": headers.get(HOST_HEADER),
        }
        error = engine_error(response.content)
        if error:
            answer["engineio_error"] = {"code": error[0], "message": error[1]}
        return answer

    def refused(self, name: str, response: requests.Response, expected: str) -> None:
        answer = self.answer_of(response)
        said = f"{response.status_code}"
        if answer.get("engineio_error"):
            error = answer["engineio_error"]
            said += f' Engine.IO {error["code"]} "{error["message"]}"'
        else:
            said += f", body {snippet(response.text, 60)!r}"
        self.record(name, False, f"{said} (expected {expected})", **answer)
        raise _Stop

    def failed(self, name: str, error: BaseException) -> None:
        if isinstance(error, requests.Timeout | websocket.WebSocketTimeoutException | TimeoutError):
            said = f"no answer in {self.step_timeout_s:g} s"
        elif isinstance(error, requests.ConnectionError):
            said = f"connection failed: {type(error.__context__ or error).__name__}"
        else:
            said = f"{type(error).__name__}: {snippet(str(error), 80)}"
        self.record(name, False, said)
        raise _Stop


def _timings(opened: Any) -> dict[str, int]:
    return {"ping_interval_ms": opened.ping_interval_ms, "ping_timeout_ms": opened.ping_timeout_ms}


def _polling_url(target: Target, sid: str | None = None) -> str:
    url = target.http_url(target.engineio_path(POLLING)) + f"&t={secrets.token_urlsafe(6)}"
    return url + (f"&sid={sid}" if sid else "")


def _websocket_url(target: Target, sid: str | None = None) -> str:
    url = target.ws_url(target.engineio_path(WEBSOCKET))
    return target.dial_url(url + (f"&sid={sid}" if sid else ""))


def _ws_options(target: Target) -> dict[str, Any]:
    from wsready.probes.websocket import _options  # one place decides TLS, Host and Origin

    return _options(target)


def _headers(target: Target) -> dict[str, str]:
    return {"Origin": target.origin} if target.origin else {}


def _accepted(packets: list[str]) -> tuple[bool | None, str]:
    """The CONNECT answer among `packets`: (True, "40 accepted"), (False, "44 {...}") or None."""
    for text in packets:
        if not text.startswith(EIO_MESSAGE):
            continue
        try:
            packet = parse_socket(text)
        except PacketError:
            continue
        if packet.namespace != "/":
            continue
        if packet.type == "0":
            if not (isinstance(packet.data, dict) and "sid" in packet.data):
                return False, f"{V2_CONNECT} (Socket.IO 2 protocol)"
            return True, "40 accepted"
        if packet.type == "4":
            return False, f"44 {json.dumps(packet.data, separators=(',', ':'))}"
    return None, ""


def _walk_polling(walk: _Walk, http_session: requests.Session) -> None:
    target = walk.target
    get = {"verify": target.tls_verify, "allow_redirects": False, "headers": _headers(target)}
    try:
        response = walk.request(
            http_session, "GET", _polling_url(target), timeout=walk.timeout(), **get
        )
    except requests.RequestException as error:
        walk.failed("handshake", error)
    packets = split_polling_payload(response.text) if response.status_code == 200 else []
    if not packets or not packets[0].startswith("0{"):
        walk.refused("handshake", response, "200 0{sid,upgrades,…}")
    try:
        opened = parse_open(packets[0])
    except PacketError as error:
        walk.record("handshake", False, str(error), **walk.answer_of(response))
        raise _Stop from error
    session = walk.session
    session.sid, session.upgrades = opened.sid, opened.upgrades
    session.timings = _timings(opened)
    answer = walk.answer_of(response)
    session.worker = answer["worker"] or sid_worker(opened.sid)
    offered = ",".join(opened.upgrades) or "none"
    walk.record("handshake", True, f"200 0{{sid, upgrades [{offered}]}}", **answer)
    # The official client polls at once (a GET the server holds open) and sends CONNECT in
    # a POST beside it, on another connection: a balancer without stickiness then sends the
    # POST to another host than the pending GET (`xhr post error`), as it does here.
    walk.pending = _Pending(walk, http_session, _polling_url(target, opened.sid), get)
    body = connect_packet(target.token)
    post_headers = {**_headers(target), "Content-Type": "text/plain;charset=UTF-8"}
    try:
        response = walk.request(
            http_session,
            "POST",
            _polling_url(target, opened.sid),
            data=body.encode(),
            timeout=walk.timeout(),
            verify=target.tls_verify,
            allow_redirects=False,
            headers=post_headers,
        )
    except requests.RequestException as error:
        walk.failed("connect", error)
    if response.status_code != 200 or response.text.lower() != "ok":
        walk.refused("connect", response, '200 "ok"')
    walk.record("connect", True, '200 "ok"', **walk.answer_of(response))
    _poll_connect_answer(walk, http_session, get)


class _Pending:
    """A polling GET sent in its own thread (the official client's long-poll, held open by
    the server while the session's POST goes beside it); `result` waits for its answer."""

    def __init__(self, walk: _Walk, http_session: requests.Session, url: str, get: dict):
        self.response: requests.Response | None = None
        self.error: BaseException | None = None
        timeout = walk.timeout()  # taken here: the walk records steps in its own thread

        def poll() -> None:
            try:
                with warnings.catch_warnings():  # as the walk itself (tls_verify=False)
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    self.response = walk.request(http_session, "GET", url, timeout=timeout, **get)
            except Exception as error:  # noqa: BLE001 - reported by `result`, in the walk
                self.error = error

        self.thread = threading.Thread(target=poll, name="wsready-long-poll", daemon=True)
        self.thread.start()

    def result(self, timeout_s: float) -> requests.Response:
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            raise requests.Timeout("the long-poll did not answer")
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


def _poll_connect_answer(walk: _Walk, http_session: requests.Session, get: dict) -> None:
    target, session = walk.target, walk.session
    for _ in range(3):  # a noop or an unrelated packet may come first
        pending, walk.pending = walk.pending, None
        try:
            if pending is not None:  # the long-poll sent beside the POST
                response = pending.result(walk.timeout())
            else:
                response = walk.request(
                    http_session,
                    "GET",
                    _polling_url(target, session.sid),
                    timeout=walk.timeout(),
                    **get,
                )
        except requests.RequestException as error:
            walk.failed("connect answer", error)
        if response.status_code != 200:
            walk.refused("connect answer", response, "200 40{sid}")
        accepted, said = _accepted(split_polling_payload(response.text))
        if accepted is None:
            continue
        walk.record("connect answer", accepted, said, **walk.answer_of(response))
        if not accepted:
            raise _Stop
        return
    walk.record("connect answer", False, "no CONNECT answer in 3 polls")
    raise _Stop


def _next_packet(ws: Any) -> str | None:
    """The next frame as text; None for a ping, which is answered with a pong. A close frame
    raises WebSocketConnectionClosedException."""
    text = ws.recv()
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if text == "":
        raise websocket.WebSocketConnectionClosedException("close frame")
    if text == EIO_PING:
        ws.send(EIO_PONG)
        return None
    return text


def _receive(ws: Any, walk: _Walk, want: str | tuple[str, ...]) -> str:
    """The next packet that starts with `want` (one prefix or several), answering pings."""
    while True:
        ws.settimeout(walk.timeout())
        text = _next_packet(ws)
        if text is not None and text.startswith(want):
            return text


def _open_websocket(walk: _Walk, sid: str | None, name: str) -> Any:
    target = walk.target
    started = time.monotonic()
    try:
        options = _ws_options(target)
        if walk.cookies:  # a balancer's stickiness cookie, sent with the upgrade as a browser does
            options["cookie"] = walk.cookies
        ws = websocket.create_connection(
            _websocket_url(target, sid),
            timeout=walk.timeout(),
            redirect_limit=0,
            class_=intake.watched_websocket(walk.dog),
            **options,
        )
    except websocket.WebSocketBadStatusException as error:
        body, headers = error.resp_body, dict(error.resp_headers or {})
        if body is None:  # websocket-client reads only Content-Length bodies: ask again
            again = http.refused_upgrade(target, _websocket_url(target, sid), walk.step_timeout_s)
            if again is not None:
                headers, body = again[1], again[2]
        headers = {str(k).lower(): v for k, v in headers.items()}
        answer: dict[str, Any] = {
            "status": error.status_code,
            "worker": headers.get(WORKER_HEADER),
            "server": headers.get("server", ""),
            "host": headers.get(HOST_HEADER),
        }
        code = engine_error(body)
        said = str(error.status_code)
        if code:
            answer["engineio_error"] = {"code": code[0], "message": code[1]}
            said += f' Engine.IO {code[0]} "{code[1]}"'
        walk.record(name, False, f"{said} (expected 101)", **answer)
        raise _Stop from error
    except (websocket.WebSocketException, OSError) as error:
        walk.failed(name, error)
    headers = {str(k).lower(): v for k, v in dict(ws.getheaders() or {}).items()}
    ms = (time.monotonic() - started) * 1000
    walk.record(
        name,
        True,
        "101",
        status=101,
        worker=headers.get(WORKER_HEADER),
        ms=ms,
        host=headers.get(HOST_HEADER),
    )
    return ws


def _round_trip(walk: _Walk, ws: Any) -> None:
    """A message each way over the WebSocket: CONNECT to a namespace nobody serves is answered
    by Socket.IO itself (`44/wsready-probe,…`, or `40` where namespaces are dynamic)."""
    ws.send(f"{EIO_MESSAGE}0{PROBE_NAMESPACE},")
    _receive(ws, walk, tuple(f"{EIO_MESSAGE}{kind}{PROBE_NAMESPACE}," for kind in "04"))
    walk.record("message", True, "a message each way")


def _walk_upgrade(walk: _Walk) -> None:
    session = walk.session
    if WEBSOCKET not in (session.upgrades or ()):
        offered = ",".join(session.upgrades or ()) or "none"
        walk.record("upgrade", False, f"the handshake offers no WebSocket upgrade ([{offered}])")
        raise _Stop
    ws = _open_websocket(walk, session.sid, "upgrade")
    try:
        ws.send(f"{EIO_PING}probe")
        _receive(ws, walk, f"{EIO_PONG}probe")
        walk.record("3probe", True, "2probe → 3probe")
        ws.send(EIO_UPGRADE)
        _round_trip(walk, ws)
    except (websocket.WebSocketException, OSError) as error:
        ws.close()
        walk.failed("upgrade exchange", error)
    session.socket = ws


def _walk_websocket(walk: _Walk) -> None:
    ws = _open_websocket(walk, None, "upgrade")
    session, target = walk.session, walk.target
    try:
        opened = parse_open(_receive(ws, walk, "0"))
        session.sid, session.upgrades = opened.sid, opened.upgrades
        session.timings = _timings(opened)
        session.worker = walk.session.steps[-1].worker or sid_worker(opened.sid)
        walk.record("open", True, "0{sid}")
        ws.send(connect_packet(target.token))
        accepted, said = _accepted([_receive(ws, walk, f"{EIO_MESSAGE}")])
        while accepted is None:
            accepted, said = _accepted([_receive(ws, walk, f"{EIO_MESSAGE}")])
        walk.record("connect", accepted, said)
        if not accepted:
            raise _Stop
        _round_trip(walk, ws)
    except _Stop:
        ws.close()
        raise
    except (websocket.WebSocketException, OSError, PacketError) as error:
        ws.close()
        walk.failed("websocket exchange", error)
    session.socket = ws


def open_session(target: Target, mode: str, step_timeout_s: float, deadline: float) -> Session:
    """Walk one session of `mode` as the official client does; never raises."""
    # One deadline for the whole session however slowly a target answers: past it, intake's
    # watchdog shuts the session's sockets (the held WebSocket outlives it: the watchdog is
    # disarmed once the walk is done).
    with intake.Watchdog(max(deadline - time.monotonic(), 0.001)) as dog:
        walk = _Walk(target, mode, deadline, step_timeout_s, dog)
        with contextlib.suppress(_Stop), warnings.catch_warnings():
            # tls_verify=False is the user's explicit choice (self-signed sandboxes): no warning.
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            if mode == POLLING:
                with http.session_for(target, dog) as http_session:
                    try:
                        _walk_polling(walk, http_session)
                    finally:
                        walk.cookies = "; ".join(
                            f"{name}={value}" for name, value in http_session.cookies.items()
                        )
                _walk_upgrade(walk)
            else:
                _walk_websocket(walk)
    session = walk.session
    if mode == POLLING and session.sid and session.socket is None:
        # Not upgraded (it failed, or no upgrade was offered): leave as a client does.
        url = target.http_url(target.engineio_path(POLLING))
        http.close_polling(target, url, f'0{{"sid":"{session.sid}"', step_timeout_s)
    if walk.pending is not None:  # a long-poll left when the POST failed: the close ends it,
        walk.pending.thread.join(PENDING_JOIN_S)  # else its own timeout does (a daemon)
    return session


def session_bound(expected: list[str] | None, hosts: int = 1) -> int:
    """Sessions of each kind at most: 2 per listed worker, at least 2, at most 16; behind a
    front door 2 per worker of each host, at most 32."""
    workers = len(expected) if expected else 1
    cap = MAX_SESSIONS if hosts <= 1 else MAX_FRONT_DOOR_SESSIONS
    return max(MIN_SESSIONS, min(cap, SESSIONS_PER_WORKER * workers * max(hosts, 1)))


def hosts_of(chosen: list[Session]) -> list[str]:
    """The hosts (X-Wsready-Host) that answered any step of `chosen`, first seen first."""
    seen: dict[str, None] = {}
    for session in chosen:
        for step in session.steps:
            if step.host:
                seen.setdefault(step.host, None)
    return list(seen)


def covered(
    chosen: list[Session],
    mode: str,
    expected: list[str] | None,
    hosts: tuple[str, ...] = (),
    least: int = MIN_SESSIONS,
) -> bool:
    """Whether the sessions of `mode` among `chosen` reached every worker: each worker
    health lists (any worker when None), and, where hosts name themselves, on every host
    seen (in any session) or expected. Behind a front door whose hosts were not given, one
    session more than the hosts seen, so that an evenly spreading balancer would have shown
    one more host."""
    mine = [session for session in chosen if session.mode == mode]
    if len(mine) < least:
        return False
    seen = hosts_of(chosen)
    known = set(seen) | set(hosts)
    if not known:
        reached = {s.worker for s in mine if s.worker is not None}
        return expected is None or set(expected) <= reached
    for host in known:
        on_host = [s for s in mine if s.host == host]
        reached = {s.worker for s in on_host if s.worker is not None}
        if not on_host or (expected is not None and not set(expected) <= reached):
            return False
    return bool(hosts) or len(seen) < 2 or len(mine) > len(seen)


def sample(
    target: Target, expected: list[str] | None, step_timeout_s: float, budget_s: float
) -> Sample:
    """Open sessions of both kinds until every expected worker is reached in each (at least
    MIN_SESSIONS each, 1 when health lists one worker), on every host that answered or that
    `target.behind` expects, at most `session_bound` each, within `budget_s` in all. One
    connected WebSocket per worker (per host and worker behind a front door) stays open for
    the broadcast; the others are closed."""
    hosts = tuple(target.behind)
    # One listed worker: one session of each kind reaches it; else at least MIN_SESSIONS, so
    # a session's requests can land on different workers of a host that lists none.
    least = 1 if expected is not None and len(expected) == 1 else MIN_SESSIONS
    deadline = time.monotonic() + budget_s
    modes = (WEBSOCKET,) if target.websocket_only else MODES
    result = Sample([], expected, session_bound(expected, len(hosts)), hosts, modes=modes)
    holders: set[tuple[str | None, str | None]] = set()
    extra: list[Session] = []
    for mode in modes:
        count = 0
        while True:
            known = len(set(result.hosts_seen) | set(hosts))
            bound = session_bound(expected, known)
            result.bound = max(result.bound, bound)
            if count >= bound or covered(result.sessions, mode, expected, hosts, least):
                break
            if time.monotonic() >= deadline:
                break
            session = open_session(target, mode, step_timeout_s, deadline)
            result.sessions.append(session)
            count += 1
            if session.socket is not None:
                # Held until sampling ends: a least-connections balancer then sends the next
                # session to a host and worker this run has not loaded yet.
                if (session.host, session.worker) in holders:
                    extra.append(session)
                else:
                    holders.add((session.host, session.worker))
    # Kept open until now: a least-connections balancer then sends each next session to a
    # worker this run has not loaded yet, so every worker is reached within the bound.
    for session in extra:
        session.close()
    return result


PROBE_JOIN, PROBE_EMIT, PROBE_EVENT = "wsready:probe-join", "wsready:probe-emit", "wsready:probe"


@dataclass
class Delivery:
    """The broadcast check: emitted on `emitter`'s worker, awaited on every holder."""

    emitter: str | None
    holders: list[str | None]
    missing: list[str | None]
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and not self.missing


def _event(ack_id: int, name: str, data: Any) -> str:
    return f"{EIO_MESSAGE}2{ack_id}{json.dumps([name, data])}"


def _read_until(ws: Any, deadline: float, wanted: Any) -> bool:
    """Read packets until `wanted(packet)` holds (True) or the deadline passes (False)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ws.settimeout(left)
        try:
            text = _next_packet(ws)
        except websocket.WebSocketTimeoutException:
            return False
        if text is None or text.startswith(EIO_NOOP) or not text.startswith(EIO_MESSAGE):
            continue
        try:
            packet = parse_socket(text)
        except PacketError:
            continue
        if wanted(packet):
            return True


def _acked(packet: Any) -> bool:
    return packet.type == "3" and isinstance(packet.data, list) and bool(packet.data)


def _delivered(nonce: str):
    def wanted(packet: Any) -> bool:
        data = packet.data
        # With connection state recovery on, the server appends the stream offset (a string)
        # to every broadcast: the official client keeps it for recovery and drops it.
        return (
            packet.type == "2"
            and isinstance(data, list)
            and (len(data) == 2 or (len(data) == 3 and isinstance(data[2], str)))
            and data[0] == PROBE_EVENT
            and isinstance(data[1], dict)
            and data[1].get("nonce") == nonce
        )

    return wanted


def broadcast(sample: Sample, timeout_s: float) -> Delivery:
    """Every held session joins one room (named by a fresh nonce); the first emits to it; the
    message must reach every holder, so through the adapter to every other worker."""
    holders = [session for session in sample.sessions if session.socket is not None]
    if not holders:
        return Delivery(None, [], [], "no connected session to hold")
    nonce = secrets.token_urlsafe(18)
    deadline = time.monotonic() + timeout_s
    workers = [sample.label(session) for session in holders]
    try:
        for session in holders:
            session.socket.send(_event(1, PROBE_JOIN, nonce))
            if not _read_until(session.socket, deadline, _acked):
                return Delivery(None, workers, [], f"worker {sample.label(session)} did not join")
        emitter = holders[0]
        emitter.socket.send(_event(2, PROBE_EMIT, nonce))
        missing = [
            sample.label(session)
            for session in holders
            if not _read_until(session.socket, deadline, _delivered(nonce))
        ]
    except (websocket.WebSocketException, OSError) as error:
        return Delivery(None, workers, [], f"{type(error).__name__}: {snippet(str(error), 80)}")
    return Delivery(sample.label(emitter), workers, missing)
