"""The probes for a target, as data, in layer order (DNS → TCP → TLS → who answers →
HTTP → polling → WebSocket → Engine.IO → Socket.IO → heartbeat → idle → CORS → token on
REST vs socket)."""

from __future__ import annotations

from wsready.probes.conditions import Condition
from wsready.probes.model import Probe, Target, Thresholds

# The conditions that do not depend on the target or the thresholds.
RESOLVES = Condition("name", "exists", key="addresses", says="resolves")
CONNECTS = Condition("connect", "==", True, key="connected", says="succeeds")
HEALTH_BODY = Condition(
    "body", "exists", key="json", says='has status="ok" (or "degraded") and websocket'
)
POLLING_SAYS = "== 200 + 0{"
POLLING_OPEN = (
    Condition("answer", "==", 200, key="status", says=POLLING_SAYS),
    Condition("answer", "startswith", "0{", key="first_packet", says=POLLING_SAYS),
)
POLLING_REFUSED = (
    Condition(
        "answer", "==", 0, key="engineio_code",
        says='Engine.IO 0 "Transport unknown" (WebSocket only: lb_websocket_only)',
    ),
)  # fmt: skip
OPEN_PACKET = Condition(
    "first packet", "exists", key="sid", says="== 0{sid,pingInterval,pingTimeout,upgrades}"
)
PING = Condition("server ping", "exists", key="ping_after_s", says="arrives within pingInterval")
IDLE_SURVIVED = Condition(
    "connection", "==", True, key="alive", says="survives pingInterval + pingTimeout"
)
AUTH_AGREES = Condition("token", "==", True, key="agree", says="REST accepts ⇔ socket accepts")
SESSIONS_OK = Condition(
    "polling sessions", "==", 0, key="failed", says="all pass: handshake, POST 40, GET 40"
)
UPGRADES_OK = Condition(
    "their upgrades", "==", 0, key="failed", says="all pass: 101 with sid, 3probe, 5, messages"
)
WEBSOCKET_ONLY_OK = Condition(
    "WebSocket-only sessions", "==", 0, key="failed", says="all pass: 101, open, 40, messages"
)
WORKERS_OK = Condition(
    "workers", "==", 0, key="workers_failing", says="all reached both ways in, all pass"
)
DELIVERED = Condition("broadcast", "==", True, key="delivered", says="reaches every worker")
HOSTS_ANSWER = Condition(
    "hosts", "==", 0, key="hosts_missing", says="every expected host answers through it"
)


def plan_probes(
    target: Target,
    timeout_s: float = 10.0,
    idle: bool = False,
    thresholds: Thresholds | None = None,
) -> list[Probe]:
    """The probes for `target`, in layer order, each with its `needs`."""
    limits = thresholds or Thresholds()
    t = timeout_s
    transport = ("tcp", "tls") if target.secure else ("tcp",)
    address = f"{target.host}:{target.port}"
    probes = [
        Probe("dns", "dns", "dns", target.host, (RESOLVES,), t),
        Probe("tcp", "tcp", "tcp", address, (CONNECTS,), t, ("dns",)),
    ]
    if target.secure:
        expected = f">= {limits.tls_warn_days} (critical < {limits.tls_crit_days})"
        days = Condition("days left", ">=", limits.tls_crit_days, key="days_left", says=expected)
        warn = Condition("days left", ">=", limits.tls_warn_days, key="days_left")
        probes.append(Probe("tls", "tls", "tls", address, (days,), t, ("tcp",), (warn,)))
    probes += [
        Probe(
            "server",
            "server",
            "server",
            address,
            (Condition("who answers", "exists", key="status", says="answers HTTP"),),
            t,
            transport,
        ),
        Probe(
            "health",
            "http",
            "http-health",
            target.http_url(target.health_path),
            (Condition("status", "==", 200), HEALTH_BODY),
            t,
            transport,
            warn_unless=(
                Condition("latency", "<=", limits.latency_warn_s, key="latency_s"),
                Condition("degraded", "absent"),
            ),
        ),
        # Polling before the upgrade: a failed upgrade makes nginx take the worker out of the
        # upstream for fail_timeout, and polling would then see nginx's 502, not the app.
        Probe(
            "polling",
            "polling",
            "eio-polling",
            target.http_url(target.engineio_path("polling")),
            POLLING_REFUSED if target.websocket_only else POLLING_OPEN,
            t,
            transport,
        ),
        Probe(
            "upgrade",
            "websocket",
            "ws-upgrade",
            target.ws_url(target.engineio_path("websocket")),
            (Condition("status", "==", 101),),
            t,
            transport,
        ),
        Probe(
            "open",
            "engine.io",
            "eio-open",
            target.ws_url(target.engineio_path("websocket")),
            (OPEN_PACKET,),
            t,
            ("upgrade",),
        ),
        Probe(
            "connect",
            "socket.io",
            "sio-connect",
            f"namespace / at {target.socketio_path}",
            (Condition("CONNECT answer", "==", True, key="accepted", says="== 40 (accepted)"),),
            t,
            ("open",),
        ),
        Probe(
            "ping",
            "heartbeat",
            "eio-heartbeat",
            target.ws_url(target.socketio_path),
            (PING,),
            t,
            ("connect",),
        ),
    ]
    probes += _client_probes(target, t, transport)
    if idle:
        probes.append(
            Probe(
                "idle",
                "proxy idle",
                "idle",
                target.ws_url(target.socketio_path),
                (IDLE_SURVIVED,),
                t,
                ("connect",),
            )
        )
    if target.origin and not target.websocket_only:  # CORS applies to polling only
        allowed, origins = f"== {target.origin}", (target.origin, "*")
        probes.append(
            Probe(
                "cors",
                "cors",
                "cors",
                target.http_url(target.engineio_path("polling")),
                (
                    Condition("Origin allowed", "==", 200, key="status", says=allowed),
                    Condition("Origin allowed", "in", origins, key="allow_origin", says=allowed),
                ),
                t,
                transport,
            )
        )
    if target.token is not None:
        probes += [
            Probe(
                "rest-auth",
                "auth",
                "rest-auth",
                target.http_url(target.rest_auth_path),
                (Condition("status with token", "==", 200, key="status"),),
                t,
                transport,
            ),
            Probe(
                "auth-match",
                "auth",
                "auth-agreement",
                "REST and socket",
                (AUTH_AGREES,),
                t,
            ),
        ]
    return probes


def _client_probes(target: Target, t: float, transport: tuple[str, ...]) -> list[Probe]:
    """The official client's own ways in, sampled over every worker (probes/sampled.py)."""
    polling = target.http_url(target.engineio_path("polling"))
    ws = target.ws_url(target.engineio_path("websocket"))
    behind = (
        [
            Probe(
                "hosts",
                "front door",
                "front-door-hosts",
                f"the front door's hosts {', '.join(target.behind)}",
                (HOSTS_ANSWER,),
                t,
                transport,
            )
        ]
        if target.behind
        else []
    )
    polling_sessions = [
        Probe("session", "polling session", "sio-session", polling, (SESSIONS_OK,), t, transport),
        Probe(
            "session-upgrade",
            "session upgrade",
            "sio-session-upgrade",
            ws,
            (UPGRADES_OK,),
            t,
            transport,
        ),  # fmt: skip
    ]
    return [
        *([] if target.websocket_only else polling_sessions),
        Probe(
            "websocket-only",
            "websocket-only",
            "sio-websocket-only",
            ws,
            (WEBSOCKET_ONLY_OK,),
            t,
            transport,
        ),  # fmt: skip
        Probe(
            "workers",
            "workers",
            "sio-workers",
            "every worker /api/health lists",
            (WORKERS_OK,),
            t,
            transport,
        ),  # fmt: skip
        Probe(
            "broadcast",
            "broadcast",
            "sio-broadcast",
            "a held client on every worker",
            (DELIVERED,),
            t,
            transport,
        ),  # fmt: skip
        *behind,
    ]
