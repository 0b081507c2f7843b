"""What each kind of probe saw, typed: one frozen class per kind, one field per key its runner
writes into `ProbeResult.detail`.

`detail` stays the one shape every output carries (JSON, the report, Prometheus, history);
these classes are how code reads it: `Answer.of(result).status`, not
`result.detail.get("status")`. A field is None (or its stated default) when the runner did
not write the key; `has(key)` tells "absent" from "None" where that matters (an answer whose
headers were not looked at has no `fingerprint` key; one without wsready's header has None).
A new key a runner writes becomes a field here; a new kind gets its class in `OBSERVED`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from wsready.probes.http import HEALTH_FIGURES
from wsready.probes.model import ProbeResult
from wsready.probes.names import Kind


@functools.cache
def _keys(cls: type) -> frozenset[str]:
    return frozenset(item.name for item in dataclasses.fields(cls) if item.name != "present")


@dataclass(frozen=True)
class Fields:
    """A typed view of one mapping of a probe's detail (the result's, or one of its rows)."""

    present: frozenset[str] = field(default=frozenset(), repr=False)

    @classmethod
    def read(cls, data: Mapping[str, Any] | None) -> Self:
        """The fields of `data` this class names (other keys are left out)."""
        keys = _keys(cls)
        values = {key: value for key, value in (data or {}).items() if key in keys}
        return cls(present=frozenset(values), **values)

    @classmethod
    def rows(cls, items: Iterable[Any] | None) -> list[Self]:
        """Each mapping of `items` read (anything else in the list is skipped)."""
        return [cls.read(item) for item in items or [] if isinstance(item, dict)]

    def has(self, key: str) -> bool:
        """Whether the runner wrote `key` (even as None)."""
        return key in self.present


@dataclass(frozen=True)
class Observed(Fields):
    """What every probe may say: how it failed (`error`: timeout, refused, closed, network,
    handshake, verify, …), a `note` beside a skip, and whether a failure skips the probes
    that need it (`blocks_later`: False for a certificate that expires soon)."""

    target: str | None = None  # the probe's target, as every result carries it
    error: str | None = None
    note: str | None = None
    blocks_later: bool = True

    @classmethod
    def of(cls, result: ProbeResult | None) -> Self:
        """The view of `result`'s detail; every field absent when there is no result."""
        return cls.read(None if result is None else result.detail)


@dataclass(frozen=True)
class Resolved(Observed):
    """dns: the addresses the name resolves to."""

    addresses: list[str] | None = None
    gai_errno: int | None = None


@dataclass(frozen=True)
class Reached(Observed):
    """tcp: the address a connection was made to (or last tried)."""

    address: str | None = None
    connected: bool | None = None


@dataclass(frozen=True)
class Answer(Observed):
    """An HTTP answer (server, polling, the upgrade, cors, rest-auth) and who sent it:
    `fingerprint` (X-Wsready-Config: wsready's site), `worker`, `host` (X-Wsready-Host)."""

    status: int | None = None
    content_type: str | None = None
    server: str | None = None
    fingerprint: str | None = None
    worker: str | None = None
    host: str | None = None
    location: str | None = None
    body: str | None = None
    headers: dict[str, Any] | None = None
    engineio_error: dict[str, Any] | None = None  # {code, message}
    engineio_code: int | None = None  # polling: engineio_error's code, for its conditions
    ours: bool | None = None
    accept_verified: bool | None = None
    first_packet: str | None = None  # polling
    offered: bool | None = None  # polling still offered in WebSocket-only mode
    origin: str | None = None  # cors
    allow_origin: str | None = None  # cors
    accepted: bool | None = None  # rest-auth


@dataclass(frozen=True)
class Certificate(Answer):
    """tls: the days the certificate has left, or why the handshake failed (with, when plain
    HTTP answers on the TLS port, that answer's fields)."""

    days_left: float | None = None
    tls_version: str | None = None
    tls_cipher: str | None = None
    reason: str | None = None  # OpenSSL's verify message
    verify: str | None = None  # expired, not-yet-valid, name, untrusted
    alert: str | None = None  # OpenSSL's reason for a refused handshake
    plain_http: bool | None = None  # plain HTTP answered on the TLS port


@dataclass(frozen=True)
class WorkerSays(Fields):
    """One row of /api/health's worker list: what a worker says of itself."""

    worker: Any = None
    path: str | None = None
    transports: list[str] | None = None
    upgrades: bool | None = None
    config: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class Health(Answer):
    """http-health: the answer, its latency, and what the host says of itself."""

    latency_s: float | None = None
    json: dict[str, Any] | None = None
    degraded: list[str] | None = None
    clients: int | None = None
    max_clients: int | None = None
    workers_up: int | None = None
    workers_total: int | None = None
    redis: str | None = None  # off, ok, down
    worker_list: list[dict[str, Any]] | None = None
    probe_events: bool | None = None
    redis_id: str | None = None

    @property
    def figures(self) -> dict[str, Any]:
        """The host's figures it reported (clients, workers, redis), by HEALTH_FIGURES name."""
        return {key: getattr(self, key) for key in HEALTH_FIGURES if self.has(key)}

    @property
    def workers_said(self) -> list[WorkerSays]:
        return WorkerSays.rows(self.worker_list)


@dataclass(frozen=True)
class EngineOpened(Observed):
    """eio-open: the open packet."""

    sid: str | None = None
    ping_interval_ms: int | None = None
    ping_timeout_ms: int | None = None
    upgrades: list[str] | None = None


@dataclass(frozen=True)
class SocketConnect(Observed):
    """sio-connect: the CONNECT answer (40 accepted, 44 refused with `message`)."""

    token_sent: bool | None = None
    accepted: bool | None = None
    message: str | None = None
    protocol: str | None = None  # "socket.io 2": a 40 without a sid
    sid: str | None = None
    data: Any = None


@dataclass(frozen=True)
class Heartbeat(Observed):
    """eio-heartbeat, idle: when the server's ping came, how long the connection lived."""

    ping_after_s: float | None = None
    ping_interval_ms: int | None = None
    after_s: float | None = None
    hold_s: float | None = None
    alive: bool | None = None
    pings: int | None = None


@dataclass(frozen=True)
class AuthAgreement(Observed):
    """auth-agreement: whether REST and the socket agree on the token."""

    rest_accepted: bool | None = None
    socket_accepted: bool | None = None
    agree: bool | None = None


@dataclass(frozen=True)
class Failure(Fields):
    """One failed session of the official client's: its mode, the step that failed and what
    answered it (worker, host), the worker and host that made the session."""

    mode: str | None = None
    step: str | None = None
    ok: bool | None = None
    said: str | None = None
    ms: float | None = None
    status: int | None = None
    worker: str | None = None
    engineio_error: dict[str, Any] | None = None
    host: str | None = None
    server: str | None = None
    sid_worker: str | None = None
    session_worker: str | None = None
    session_host: str | None = None

    @property
    def code(self) -> int | None:
        """Engine.IO's error code in the answer, if any."""
        error = self.engineio_error
        return error.get("code") if isinstance(error, dict) else None


@dataclass(frozen=True)
class WorkerRow(Fields):
    """sio-workers: one worker's sessions and what health says of it."""

    worker: Any = None
    host: str | None = None  # behind a front door: the host the worker runs on
    name: str | None = None  # behind a front door: `host/worker`
    listed: bool = True
    sessions: int | None = None
    failed: int | None = None
    unreached: list[str] | None = None
    unreached_failing: list[str] | None = None
    failures: list[dict[str, Any]] | None = None
    says: dict[str, Any] | None = None

    @property
    def failed_sessions(self) -> list[Failure]:
        return Failure.rows(self.failures)


@dataclass(frozen=True)
class Sessions(Observed):
    """The official client's sessions (sio-session, sio-session-upgrade, sio-websocket-only,
    sio-workers, sio-broadcast, hosts-broadcast): counts, failures, the per-worker table,
    the broadcast's emitter and the workers or hosts it missed."""

    sessions: int | None = None
    failed: int | None = None
    workers: list[str] | None = None
    failures: list[dict[str, Any]] | None = None
    session_steps: list[dict[str, Any]] | None = None
    upgrades: list[str] | None = None
    workers_failing: int | None = None
    failing: list[str] | None = None
    worker_table: list[dict[str, Any]] | None = None
    listed: list[str] | None = None
    bound: Any = None
    unattributed: list[dict[str, Any]] | None = None
    emitter: str | None = None
    holders: list[str] | None = None
    missing: list[str] | None = None
    unreachable: list[str] | None = None
    delivered: bool | None = None
    redis_id: str | None = None
    hosts: list[str] | None = None
    host_table: list[dict[str, Any]] | None = None  # sio-workers: per app host that answered

    @property
    def failed_sessions(self) -> list[Failure]:
        return Failure.rows(self.failures)

    @property
    def table(self) -> list[WorkerRow]:
        return WorkerRow.rows(self.worker_table)

    @property
    def step_hosts(self) -> list[str]:
        """The hosts (X-Wsready-Host) that answered the steps of the sessions."""
        return [
            str(step["host"])
            for session in self.session_steps or []
            if isinstance(session, dict)
            for step in session.get("steps") or []
            if isinstance(step, dict) and step.get("host")
        ]


@dataclass(frozen=True)
class FrontDoorHosts(Observed):
    """front-door-hosts: the app hosts expected behind the front door, those that answered a
    step of the sampled sessions, and those that never did."""

    expected: list[str] | None = None
    reached: list[str] | None = None
    missing: list[str] | None = None
    hosts_missing: int | None = None
    unexpected: list[str] | None = None
    sessions: int | None = None
    bound: Any = None
    # Per app host: {host, expected, sessions, failed, workers, modes, steps}.
    host_table: list[dict[str, Any]] | None = None


OBSERVED: dict[str, type[Observed]] = {
    Kind.DNS: Resolved,
    Kind.TCP: Reached,
    Kind.TLS: Certificate,
    Kind.SERVER: Answer,
    Kind.HTTP_HEALTH: Health,
    Kind.EIO_POLLING: Answer,
    Kind.WS_UPGRADE: Answer,
    Kind.EIO_OPEN: EngineOpened,
    Kind.SIO_CONNECT: SocketConnect,
    Kind.EIO_HEARTBEAT: Heartbeat,
    Kind.IDLE: Heartbeat,
    Kind.CORS: Answer,
    Kind.REST_AUTH: Answer,
    Kind.AUTH_AGREEMENT: AuthAgreement,
    Kind.SIO_SESSION: Sessions,
    Kind.SIO_SESSION_UPGRADE: Sessions,
    Kind.SIO_WEBSOCKET_ONLY: Sessions,
    Kind.SIO_WORKERS: Sessions,
    Kind.SIO_BROADCAST: Sessions,
    Kind.FRONT_DOOR_HOSTS: FrontDoorHosts,
    Kind.HOSTS_BROADCAST: Sessions,
}
