"""The probes for a target, as data, in layer order (DNS → TCP → TLS → who answers →
HTTP → polling → WebSocket → Engine.IO → Socket.IO → heartbeat → idle → CORS → token on
REST vs socket)."""

from __future__ import annotations

from wsready.probes.model import Probe, Target, Thresholds


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
        Probe("dns", "dns", "dns", target.host, "name", "resolves", t),
        Probe("tcp", "tcp", "tcp", address, "connect", "succeeds", t, ("dns",)),
    ]
    if target.secure:
        expected = f">= {limits.tls_warn_days} (critical < {limits.tls_crit_days})"
        probes.append(Probe("tls", "tls", "tls", address, "days left", expected, t, ("tcp",)))
    probes += [
        Probe(
            "server",
            "server",
            "server",
            address,
            "who answers",
            "answers HTTP",
            t,
            transport,
        ),
        Probe(
            "health",
            "http",
            "http-health",
            target.http_url(target.health_path),
            "status",
            "== 200",
            t,
            transport,
        ),
        # Polling before the upgrade: a failed upgrade makes nginx take the worker out of the
        # upstream for fail_timeout, and polling would then see nginx's 502, not the app.
        Probe(
            "polling",
            "polling",
            "eio-polling",
            target.http_url(target.engineio_path("polling")),
            "answer",
            "== 200 + 0{",
            t,
            transport,
        ),
        Probe(
            "upgrade",
            "websocket",
            "ws-upgrade",
            target.ws_url(target.engineio_path("websocket")),
            "status",
            "== 101",
            t,
            transport,
        ),
        Probe(
            "open",
            "engine.io",
            "eio-open",
            target.ws_url(target.engineio_path("websocket")),
            "first packet",
            "== 0{sid,pingInterval,pingTimeout,upgrades}",
            t,
            ("upgrade",),
        ),
        Probe(
            "connect",
            "socket.io",
            "sio-connect",
            f"namespace / at {target.socketio_path}",
            "CONNECT answer",
            "== 40 (accepted)",
            t,
            ("open",),
        ),
        Probe(
            "ping",
            "heartbeat",
            "eio-heartbeat",
            target.ws_url(target.socketio_path),
            "server ping",
            "arrives within pingInterval",
            t,
            ("connect",),
        ),
    ]
    if idle:
        probes.append(
            Probe(
                "idle",
                "proxy idle",
                "idle",
                target.ws_url(target.socketio_path),
                "connection",
                "survives pingInterval + pingTimeout",
                t,
                ("connect",),
            )
        )
    if target.origin:
        probes.append(
            Probe(
                "cors",
                "cors",
                "cors",
                target.http_url(target.engineio_path("polling")),
                "Origin allowed",
                f"== {target.origin}",
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
                "status with token",
                "== 200",
                t,
                transport,
            ),
            Probe(
                "auth-match",
                "auth",
                "auth-agreement",
                "REST and socket",
                "token",
                "REST accepts ⇔ socket accepts",
                t,
            ),
        ]
    return probes
