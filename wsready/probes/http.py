"""HTTP probes with requests: REST health, Engine.IO polling, CORS, the token on REST."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import warnings
from typing import Any

import requests
import requests.adapters
import urllib3

from wsready.probes import intake
from wsready.probes.context import Clock, RunContext, finish
from wsready.probes.model import Probe, ProbeResult, Target
from wsready.probes.packets import engine_error, snippet, split_polling_payload


class ConnectTo(requests.adapters.HTTPAdapter):
    """Requests to the target's URLs go to its `connect_address`; the URL's host stays the
    Host header, the TLS server name (SNI) and the name the certificate must match."""

    def __init__(self, target: Target) -> None:
        self.target = target
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(server_hostname=self.target.host, assert_hostname=self.target.host)
        super().init_poolmanager(*args, **kwargs)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any):
        request.url = self.target.dial_url(request.url or "")
        request.headers["Host"] = self.target.host_header
        return super().send(request, *args, **kwargs)


def session_for(target: Target, dog: intake.Watchdog | None = None) -> requests.Session:
    """A session with no proxy from the environment, connecting where the target says;
    with `dog`, every connection it opens is shut down at that watchdog's deadline."""
    session = requests.Session()
    session.trust_env = False
    session.headers.update(dict(target.headers))
    if target.connect_address:
        adapter = dog.adapter(ConnectTo, target) if dog else ConnectTo(target)
    elif dog:
        adapter = dog.adapter()
    else:
        return session
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def get_direct(
    target: Target,
    url: str,
    timeout_s: float,
    headers: dict[str, str] | None = None,
    max_bytes: int = intake.MAX_BODY_BYTES,
) -> requests.Response:
    """GET one of `target`'s URLs as the probes do: no proxy from the environment, no
    redirects followed, TLS verified as the target says, connecting where it says. The
    whole request (connect, headers, body) has one deadline, `timeout_s`, and at most
    `max_bytes` of the body are read (wsready/probes/intake.py); past the deadline it
    raises requests.Timeout."""
    with intake.Watchdog(timeout_s) as dog:
        try:
            with session_for(target, dog) as session, warnings.catch_warnings():
                # tls_verify=False is the user's explicit choice (self-signed sandboxes).
                warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                response = session.get(
                    url,
                    headers=headers or {},
                    timeout=dog.remaining(),
                    verify=target.tls_verify,
                    allow_redirects=False,
                    stream=True,
                )
                with response:
                    intake.read_capped(response, max_bytes)
                return response
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            if dog.fired:
                raise intake.DeadlineExceeded(f"no complete answer in {timeout_s:g} s") from None
            if isinstance(error, requests.RequestException):
                raise
            raise requests.ConnectionError(error) from error


def _get(probe: Probe, ctx: RunContext, headers: dict[str, str] | None = None):
    """GET probe.target directly."""
    return get_direct(ctx.target, probe.target, probe.timeout_s, headers)


def _request_failed(probe: Probe, clock: Clock, error: requests.RequestException) -> ProbeResult:
    if isinstance(error, requests.Timeout):
        kind, text = "timeout", f"no response in {probe.timeout_s:g} s"
    elif isinstance(error, requests.ConnectionError):
        kind, text = "connection", f"connection failed: {type(error.__context__ or error).__name__}"
    else:
        kind, text = "error", type(error).__name__
    return finish(probe, clock, text, detail={"error": kind})


FINGERPRINT_HEADER = "X-Wsready-Config"  # sent by wsready's nginx site on every answer
WORKER_HEADER = "X-Wsready-Worker"  # sent by the bundled app's workers on every answer
HOST_HEADER = "X-Wsready-Host"  # the app host's nginx names itself (behind a balancer)


def who_answered(headers: Any) -> dict[str, Any]:
    """Who answered, from response headers (any case-insensitive mapping): `server`,
    `fingerprint` (X-Wsready-Config, None when absent: not wsready's site) and, for a
    redirect, `location`. The keys are always present: diagnose tells "absent" from "not
    looked at" by them."""
    lowered = {str(key).lower(): value for key, value in dict(headers or {}).items()}
    detail = {
        "server": lowered.get("server", ""),
        "fingerprint": lowered.get(FINGERPRINT_HEADER.lower()),
        "worker": lowered.get(WORKER_HEADER.lower()),
    }
    if lowered.get(HOST_HEADER.lower()):
        detail["host"] = lowered[HOST_HEADER.lower()]
    if lowered.get("location"):
        detail["location"] = lowered["location"]
    return detail


def _response_detail(response: requests.Response) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "content_type": response.headers.get("Content-Type", ""),
        **who_answered(response.headers),
        "body": snippet(response.text),
    }


# The host's figures /api/health carries since the scale-out (absent from older apps), as
# put in the health result's detail: JSON, the report, Prometheus and diagnose read them there.
HEALTH_FIGURES = ("clients", "max_clients", "workers_up", "workers_total", "redis")
HEALTHY_STATUSES = ("ok", "degraded")  # degraded: served, with a warning (redis, workers)
REDIS_STATES = ("off", "ok", "down")
NEAR_LIMIT = 0.95  # clients at or above this share of max_clients: the host is at its limit


# The largest figure a target may report (a host counts clients in millions at most): a
# larger one (a 400-digit client count) is clamped to it, so every consumer (the table,
# JSON, Prometheus's floats, alerts) gets a number it can hold.
MAX_FIGURE = 10**12


def _count(value: Any) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    return min(value, MAX_FIGURE)


def health_figures(data: dict[str, Any]) -> dict[str, Any]:
    """The new health fields that are present and well-formed, under HEALTH_FIGURES names."""
    workers = data.get("workers") if isinstance(data.get("workers"), dict) else {}
    figures = {
        "clients": _count(data.get("clients")),
        "max_clients": _count(data.get("max_clients")),
        "workers_up": _count(workers.get("up")),
        "workers_total": _count(workers.get("total")),
        "redis": data.get("redis") if data.get("redis") in REDIS_STATES else None,
    }
    return {key: value for key, value in figures.items() if value is not None}


WORKER_FACTS = {"path": str, "config": str, "version": str, "upgrades": bool}


def _worker_row(row: Any) -> dict[str, Any] | None:
    """One row of health's workers.list, only well-formed fields (a str worker id)."""
    if not isinstance(row, dict) or _count(row.get("worker")) is None:
        return None
    facts = {"worker": str(row["worker"])}
    for name, kind in WORKER_FACTS.items():
        if isinstance(row.get(name), kind):
            facts[name] = snippet(row[name], 80) if kind is str else row[name]
    transports = row.get("transports")
    if isinstance(transports, list) and all(isinstance(item, str) for item in transports):
        facts["transports"] = [snippet(item, 20) for item in transports[:4]]
    return facts


def worker_facts(data: dict[str, Any]) -> dict[str, Any]:
    """What health says about each worker (`worker_list`) and whether the app answers the
    probes' broadcast events (`probe_events`): only fields that are present and well-formed."""
    workers = data.get("workers") if isinstance(data.get("workers"), dict) else {}
    rows = workers.get("list") if isinstance(workers.get("list"), list) else []
    facts: dict[str, Any] = {}
    parsed = [row for row in map(_worker_row, rows[:1024]) if row is not None]
    if parsed:
        facts["worker_list"] = parsed
    if data.get("probe_events") is True:
        facts["probe_events"] = True
    redis_id = data.get("redis_id")
    if isinstance(redis_id, str) and re.fullmatch(r"[0-9a-f]{16}", redis_id):
        facts["redis_id"] = redis_id  # hosts that report the same one share their Redis
    return facts


def degraded_reasons(figures: dict[str, Any]) -> list[str]:
    """Why the host is degraded or at its limit, from its figures; empty when it is not."""
    reasons = []
    if figures.get("redis") == "down":
        reasons.append("redis down")
    up, total = figures.get("workers_up"), figures.get("workers_total")
    if up is not None and total is not None and up < total:
        reasons.append(f"{total - up} of {total} workers down")
    clients, limit = figures.get("clients"), figures.get("max_clients")
    if clients is not None and limit and clients >= NEAR_LIMIT * limit:
        reasons.append(f"clients {clients}/{limit} >= {NEAR_LIMIT:.0%} of max_clients")
    return reasons


def _health_text(data: dict[str, Any], figures: dict[str, Any], latency: float) -> str:
    """`200, status=ok, websocket=enabled, 4 ms`; with the host's figures when it sent them:
    `200, status=degraded, redis=down, workers=1/2, clients 120/20000, 4 ms`."""
    parts = ["200", f"status={data['status']}"]
    if not figures:
        parts.append(f"websocket={data['websocket']}")
    if "redis" in figures:
        parts.append(f"redis={figures['redis']}")
    if "workers_up" in figures and "workers_total" in figures:
        parts.append(f"workers={figures['workers_up']}/{figures['workers_total']}")
    if "clients" in figures:
        parts.append(f"clients {figures['clients']}/{figures.get('max_clients', '?')}")
    return ", ".join([*parts, f"{latency * 1000:.0f} ms"])


def health(probe: Probe, ctx: RunContext) -> ProbeResult:
    """`GET /api/health` → 200 with JSON `{"status": "ok", "websocket": …}`, and its latency.

    `"status": "degraded"` (Redis down, a worker down) passes with a WARNING, as does a slow
    answer or clients at NEAR_LIMIT of max_clients; the host's figures go into the detail.
    """
    clock = Clock()
    try:
        response = _get(probe, ctx)
    except requests.RequestException as error:
        return _request_failed(probe, clock, error)
    latency = clock.elapsed
    detail = {**_response_detail(response), "latency_s": round(latency, 4)}
    if response.status_code != 200:
        return finish(probe, clock, _status_text(detail), detail=detail)
    try:
        data = response.json()
    except ValueError:
        data = None
    if (
        not isinstance(data, dict)
        or data.get("status") not in HEALTHY_STATUSES
        or "websocket" not in data
    ):  # not a health answer: no `json` in the detail, so the body condition fails
        return finish(probe, clock, f"200, body {snippet(response.text, 60)!r}", detail=detail)
    detail["json"] = {key: data.get(key) for key in ("status", "websocket")}
    figures = health_figures(data)
    reasons = degraded_reasons(figures)
    detail.update(figures)
    detail.update(worker_facts(data))
    if reasons or data["status"] == "degraded":
        detail["degraded"] = reasons or ["status=degraded"]
    return finish(probe, clock, _health_text(data, figures, latency), detail=detail)


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
        detail["engineio_code"] = error[0]
    packets = split_polling_payload(response.text)
    if packets:
        detail["first_packet"] = snippet(packets[0], 60)
    if response.status_code == 200 and packets and packets[0].startswith("0{"):
        if ctx.target.websocket_only:
            detail["offered"] = True  # the app still offers polling in WebSocket-only mode
        result = finish(probe, clock, f"200, {detail['first_packet']}", detail=detail)
        close_polling(ctx.target, probe.target, packets[0], probe.timeout_s)
        return result
    text = _status_text(detail) if "location" in detail else None
    text = text or f"{response.status_code}, body {snippet(response.text, 60)!r}"
    return finish(probe, clock, text, detail=detail)


def close_polling(target: Target, url: str, open_packet: str, timeout_s: float) -> None:
    """Close the Engine.IO session a polling handshake opened (POST `1`), as a client that
    leaves does, so the server does not keep it until pingInterval + pingTimeout. Best effort:
    a failure here changes no verdict."""
    sid = re.match(r'0\{"sid":"([^"]{1,100})"', open_packet)
    if sid is None:
        return
    quiet = warnings.catch_warnings()
    with contextlib.suppress(requests.RequestException), session_for(target) as session, quiet:
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        session.post(
            f"{url}&sid={sid.group(1)}",
            data=b"1",
            headers={"Content-Type": "text/plain;charset=UTF-8"},
            timeout=timeout_s,
            verify=target.tls_verify,
            allow_redirects=False,
        )


def _status_text(detail: dict[str, Any]) -> str:
    """`502`, or for a redirect `301 to https://…` (the redirect is evidence, not followed)."""
    location = detail.get("location")
    return f"{detail['status']} to {location}" if location else str(detail["status"])


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
        return finish(probe, clock, text, detail=detail)
    if allowed not in (origin, "*"):
        text = f"Access-Control-Allow-Origin {'missing' if allowed is None else repr(allowed)}"
        return finish(probe, clock, text, detail=detail)
    return finish(probe, clock, f"200, Access-Control-Allow-Origin {allowed}", detail=detail)


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
    return finish(probe, clock, str(status), detail=detail)


def refused_upgrade_body(target: Target, ws_url: str, timeout_s: float) -> bytes | None:
    """Repeat a refused upgrade with requests to read the error body (up to 2 KiB).

    Only called after a non-101 answer; `None` when even this fails.
    """
    answer = refused_upgrade(target, ws_url, timeout_s)
    return None if answer is None else answer[2]


def refused_upgrade(
    target: Target, ws_url: str, timeout_s: float
) -> tuple[int, dict[str, str], bytes] | None:
    """Repeat a refused upgrade with requests, never following a redirect: (status,
    headers, up to 2 KiB of body); `None` when even this fails or it gives 101."""
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
        with (
            intake.Watchdog(timeout_s) as dog,
            session_for(target, dog) as session,
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            with session.get(
                url,
                headers=headers,
                timeout=dog.remaining(),
                verify=target.tls_verify,
                allow_redirects=False,
                stream=True,
            ) as response:
                if response.status_code == 101:
                    return None
                body = intake.read_capped(response, 2048)
                return response.status_code, dict(response.headers), body
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        return None
