"""The probes for a target, as data, in layer order (DNS → TCP → TLS → who answers →
HTTP → polling → WebSocket → Engine.IO → Socket.IO → heartbeat → idle → CORS → token on
REST vs socket)."""

from __future__ import annotations

from wsready.probes import names as n
from wsready.probes.conditions import Condition
from wsready.probes.model import Probe, Target, Thresholds
from wsready.probes.names import Kind

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
    transport = (n.TCP, n.TLS) if target.secure else (n.TCP,)
    address = f"{target.host}:{target.port}"
    polling = target.http_url(target.engineio_path("polling"))
    ws = target.ws_url(target.engineio_path("websocket"))
    probes = [
        Probe(
            name=n.DNS,
            layer="dns",
            kind=Kind.DNS,
            target=target.host,
            conditions=(RESOLVES,),
            timeout_s=t,
        ),
        Probe(
            name=n.TCP,
            layer="tcp",
            kind=Kind.TCP,
            target=address,
            conditions=(CONNECTS,),
            timeout_s=t,
            needs=(n.DNS,),
        ),
    ]
    if target.secure:
        expected = f">= {limits.tls_warn_days} (critical < {limits.tls_crit_days})"
        days = Condition("days left", ">=", limits.tls_crit_days, key="days_left", says=expected)
        warn = Condition("days left", ">=", limits.tls_warn_days, key="days_left")
        probes.append(
            Probe(
                name=n.TLS,
                layer="tls",
                kind=Kind.TLS,
                target=address,
                conditions=(days,),
                timeout_s=t,
                needs=(n.TCP,),
                warn_unless=(warn,),
            )
        )
    probes += [
        Probe(
            name=n.SERVER,
            layer="server",
            kind=Kind.SERVER,
            target=address,
            conditions=(Condition("who answers", "exists", key="status", says="answers HTTP"),),
            timeout_s=t,
            needs=transport,
        ),
        Probe(
            name=n.HEALTH,
            layer="http",
            kind=Kind.HTTP_HEALTH,
            target=target.http_url(target.health_path),
            conditions=(Condition("status", "==", 200), HEALTH_BODY),
            timeout_s=t,
            needs=transport,
            warn_unless=(
                Condition("latency", "<=", limits.latency_warn_s, key="latency_s"),
                Condition("degraded", "absent"),
            ),
        ),
        # Polling before the upgrade: a failed upgrade makes nginx take the worker out of the
        # upstream for fail_timeout, and polling would then see nginx's 502, not the app.
        Probe(
            name=n.POLLING,
            layer="polling",
            kind=Kind.EIO_POLLING,
            target=polling,
            conditions=POLLING_REFUSED if target.websocket_only else POLLING_OPEN,
            timeout_s=t,
            needs=transport,
        ),
        Probe(
            name=n.UPGRADE,
            layer="websocket",
            kind=Kind.WS_UPGRADE,
            target=ws,
            conditions=(Condition("status", "==", 101),),
            timeout_s=t,
            needs=transport,
        ),
        Probe(
            name=n.OPEN,
            layer="engine.io",
            kind=Kind.EIO_OPEN,
            target=ws,
            conditions=(OPEN_PACKET,),
            timeout_s=t,
            needs=(n.UPGRADE,),
        ),
        Probe(
            name=n.CONNECT,
            layer="socket.io",
            kind=Kind.SIO_CONNECT,
            target=f"namespace / at {target.socketio_path}",
            conditions=(
                Condition("CONNECT answer", "==", True, key="accepted", says="== 40 (accepted)"),
            ),
            timeout_s=t,
            needs=(n.OPEN,),
        ),
        Probe(
            name=n.PING,
            layer="heartbeat",
            kind=Kind.EIO_HEARTBEAT,
            target=target.ws_url(target.socketio_path),
            conditions=(PING,),
            timeout_s=t,
            needs=(n.CONNECT,),
        ),
    ]
    probes += _client_probes(target, t, transport)
    if idle:
        probes.append(
            Probe(
                name=n.IDLE,
                layer="proxy idle",
                kind=Kind.IDLE,
                target=target.ws_url(target.socketio_path),
                conditions=(IDLE_SURVIVED,),
                timeout_s=t,
                needs=(n.CONNECT,),
            )
        )
    if target.origin and not target.websocket_only:  # CORS applies to polling only
        allowed, origins = f"== {target.origin}", (target.origin, "*")
        probes.append(
            Probe(
                name=n.CORS,
                layer="cors",
                kind=Kind.CORS,
                target=polling,
                conditions=(
                    Condition("Origin allowed", "==", 200, key="status", says=allowed),
                    Condition("Origin allowed", "in", origins, key="allow_origin", says=allowed),
                ),
                timeout_s=t,
                needs=transport,
            )
        )
    if target.token is not None:
        probes += [
            Probe(
                name=n.REST_AUTH,
                layer="auth",
                kind=Kind.REST_AUTH,
                target=target.http_url(target.rest_auth_path),
                conditions=(Condition("status with token", "==", 200, key="status"),),
                timeout_s=t,
                needs=transport,
            ),
            Probe(
                name=n.AUTH_MATCH,
                layer="auth",
                kind=Kind.AUTH_AGREEMENT,
                target="REST and socket",
                conditions=(AUTH_AGREES,),
                timeout_s=t,
            ),
        ]
    return probes


def _client_probes(target: Target, t: float, transport: tuple[str, ...]) -> list[Probe]:
    """The official client's own ways in, sampled over every worker (probes/sampled.py)."""
    polling = target.http_url(target.engineio_path("polling"))
    ws = target.ws_url(target.engineio_path("websocket"))
    polling_sessions = (
        (n.SESSION, "polling session", Kind.SIO_SESSION, polling, SESSIONS_OK),
        (n.SESSION_UPGRADE, "session upgrade", Kind.SIO_SESSION_UPGRADE, ws, UPGRADES_OK),
    )
    behind = (
        n.HOSTS, "front door", Kind.FRONT_DOOR_HOSTS,
        f"the front door's hosts {', '.join(target.behind)}", HOSTS_ANSWER,
    )  # fmt: skip
    sampled = (
        *(() if target.websocket_only else polling_sessions),
        (n.WEBSOCKET_ONLY, "websocket-only", Kind.SIO_WEBSOCKET_ONLY, ws, WEBSOCKET_ONLY_OK),
        (n.WORKERS, "workers", Kind.SIO_WORKERS, "every worker /api/health lists", WORKERS_OK),
        (n.BROADCAST, "broadcast", Kind.SIO_BROADCAST, "a held client on every worker", DELIVERED),
        *((behind,) if target.behind else ()),
    )
    return [
        Probe(
            name=name,
            layer=layer,
            kind=kind,
            target=where,
            conditions=(condition,),
            timeout_s=t,
            needs=transport,
        )
        for name, layer, kind, where, condition in sampled
    ]
