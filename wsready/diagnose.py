"""Name the first broken layer from probe results, with the evidence and the runbook's fix.

The runbook (`websocket-server-not-running.md`) separates a *transport* error (the socket
never opens: server not running, wrong path, proxy without upgrade headers, firewall) from an
*auth* error (the socket opened, then the token was refused). `diagnose` makes that call
from what the probes actually saw, layer by layer: DNS → TCP → TLS → HTTP/WebSocket →
Engine.IO → Socket.IO → auth → CORS → heartbeat/idle → polling. Since the scale-out, the
health answer also says what the host itself sees: a failing upgrade while workers are down
or the host is at its client limit is `capacity`, and Redis down is `redis` (a WARNING).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from wsready.exitstatus import ExitStatus
from wsready.probes import ProbeResult, Target
from wsready.probes.http import HEALTH_FIGURES, NEAR_LIMIT

RUNBOOK_SYMPTOM = "TransportError: websocket error while REST works"
GATEWAY_ERRORS = (502, 503, 504)
# How a socket fails when the host has no room: an error status, or the connection is
# reset / closed / left unanswered (nginx out of worker_connections, the app refusing).
OVERLOAD_STATUSES = (500, 502, 503, 504)
OVERLOAD_ERRORS = ("timeout", "closed", "network")
SOCKET_STEPS = {"upgrade": "upgrade", "open": "Engine.IO open", "connect": "Socket.IO CONNECT"}
APP_UNIT = "wsready-app"  # app_name's default: units wsready-app@0 … and wsready-app.target


@dataclass
class Diagnosis:
    """`layer` that is broken (or "none"), a one-line `title`, `evidence` (actual values),
    the `fix`, and the exit `status`. `code` is a stable machine name for the cause."""

    layer: str
    title: str
    evidence: list[str]
    fix: str
    status: ExitStatus
    code: str = "ok"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.name
        data["exit_code"] = int(self.status)
        return data


def evidence_line(result: ProbeResult) -> str:
    """One line of evidence, marked with whether it held: `[FAIL] upgrade status (404) == 101`."""
    if result.skipped:
        return f"[skipped] {result.probe}: {result.actual}"
    return f"[{result.state}] {result}"


class _Seen:
    """Probe results by name, with the questions the rules ask of them."""

    def __init__(self, target: Target, results: Sequence[ProbeResult]) -> None:
        self.target = target
        self.by_name = {result.probe: result for result in results}

    def get(self, name: str) -> ProbeResult | None:
        return self.by_name.get(name)

    def failed(self, name: str) -> bool:
        result = self.get(name)
        return result is not None and not result.ok and not result.skipped

    def ok(self, name: str) -> bool:
        result = self.get(name)
        return result is not None and result.ok and not result.skipped

    def status(self, name: str) -> int | None:
        result = self.get(name)
        return None if result is None else result.detail.get("status")

    def error(self, name: str) -> str | None:
        result = self.get(name)
        return None if result is None else result.detail.get("error")

    def figures(self) -> dict[str, Any]:
        """What a healthy /api/health said about the host (clients, workers, redis)."""
        health = self.get("health")
        if health is None or not self.ok("health"):
            return {}
        return {key: health.detail[key] for key in HEALTH_FIGURES if key in health.detail}

    def lines(self, *names: str) -> list[str]:
        return [evidence_line(self.by_name[name]) for name in names if name in self.by_name]

    @property
    def where(self) -> str:
        return f"{self.target.host}:{self.target.port}"

    @property
    def path(self) -> str:
        return self.target.socketio_path


def _critical(layer: str, code: str, title: str, evidence: list[str], fix: str) -> Diagnosis:
    return Diagnosis(layer, title, evidence, fix, ExitStatus.CRITICAL, code)


def _dns(seen: _Seen) -> Diagnosis | None:
    if not seen.failed("dns"):
        return None
    return _critical(
        "dns",
        "name-unresolved",
        f"{seen.target.host} does not resolve",
        seen.lines("dns"),
        f"Fix the host name in the client URL or its DNS record (A/AAAA for "
        f"{seen.target.host}); check with `getent hosts {seen.target.host}`.",
    )


def _tcp(seen: _Seen) -> Diagnosis | None:
    if not seen.failed("tcp"):
        return None
    evidence = seen.lines("dns", "tcp")
    if seen.error("tcp") == "refused":
        return _critical(
            "tcp",
            "connection-refused",
            f"Connection refused on {seen.where}: nothing is listening",
            evidence,
            f"Start the server that should listen on port {seen.target.port} (nginx): "
            "`systemctl status nginx`, `ss -ltnp | grep :"
            f"{seen.target.port}` on the host (runbook: 'Server listening on port 80').",
        )
    return _critical(
        "tcp",
        "connection-timeout",
        f"No answer from {seen.where}: packets are dropped (firewall or security group)",
        evidence,
        f"Open port {seen.target.port}/tcp in the EC2 security group (`wsready sg plan`, "
        f"`wsready sg apply`) and in the host firewall (`ufw allow {seen.target.port}/tcp`) "
        "— runbook checklist: 'Firewall allows WebSocket connections'.",
    )


def _tls(seen: _Seen) -> Diagnosis | None:
    if not seen.failed("tls"):
        return None
    result = seen.get("tls")
    if result is not None and "days_left" in result.detail:
        title = f"TLS certificate expires in {result.detail['days_left']} days (or has expired)"
        fix = "Renew the certificate (nginx_tls_cert_file / nginx_tls_key_file) and redeploy."
    elif result is not None and result.detail.get("error") == "verify":
        title = f"TLS certificate of {seen.where} is not trusted: {result.detail.get('reason')}"
        fix = (
            "Serve a certificate the clients trust for this name (nginx_tls_cert_file), or "
            "probe a self-signed sandbox with --insecure / --ca-file."
        )
    else:
        title = f"TLS handshake with {seen.where} fails"
        fix = (
            "Serve a certificate the clients trust for this name (nginx_tls_cert_file), or "
            "probe a self-signed sandbox with --insecure / a CA bundle."
        )
    return _critical("tls", "tls", title, seen.lines("tls"), fix)


FIX_APP_DOWN = (
    "Runbook issue 1, 'WebSocket server not running': nginx answers but the Node app behind "
    "it does not. On the host: `systemctl status 'wsready-app@*'`, "
    "`journalctl -u 'wsready-app@*' -n 50`, `ss -ltnp | grep :300`; start the workers "
    "(`systemctl restart wsready-app.target`) or redeploy."
)


def _app_down(seen: _Seen) -> Diagnosis | None:
    health, upgrade = seen.status("health"), seen.status("upgrade")
    if health in GATEWAY_ERRORS and upgrade in GATEWAY_ERRORS:
        return _critical(
            "app",
            "app-down",
            f"nginx is up but the app behind it is down ({health} on /api/health and "
            f"{upgrade} on {seen.path})",
            seen.lines("health", "upgrade", "polling"),
            FIX_APP_DOWN,
        )
    return None


def _host_strain(figures: dict[str, Any]) -> tuple[str, str, str] | None:
    """(code, what the host says, fix) when health reports workers down or clients at the
    limit; None when it does not (or an older app does not report them)."""
    up, total = figures.get("workers_up"), figures.get("workers_total")
    if up is not None and total is not None and up < total:
        units = f"{APP_UNIT}@0" if total == 1 else f"{APP_UNIT}@0 … {APP_UNIT}@{total - 1}"
        return (
            "workers-down",
            f"{total - up} of {total} app workers are down (health: workers {up}/{total})",
            f"Start the missing workers: on the host `systemctl list-units '{APP_UNIT}@*' --all` "
            f"shows which of {units} is not running; then `systemctl status {APP_UNIT}@i`, "
            f"`journalctl -u {APP_UNIT}@i -n 50` and `systemctl restart {APP_UNIT}@i` (all: "
            f"`systemctl restart {APP_UNIT}.target`). The unit is app_name@i.",
        )
    clients, limit = figures.get("clients"), figures.get("max_clients")
    if clients is not None and limit and clients >= NEAR_LIMIT * limit:
        return (
            "capacity-limit",
            f"the host is at its client limit (health: clients {clients}/{limit}, "
            f">= {NEAR_LIMIT:.0%} of max_clients)",
            "Give the host room, then redeploy: raise app_max_clients (APP_MAX_CLIENTS) and "
            "app_workers (one per core), and nginx_worker_connections / "
            "nginx_worker_processes with them (each WebSocket holds two nginx connections) — "
            "or add a host to the fleet (`wsready onboard`) and spread the clients.",
        )
    return None


def _overloaded(result: ProbeResult) -> bool:
    """This socket probe failed the way a host without room fails (not 404, 400, 44 …)."""
    if result.ok or result.skipped:
        return False
    status = result.detail.get("status")
    if status is not None:
        return status in OVERLOAD_STATUSES
    return result.detail.get("error") in OVERLOAD_ERRORS


def _capacity(seen: _Seen) -> Diagnosis | None:
    """The upgrade (or Engine.IO open, Socket.IO CONNECT) fails like an overload while health
    answers and says workers are down or the host is at its limit."""
    strain = _host_strain(seen.figures())
    failed = next((seen.get(name) for name in SOCKET_STEPS if seen.failed(name)), None)
    if strain is None or failed is None or not _overloaded(failed):
        return None
    polling_status = seen.status("polling")
    if polling_status is not None and polling_status < 500 and not seen.ok("polling"):
        return None  # polling reaches something that is not Socket.IO: a path, not capacity
    code, host_says, fix = strain
    return _critical(
        "capacity",
        code,
        f"The {SOCKET_STEPS[failed.probe]} on {seen.path} fails ({failed.actual}) "
        f"while {host_says}",
        seen.lines("health", "upgrade", "open", "connect", "polling"),
        fix,
    )


def _websocket_evidence(seen: _Seen) -> list[str]:
    evidence = seen.lines("health", "upgrade", "open", "polling")
    upgrade = seen.get("upgrade")
    if upgrade is not None and upgrade.detail.get("body"):
        after_upgrade = evidence.index(evidence_line(upgrade)) + 1
        evidence.insert(after_upgrade, f"upgrade body: {upgrade.detail['body']}")
    if seen.ok("health"):
        evidence.insert(0, f"{RUNBOOK_SYMPTOM} (the runbook's exact situation)")
    return evidence


def _path_mismatch(seen: _Seen, evidence: list[str]) -> Diagnosis | None:
    """Nothing Socket.IO-like at the path: upgrade 404, polling 404 / not `0{`, or a 101
    from a WebSocket server that does not speak Engine.IO."""
    status, polling_status = seen.status("upgrade"), seen.status("polling")
    polling_not_socketio = polling_status == 404 or (
        polling_status is not None and polling_status < 500 and not seen.ok("polling")
    )
    open_failed = seen.failed("open")
    if not (open_failed or status == 404 or (seen.failed("upgrade") and polling_not_socketio)):
        return None
    if open_failed:
        what = "no Engine.IO open packet after the 101"
    else:
        what = f"upgrade {status or seen.error('upgrade')}, polling {polling_status}"
    path = seen.path
    return _critical(
        "websocket path",
        "socketio-path",
        f"Socket.IO is not attached at {path} ({what})"
        + (f" — {RUNBOOK_SYMPTOM}" if seen.ok("health") else ""),
        evidence,
        f"Runbook issue 3, 'Wrong path configuration': the server's Socket.IO `path` must be "
        f"'{path}' (app_socketio_path, WS_PATH in the app's environment) and nginx's "
        f"`location {path}` must proxy to the app. The client's path and the server's must "
        "match exactly.",
    )


def _upgrade_not_passed(seen: _Seen, evidence: list[str]) -> Diagnosis | None:
    """Polling reaches Socket.IO but the upgrade gets a non-101 answer below 500: the proxy
    drops `Upgrade`/`Connection` (Engine.IO then says code 3 "Bad request")."""
    status = seen.status("upgrade")
    if status is None or status >= 500 or not seen.ok("polling"):
        return None
    engineio_error = seen.get("upgrade").detail.get("engineio_error")
    if engineio_error:
        said = f'Engine.IO error {engineio_error["code"]} "{engineio_error["message"]}"'
    else:
        said = f"status {status}"
    path = seen.path
    return _critical(
        "proxy upgrade",
        "upgrade-headers",
        f"The proxy does not pass the WebSocket upgrade on {path}: {said} instead of 101, "
        "while polling reaches Socket.IO",
        evidence,
        f"Runbook issue 4, 'Nginx not configured for WebSocket': in `location {path}` set "
        "`proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
        'proxy_set_header Connection "upgrade";` then `nginx -t && systemctl reload nginx`.',
    )


def _websocket_server_down(seen: _Seen, evidence: list[str]) -> Diagnosis:
    """The runbook's own case when REST works: nothing serves the upgrade at the path."""
    path = seen.path
    if not seen.ok("health"):
        return _critical(
            "websocket",
            "websocket-broken",
            f"WebSocket upgrade on {path} fails and REST is not healthy either",
            evidence,
            FIX_APP_DOWN,
        )
    return _critical(
        "websocket",
        "rest-ok-websocket-broken",
        f"{RUNBOOK_SYMPTOM}: the WebSocket server is not running at {path}",
        evidence,
        f"The runbook's diagnosis, 'WebSocket server not running': REST is served but "
        f"nothing answers the upgrade on {path}. Check that the Socket.IO server is started "
        f"and attached to the HTTP server at path '{path}' (runbook issues 1–2), that "
        f"nginx's `location {path}` proxies to it, then test the 101 with the runbook's "
        "curl and `wscat`.",
    )


def _websocket(seen: _Seen) -> Diagnosis | None:
    """The upgrade did not give 101 (or the 101 did not speak Engine.IO)."""
    if not seen.failed("upgrade") and not seen.failed("open"):
        return None
    evidence = _websocket_evidence(seen)
    if seen.status("upgrade") == 403 and seen.target.origin:
        return _cors(seen, evidence)
    return (
        _path_mismatch(seen, evidence)
        or _upgrade_not_passed(seen, evidence)
        or _websocket_server_down(seen, evidence)
    )


def _cors(seen: _Seen, evidence: list[str] | None = None) -> Diagnosis:
    origin = seen.target.origin
    return _critical(
        "cors",
        "cors-origin",
        f"Browser origin {origin} is not allowed by CORS",
        evidence or seen.lines("cors", "polling", "upgrade"),
        f"Runbook checklist 'CORS configured to allow connections': add {origin} to "
        "app_cors_origins (CORS_ORIGINS in the app's environment; never '*' in production) "
        "and redeploy.",
    )


def _auth(seen: _Seen) -> Diagnosis | None:
    connect = seen.get("connect")
    if connect is None or connect.skipped:
        return None
    evidence = seen.lines("upgrade", "open", "connect", "rest-auth", "auth-match")
    if connect.detail.get("accepted") is False:
        message = connect.detail.get("message", "")
        rest = seen.get("rest-auth")
        rest_accepted = rest is not None and rest.detail.get("accepted") is True
        if rest_accepted:
            why = (
                "REST accepts this token but the socket refuses it: the socket does not use "
                "REST's token validation"
            )
            fix = (
                "The runbook's closing item: validate `socket.handshake.auth.token` with the "
                "same function as the REST middleware (same secret, audience, expiry rules)."
            )
        elif not connect.detail.get("token_sent"):
            why = "no token was sent and the socket requires one"
            fix = (
                "Pass a token: `--token-env VAR` (mint one with `wsready token`). Clients "
                "send it as `auth: {token}` in io(url, {path, auth})."
            )
        else:
            why = "the token is not valid (expired, wrong secret or audience)"
            fix = (
                "Use a valid token (mint one with `wsready token --inventory …`); check "
                "app_auth, app_jwt_secret and app_jwt_audience match what issued it."
            )
        return _critical(
            "auth",
            "auth-mismatch" if rest_accepted else "auth-refused",
            f"Socket.IO refused the token (44 {message}): an auth error, not a transport "
            f"error — {why}",
            ["Transport works: the upgrade gave 101 and Engine.IO opened", *evidence],
            fix,
        )
    if seen.failed("auth-match"):
        return _critical(
            "auth",
            "auth-mismatch",
            "The socket accepts a token that REST refuses: socket auth is not enforced",
            evidence,
            "Enable the same token check on the socket as on REST (app_auth, the Socket.IO "
            "middleware): REST accepts ⇔ socket accepts.",
        )
    if seen.failed("connect"):
        return _critical(
            "socket.io",
            "socketio-connect",
            "Socket.IO did not answer CONNECT on namespace /",
            evidence,
            "Check the app's logs (`journalctl -u 'wsready-app@*'`) for middleware errors.",
        )
    return None


def _idle(seen: _Seen) -> Diagnosis | None:
    ping, idle = seen.get("ping"), seen.get("idle")
    dropped = [
        result
        for result in (ping, idle)
        if result is not None and not result.ok and not result.skipped
    ]
    if not dropped:
        return None
    if any(result.detail.get("error") == "closed" for result in dropped):
        opened = seen.get("open")
        interval = opened.detail.get("ping_interval_ms", 0) if opened else 0
        timeout = opened.detail.get("ping_timeout_ms", 0) if opened else 0
        needed = (interval + timeout) / 1000
        return _critical(
            "proxy idle",
            "idle-drop",
            "Idle connections are dropped: the proxy's read timeout is shorter than "
            f"pingInterval + pingTimeout ({needed:g} s)",
            seen.lines("open", "ping", "idle"),
            f"Raise nginx `proxy_read_timeout` in `location {seen.path}` above {needed:g} s "
            "(nginx_proxy_read_timeout_s) — or lower app_ping_interval_ms — and reload nginx.",
        )
    return _critical(
        "heartbeat",
        "heartbeat",
        "The server sends no Engine.IO ping within pingInterval",
        seen.lines("open", "ping", "idle"),
        "Check the app's event loop (blocked?) and its pingInterval setting.",
    )


def _rest(seen: _Seen) -> Diagnosis | None:
    if not seen.failed("health"):
        return None
    status = seen.status("health")
    return _critical(
        "http",
        "rest-broken",
        f"/api/health fails ({status or seen.error('health')}) while the socket works",
        seen.lines("health"),
        "Check nginx's `location /api/` (nginx_rest_upstream) and the REST backend's logs.",
    )


def _cors_failed(seen: _Seen) -> Diagnosis | None:
    return _cors(seen) if seen.target.origin and seen.failed("cors") else None


def _redis(seen: _Seen) -> Diagnosis | None:
    """Health says Redis is down: every probe may pass, but broadcasts stop at this host."""
    figures = seen.figures()
    if figures.get("redis") != "down":
        return None
    return Diagnosis(
        "redis",
        "Redis is down for the app (health: redis=down): this host serves its own clients, "
        "but broadcasts no longer reach clients on other workers or hosts",
        seen.lines("health"),
        "Check that Redis is up and reachable from every app host: app_redis_url (else the "
        "inventory's `redis` group) and redis_password, the Redis host's firewall and its "
        "security group allowing 6379/tcp (redis_port) from the app hosts; from an app host, "
        "`redis-cli -h HOST -a PASSWORD ping` (a local Redis: `redis-cli -s "
        "/run/redis/redis-server.sock ping`) must answer PONG. The app reconnects by itself "
        "(health says redis=ok again, no restart needed).",
        ExitStatus.WARNING,
        "redis-down",
    )


def _capacity_warning(seen: _Seen) -> Diagnosis | None:
    """Every socket probe passes, but workers are down or the host is at its limit."""
    strain = _host_strain(seen.figures())
    if strain is None:
        return None
    code, host_says, fix = strain
    return Diagnosis(
        "capacity",
        f"Degraded: {host_says}; the probes still connect",
        seen.lines("health"),
        fix,
        ExitStatus.WARNING,
        code,
    )


def _degraded(seen: _Seen) -> Diagnosis | None:
    warnings = [result for result in seen.by_name.values() if result.ok and result.warning]
    if seen.failed("polling"):
        return Diagnosis(
            "polling",
            "The long-polling transport fails; WebSocket-only clients still work",
            seen.lines("polling"),
            f"Check nginx's `location {seen.path}` passes GET/POST with query strings to the app.",
            ExitStatus.WARNING,
            "polling-broken",
        )
    if warnings:
        return Diagnosis(
            warnings[0].layer,
            "Degraded: " + "; ".join(f"{result.probe} {result.actual}" for result in warnings),
            [str(result) for result in warnings],
            "Renew certificates before they expire; look at latency on the host and network.",
            ExitStatus.WARNING,
            "degraded",
        )
    return None


RULES: tuple[Callable[[_Seen], Diagnosis | None], ...] = (
    _dns,
    _tcp,
    _tls,
    _app_down,
    _capacity,
    _websocket,
    _auth,
    _idle,
    _rest,
    _cors_failed,
    _redis,
    _capacity_warning,
    _degraded,
)


def diagnose(target: Target, results: Sequence[ProbeResult]) -> Diagnosis:
    """The first broken layer, in layer order; `status` OK only when nothing is wrong."""
    seen = _Seen(target, results)
    notes = [str(result) for result in results if result.skipped and result.detail.get("note")]
    for rule in RULES:
        diagnosis = rule(seen)
        if diagnosis is not None:
            diagnosis.notes = notes
            return diagnosis
    return Diagnosis(
        "none",
        f"All layers work: Socket.IO at {target.socketio_path} on {seen.where} is ready",
        seen.lines("health", "upgrade", "connect", "auth-match"),
        "Nothing to fix.",
        ExitStatus.OK,
        "ok",
        notes,
    )
