"""Every probe's name and kind, each spelled once.

A probe's *name* is what its result, the reports, `--json` and the diagnosis call it
(`ProbeResult.probe`); its *kind* picks its runner (`runner.RUNNERS`) and the typed view of
what it saw (`observed.OBSERVED`). The strings are part of the CLI's outputs: never change one.
"""

from __future__ import annotations

# --- names, in layer order (wsready/probes/plan.py) -----------------------------------------
DNS = "dns"
TCP = "tcp"
TLS = "tls"
SERVER = "server"
HEALTH = "health"
POLLING = "polling"
UPGRADE = "upgrade"
OPEN = "open"
CONNECT = "connect"
PING = "ping"
SESSION = "session"
SESSION_UPGRADE = "session-upgrade"
WEBSOCKET_ONLY = "websocket-only"
WORKERS = "workers"
BROADCAST = "broadcast"
HOSTS = "hosts"  # behind a front door: every expected app host answers through it
IDLE = "idle"
CORS = "cors"
REST_AUTH = "rest-auth"
AUTH_MATCH = "auth-match"
HOSTS_BROADCAST = "hosts-broadcast"  # across targets that share a Redis (probes/hosts.py)


class Kind:
    """The probes' kinds: which runner runs a probe and how its result is typed."""

    DNS = "dns"
    TCP = "tcp"
    TLS = "tls"
    SERVER = "server"
    HTTP_HEALTH = "http-health"
    EIO_POLLING = "eio-polling"
    WS_UPGRADE = "ws-upgrade"
    EIO_OPEN = "eio-open"
    SIO_CONNECT = "sio-connect"
    EIO_HEARTBEAT = "eio-heartbeat"
    IDLE = "idle"
    CORS = "cors"
    REST_AUTH = "rest-auth"
    AUTH_AGREEMENT = "auth-agreement"
    SIO_SESSION = "sio-session"
    SIO_SESSION_UPGRADE = "sio-session-upgrade"
    SIO_WEBSOCKET_ONLY = "sio-websocket-only"
    SIO_WORKERS = "sio-workers"
    SIO_BROADCAST = "sio-broadcast"
    FRONT_DOOR_HOSTS = "front-door-hosts"
    HOSTS_BROADCAST = "hosts-broadcast"


KINDS: tuple[str, ...] = tuple(
    value for key, value in vars(Kind).items() if not key.startswith("_")
)
