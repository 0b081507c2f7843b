"""WebSocket-transport probes with websocket-client: upgrade, Engine.IO open, Socket.IO
CONNECT, heartbeat, idle survival. They share one connection, kept in the RunContext."""

from __future__ import annotations

import json
import socket
import ssl
import time
from typing import Any

import websocket

from wsready.probes import http, intake
from wsready.probes.context import Clock, RunContext, finish, skip
from wsready.probes.model import Probe, ProbeResult, Target
from wsready.probes.packets import (
    EIO_CLOSE,
    EIO_MESSAGE,
    EIO_PING,
    EIO_PONG,
    SIO_CONNECT,
    SIO_CONNECT_ERROR,
    PacketError,
    connect_packet,
    engine_error,
    parse_open,
    parse_socket,
    snippet,
)

SLACK_S = 1.5  # allowance over the advertised heartbeat timings


class Closed(Exception):
    """The server (or a proxy) closed the WebSocket."""


def _sslopt(target: Target) -> dict[str, Any]:
    if target.tls_verify is False:
        return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
    sslopt: dict[str, Any] = {}
    if target.connect_address:
        sslopt["server_hostname"] = target.host
    if isinstance(target.tls_verify, str):
        sslopt["ca_certs"] = target.tls_verify
    return sslopt


def _options(target: Target) -> dict[str, Any]:
    """Origin only when the target has one (a mobile client sends none); no env proxy; the
    URL's host as Host header when connecting to `connect_address`."""
    options: dict[str, Any] = {"sslopt": _sslopt(target), "http_no_proxy": ["*"]}
    if target.connect_address:
        options["host"] = target.host_header
    if target.headers:
        options["header"] = [f"{name}: {value}" for name, value in target.headers]
    if target.origin:
        options["origin"] = target.origin
    else:
        options["suppress_origin"] = True
    return options


def upgrade(probe: Probe, ctx: RunContext) -> ProbeResult:
    """`GET <path>/?EIO=4&transport=websocket` with Upgrade → 101 and a valid
    Sec-WebSocket-Accept (websocket-client checks it and refuses the handshake otherwise)."""
    clock = Clock()
    try:
        # redirect_limit=0: a redirect is evidence (WebSocket clients do not follow it), never
        # followed silently; websocket-client then raises without the answer, read again below.
        # One deadline for the whole handshake, however slowly the answer trickles in.
        with intake.Watchdog(probe.timeout_s) as dog:
            try:
                ws = websocket.create_connection(
                    ctx.target.dial_url(probe.target),
                    timeout=probe.timeout_s,
                    redirect_limit=0,
                    class_=intake.watched_websocket(dog),
                    **_options(ctx.target),
                )
            except (websocket.WebSocketException, OSError):
                if dog.fired:
                    raise websocket.WebSocketTimeoutException("deadline") from None
                raise
    except websocket.WebSocketBadStatusException as error:
        body = error.resp_body
        if body is None:  # websocket-client reads only Content-Length bodies, not chunked
            body = http.refused_upgrade_body(ctx.target, probe.target, probe.timeout_s)
        detail: dict[str, Any] = {
            "status": error.status_code,
            "headers": dict(error.resp_headers or {}),
            **http.who_answered(error.resp_headers),
            "body": snippet(body),
        }
        code = engine_error(body)
        if code:
            detail["engineio_error"] = {"code": code[0], "message": code[1]}
        return finish(probe, clock, str(error.status_code), detail=detail)
    except (websocket.WebSocketTimeoutException, TimeoutError):
        text = f"no response in {probe.timeout_s:g} s"
        return finish(probe, clock, text, detail={"error": "timeout"})
    except ConnectionRefusedError:
        return finish(probe, clock, "connection refused", detail={"error": "refused"})
    except (ConnectionResetError, websocket.WebSocketConnectionClosedException):
        text = "connection closed during the handshake"
        return finish(probe, clock, text, detail={"error": "closed"})
    except websocket.WebSocketException as error:
        redirected = _redirect(probe, ctx) if "edirect" in str(error) else None
        if redirected is not None:
            return finish(probe, clock, redirected[0], detail=redirected[1])
        text = f"handshake rejected: {error}"
        return finish(probe, clock, text, detail={"error": "handshake"})
    except (ssl.SSLError, OSError) as error:
        text = f"{type(error).__name__}: {error}"
        return finish(probe, clock, text, detail={"error": "network"})
    status = ws.getstatus()
    headers = dict(ws.getheaders() or {})
    detail = {"status": status, "headers": headers, **http.who_answered(headers)}
    if status != 101:
        ws.close()
        return finish(probe, clock, str(status), detail=detail)
    ctx.websocket = ws
    detail["accept_verified"] = True
    text = f"101, Sec-WebSocket-Accept verified, {clock.elapsed * 1000:.0f} ms"
    return finish(probe, clock, text, detail=detail)


def _redirect(probe: Probe, ctx: RunContext) -> tuple[str, dict[str, Any]] | None:
    """The redirect answer to the upgrade (status, Location), asked again without following."""
    answer = http.refused_upgrade(ctx.target, probe.target, probe.timeout_s)
    if answer is None:
        return None
    status, headers, body = answer
    detail = {
        "status": status,
        "headers": headers,
        **http.who_answered(headers),
        "body": snippet(body),
    }
    location = detail.get("location")
    return (f"{status} to {location}" if location else str(status)), detail


def _receive(ctx: RunContext, deadline: float) -> str:
    """Next Engine.IO packet before `deadline` (monotonic); Closed when the socket closes."""
    ws = ctx.websocket
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise websocket.WebSocketTimeoutException("deadline")
    ws.settimeout(remaining)
    try:
        # The deadline holds however slowly a frame trickles in (intake.Watchdog).
        with intake.Watchdog(remaining) as dog:
            dog.watch(ws)
            try:
                text = ws.recv()
            except (websocket.WebSocketException, OSError):
                if dog.fired:
                    raise websocket.WebSocketTimeoutException("deadline") from None
                raise
    except websocket.WebSocketConnectionClosedException as error:
        raise Closed("connection closed") from error
    except (ConnectionResetError, BrokenPipeError) as error:
        raise Closed("connection reset") from error
    if text == "":  # websocket-client's answer to a close frame
        raise Closed("close frame")
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if text.startswith(EIO_CLOSE):
        raise Closed("Engine.IO close packet")
    return text


def _timed_out(error: BaseException) -> bool:
    return isinstance(error, websocket.WebSocketTimeoutException | TimeoutError | socket.timeout)


def engine_open(probe: Probe, ctx: RunContext) -> ProbeResult:
    """The first message must be the Engine.IO v4 open packet `0{"sid",...}`."""
    clock = Clock()
    try:
        text = _receive(ctx, time.monotonic() + probe.timeout_s)
    except Closed as error:
        text = f"closed before any packet ({error})"
        return finish(probe, clock, text, detail={"error": "closed"})
    except Exception as error:  # noqa: BLE001 - timeout or socket error, reported as such
        timed_out = _timed_out(error)
        text = "no packet" if timed_out else type(error).__name__
        detail = {"error": "timeout" if timed_out else "network"}
        return finish(probe, clock, f"{text} in {probe.timeout_s:g} s", detail=detail)
    try:
        opened = parse_open(text)
    except PacketError as error:
        return finish(probe, clock, f"{snippet(text, 60)!r} ({error})")
    ctx.engine_open = opened
    ctx.opened_at = time.monotonic()
    detail = {
        "sid": opened.sid,
        "ping_interval_ms": opened.ping_interval_ms,
        "ping_timeout_ms": opened.ping_timeout_ms,
        "upgrades": list(opened.upgrades),
    }
    text = f"0{{sid, pingInterval={opened.ping_interval_ms}, pingTimeout={opened.ping_timeout_ms}}}"
    return finish(probe, clock, text, detail=detail)


def socketio_connect(probe: Probe, ctx: RunContext) -> ProbeResult:
    """CONNECT to namespace "/" with the auth payload → `40{"sid"}` or `44{"message"}`."""
    clock = Clock()
    ws = ctx.websocket
    deadline = time.monotonic() + probe.timeout_s
    sent_token = ctx.target.token is not None
    detail: dict[str, Any] = {"token_sent": sent_token}
    try:
        ws.send(connect_packet(ctx.target.token))
        while True:
            text = _receive(ctx, deadline)
            if text == EIO_PING:
                ws.send(EIO_PONG)
                continue
            if not text.startswith(EIO_MESSAGE):
                continue
            packet = parse_socket(text)
            if packet.namespace != "/" or packet.type not in (SIO_CONNECT, SIO_CONNECT_ERROR):
                continue
            break
    except Closed as error:
        detail["error"] = "closed"
        return finish(probe, clock, f"closed before CONNECT answer ({error})", detail=detail)
    except PacketError as error:
        return finish(probe, clock, str(error), detail=detail)
    except Exception as error:  # noqa: BLE001 - timeout or socket error, reported as such
        timed_out = _timed_out(error)
        detail["error"] = "timeout" if timed_out else "network"
        what = "no CONNECT answer" if timed_out else type(error).__name__
        return finish(probe, clock, f"{what} in {probe.timeout_s:g} s", detail=detail)
    data = packet.data if isinstance(packet.data, dict) else {}
    if packet.type == SIO_CONNECT and "sid" not in data:
        # Socket.IO 2 answers CONNECT with a bare `40`: a Socket.IO 4 client refuses it.
        detail.update(accepted=None, protocol="socket.io 2", data=packet.data)
        return finish(probe, clock, "40 without a sid (Socket.IO 2 protocol)", detail=detail)
    if packet.type == SIO_CONNECT:
        ctx.socket_accepted = True
        detail.update(accepted=True, sid=data.get("sid"))
        return finish(probe, clock, "40 accepted", detail=detail)
    ctx.socket_accepted = False
    message = str(data.get("message", packet.data))
    detail.update(accepted=False, message=message, data=packet.data)
    text = f"44 {json.dumps(packet.data, separators=(',', ':'))}"
    return finish(probe, clock, text, detail=detail)


def heartbeat(probe: Probe, ctx: RunContext) -> ProbeResult:
    """Wait for the server's ping `2` (it comes every pingInterval), answer `3`.

    Skipped, with a note, when pingInterval does not fit in this probe's time budget.
    """
    clock = Clock()
    opened = ctx.engine_open
    interval_s = opened.ping_interval_ms / 1000
    wait_s = ctx.opened_at + interval_s + SLACK_S - time.monotonic()
    if wait_s > probe.timeout_s:
        why = (
            f"the first ping may take {wait_s:.1f} s (pingInterval {interval_s:g} s), "
            f"over the {probe.timeout_s:g} s budget"
        )
        detail = {"ping_interval_ms": opened.ping_interval_ms, "note": why}
        return skip(probe, why, detail=detail)
    deadline = time.monotonic() + max(wait_s, 0.1)
    ws = ctx.websocket
    try:
        while True:
            text = _receive(ctx, deadline)
            if text == EIO_PING:
                break
    except Closed as error:
        since = time.monotonic() - ctx.opened_at
        text = f"connection closed {since:.1f} s after open, before the first ping: {error}"
        return finish(probe, clock, text, detail={"error": "closed", "after_s": since})
    except Exception as error:  # noqa: BLE001
        what = "no ping" if _timed_out(error) else type(error).__name__
        return finish(probe, clock, f"{what} within pingInterval {interval_s:g} s")
    ws.send(EIO_PONG)
    after = time.monotonic() - ctx.opened_at
    detail = {"ping_after_s": round(after, 3), "ping_interval_ms": opened.ping_interval_ms}
    return finish(probe, clock, f"ping after {after:.2f} s, pong sent", detail=detail)


def idle(probe: Probe, ctx: RunContext) -> ProbeResult:
    """Stay idle for pingInterval + pingTimeout + a little, answering pings: a proxy whose
    read timeout is shorter drops the connection here."""
    clock = Clock()
    opened = ctx.engine_open
    hold_s = (opened.ping_interval_ms + opened.ping_timeout_ms) / 1000 + SLACK_S
    deadline = time.monotonic() + hold_s
    pings = 0
    detail: dict[str, Any] = {"hold_s": hold_s}
    try:
        while time.monotonic() < deadline:
            try:
                text = _receive(ctx, deadline)
            except Exception as error:  # noqa: BLE001
                if _timed_out(error):
                    break
                raise
            if text == EIO_PING:
                ctx.websocket.send(EIO_PONG)
                pings += 1
    except Closed as error:
        detail.update(alive=False, error="closed", after_s=round(clock.elapsed, 2), pings=pings)
        text = f"dropped after {clock.elapsed:.1f} s idle: {error}"
        return finish(probe, clock, text, detail=detail)
    detail.update(alive=True, pings=pings)
    return finish(probe, clock, f"alive after {clock.elapsed:.1f} s, {pings} pings", detail=detail)
