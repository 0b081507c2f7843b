"""HTTP probes with requests: REST health, Engine.IO polling, CORS, the token on REST."""

from __future__ import annotations

import base64
import os
import warnings
from typing import Any

import requests
import urllib3

from wsready.probes.context import Clock, RunContext, finish
from wsready.probes.model import Probe, ProbeResult, Target
from wsready.probes.packets import engine_error, snippet, split_polling_payload


def _get(probe: Probe, ctx: RunContext, headers: dict[str, str] | None = None):
    """GET probe.target directly (no proxy from the environment, no redirects)."""
    with requests.Session() as session, warnings.catch_warnings():
        # tls_verify=False is the user's explicit choice (self-signed sandboxes): no warning.
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        session.trust_env = False
        return session.get(
            probe.target,
            headers=headers or {},
            timeout=probe.timeout_s,
            verify=ctx.target.tls_verify,
            allow_redirects=False,
        )


def _request_failed(probe: Probe, clock: Clock, error: requests.RequestException) -> ProbeResult:
    if isinstance(error, requests.Timeout):
        kind, text = "timeout", f"no response in {probe.timeout_s:g} s"
    elif isinstance(error, requests.ConnectionError):
        kind, text = "connection", f"connection failed: {type(error.__context__ or error).__name__}"
    else:
        kind, text = "error", type(error).__name__
    return finish(probe, clock, False, text, detail={"error": kind})


def _response_detail(response: requests.Response) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "content_type": response.headers.get("Content-Type", ""),
        "server": response.headers.get("Server", ""),
        "body": snippet(response.text),
    }


def health(probe: Probe, ctx: RunContext) -> ProbeResult:
    """`GET /api/health` → 200 with JSON `{"status": "ok", "websocket": …}`, and its latency."""
    clock = Clock()
    try:
        response = _get(probe, ctx)
    except requests.RequestException as error:
        return _request_failed(probe, clock, error)
    latency = clock.elapsed
    detail = {**_response_detail(response), "latency_s": round(latency, 4)}
    if response.status_code != 200:
        return finish(probe, clock, False, str(response.status_code), detail=detail)
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("status") != "ok" or "websocket" not in data:
        return finish(
            probe,
            clock,
            False,
            f"200, body {snippet(response.text, 60)!r}",
            detail=detail,
            subject="body",
            expected='has status="ok" and websocket',
        )
    detail["json"] = {key: data.get(key) for key in ("status", "websocket")}
    warn = latency > ctx.thresholds.latency_warn_s
    text = f"200, status={data['status']}, websocket={data['websocket']}, {latency * 1000:.0f} ms"
    return finish(probe, clock, True, text, detail=detail, warning=warn)


def polling(probe: Probe, ctx: RunContext) -> ProbeResult:
    """Engine.IO long-polling handshake without Origin → 200 and a body starting with `0{`."""
    clock = Clock()
    try:
        response = _get(probe, ctx)
    except requests.RequestException as error:
        return _request_failed(probe, clock, error)
    detail = _response_detail(response)
    error = engine_error(response.content)
    if error:
        detail["engineio_error"] = {"code": error[0], "message": error[1]}
    packets = split_polling_payload(response.text)
    if response.status_code == 200 and packets and packets[0].startswith("0{"):
        return finish(probe, clock, True, f"200, {snippet(packets[0], 60)}", detail=detail)
    text = f"{response.status_code}, body {snippet(response.text, 60)!r}"
    return finish(probe, clock, False, text, detail=detail)


def cors(probe: Probe, ctx: RunContext) -> ProbeResult:
    """The polling handshake as a browser at `target.origin` sends it: the answer must be
    200 and carry `Access-Control-Allow-Origin` for that origin (or `*`)."""
    clock = Clock()
    origin = ctx.target.origin or ""
    try:
        response = _get(probe, ctx, headers={"Origin": origin})
    except requests.RequestException as error:
        return _request_failed(probe, clock, error)
    allowed = response.headers.get("Access-Control-Allow-Origin")
    detail = {**_response_detail(response), "origin": origin, "allow_origin": allowed}
    if response.status_code != 200:
        text = f"{response.status_code} for Origin {origin}"
        return finish(probe, clock, False, text, detail=detail)
    if allowed not in (origin, "*"):
        text = f"Access-Control-Allow-Origin {'missing' if allowed is None else repr(allowed)}"
        return finish(probe, clock, False, text, detail=detail)
    return finish(probe, clock, True, f"200, Access-Control-Allow-Origin {allowed}", detail=detail)


def rest_auth(probe: Probe, ctx: RunContext) -> ProbeResult:
    """The token on a protected REST path (Bearer) → 200 accepted, 401/403 refused."""
    clock = Clock()
    headers = {"Authorization": f"Bearer {ctx.target.token}"}
    try:
        response = _get(probe, ctx, headers=headers)
    except requests.RequestException as error:
        return _request_failed(probe, clock, error)
    detail = _response_detail(response)
    status = response.status_code
    if status in (401, 403):
        ctx.rest_accepted = False
        detail["accepted"] = False
    elif 200 <= status < 300:
        ctx.rest_accepted = True
        detail["accepted"] = True
    return finish(probe, clock, status == 200, str(status), detail=detail)


def refused_upgrade_body(target: Target, ws_url: str, timeout_s: float) -> bytes | None:
    """Repeat a refused upgrade with requests to read the error body (up to 2 KiB).

    Only called after a non-101 answer; `None` when even this fails.
    """
    url = "http" + ws_url.removeprefix("ws")  # ws:// → http://, wss:// → https://
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }
    if target.origin:
        headers["Origin"] = target.origin
    try:
        with requests.Session() as session, warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            session.trust_env = False
            with session.get(
                url,
                headers=headers,
                timeout=timeout_s,
                verify=target.tls_verify,
                allow_redirects=False,
                stream=True,
            ) as response:
                if response.status_code == 101:
                    return None
                return response.raw.read(2048, decode_content=True)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        return None
