"""What a probe run is about (Target), what each probe is (Probe), what it saw (ProbeResult)."""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from wsready import validate
from wsready.probes.conditions import Condition, describe
from wsready.validate import ConfigError

SCHEMES = ("http", "https", "ws", "wss")
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
REDACTED = "[token redacted]"
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


@dataclass(frozen=True)
class Target:
    """One Socket.IO service: `url` is http(s)://HOST[:PORT] (ws:// and wss:// accepted too).

    `token` is sent as the Socket.IO auth payload and as a REST Bearer token; it never
    appears in repr() nor in any probe result. `tls_verify` follows requests: True, False
    (self-signed sandboxes) or the path of a CA bundle. `connect_address`: connect there
    instead of to the URL's host (curl's --connect-to: one host behind a DNS name); the URL's
    host stays the Host header, the TLS server name and the name the certificate must match.
    """

    url: str
    socketio_path: str = "/ws"
    token: str | None = field(default=None, repr=False)
    origin: str | None = None
    name: str | None = None
    health_path: str = "/api/health"
    rest_auth_path: str = "/api/whoami"
    tls_verify: bool | str = True
    connect_address: str | None = None
    # Extra request headers on every HTTP and WebSocket request of the probes (the deploy's
    # X-Wsready-Generation, which picks the generation of workers to prove): ((name, value),).
    headers: tuple[tuple[str, str], ...] = ()
    # A front door's app hosts (the names their nginx gives in X-Wsready-Host) that must each
    # answer through it: the sessions are held until every one has, and a host that never
    # does is named (`check --inventory` with a `balancer` group, `--expect-host`).
    behind: tuple[str, ...] = ()
    # The check's labels of the app hosts this front door is in front of (`check --inventory`
    # with a `balancer` group): they are checked first, and the names of those healthy on
    # their own address become `behind` (wsready/fleet/sweep.py).
    front_of: tuple[str, ...] = ()
    # The clients connect with `transports: ['websocket']` only (lb_websocket_only): the app
    # must refuse long-polling, and no polling session is expected to work.
    websocket_only: bool = False

    def __post_init__(self) -> None:
        for host in self.behind:
            if not isinstance(host, str) or not _HOST_NAME.match(host):
                raise ConfigError("behind", host, "is not a host name (letters, digits, . _ -)")
        for name, value in self.headers:
            if not _HEADER_NAME.match(name) or any(c in value for c in "\r\n\0"):
                raise ConfigError(
                    "headers", name, "not a header name, or a value with a line break"
                )
        validate.url("url", self.url, schemes=SCHEMES)
        if self.connect_address is not None:
            validate.host("connect_address", self.connect_address)
        validate.url_path("socketio_path", self.socketio_path)
        validate.url_path("health_path", self.health_path)
        validate.url_path("rest_auth_path", self.rest_auth_path)
        if self.origin is not None:
            validate.url("origin", self.origin)

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def secure(self) -> bool:
        return self.scheme in ("https", "wss")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or DEFAULT_PORTS[self.scheme]

    @property
    def dial_host(self) -> str:
        """Where connections go: `connect_address`, else the URL's host."""
        return self.connect_address or self.host

    def dial_url(self, url: str) -> str:
        """`url` (one of this target's) with its host replaced by `connect_address`."""
        if not self.connect_address:
            return url
        parts = urlsplit(url)
        address = self.connect_address
        shown = f"[{address}]" if ":" in address else address
        port = f":{parts.port}" if parts.port else ""
        return parts._replace(netloc=f"{shown}{port}").geturl()

    @property
    def host_header(self) -> str:
        """The URL's host[:port] as a Host header (the default port left out)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def label(self) -> str:
        return self.name or self.url

    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def http_url(self, path: str) -> str:
        return f"{'https' if self.secure else 'http'}://{self._netloc()}{path}"

    def ws_url(self, path: str) -> str:
        return f"{'wss' if self.secure else 'ws'}://{self._netloc()}{path}"

    def engineio_path(self, transport: str) -> str:
        return f"{self.socketio_path.rstrip('/')}/?EIO=4&transport={transport}"

    def redact(self, text: str) -> str:
        """`text` with the token (if any) replaced: a last guard for every string we emit."""
        if self.token and self.token in text:
            return text.replace(self.token, REDACTED)
        return text


@dataclass(frozen=True)
class Thresholds:
    """When an OK probe is still a degradation (WARNING) or too close to failing (CRITICAL)."""

    latency_warn_s: float = 1.0
    tls_warn_days: int = 21
    tls_crit_days: int = 7


@dataclass(frozen=True)
class Probe:
    """One check as data: what it is, where it goes, what it expects, how long it may take.

    `conditions` must all hold on what the probe saw (its result's `detail`) for it to pass;
    the first names the probe's subject and expectation. `warn_unless`: conditions that, when
    a passing probe misses one, make it a WARNING (slow, certificate expiring soon).
    `needs`: probes that must have succeeded first; otherwise this one is skipped.
    """

    name: str
    layer: str
    kind: str
    target: str
    conditions: tuple[Condition, ...]
    timeout_s: float
    needs: tuple[str, ...] = ()
    warn_unless: tuple[Condition, ...] = ()

    @property
    def subject(self) -> str:
        return self.conditions[0].subject

    @property
    def expected(self) -> str:
        return self.conditions[0].expectation


@dataclass
class ProbeResult:
    """What one probe saw. str() reads like a Gatus condition: `upgrade status (404) == 101`.

    `subject (actual) expected` is the condition the verdict names (the first that failed,
    else the probe's first); `conditions` lists each one judged with whether it held.
    `ok` with `warning` is a degradation (slow, certificate expiring soon). `skipped` means
    the probe did not run (an earlier layer failed, or it does not apply); `actual` says why.
    """

    probe: str
    layer: str
    ok: bool
    expected: str
    actual: str
    duration_s: float
    skipped: bool = False
    detail: dict[str, Any] = field(default_factory=dict)
    subject: str = ""
    warning: bool = False
    conditions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.skipped:
            return "skipped"
        if not self.ok:
            return "FAIL"
        return "WARN" if self.warning else "ok"

    @property
    def condition(self) -> str:
        """The condition with its actual value (`status (404) == 101`), or why it was skipped:
        what the layer tables print beside the probe's name."""
        if self.skipped:
            return self.actual
        return describe(self.subject, self.actual, self.expected)

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.probe} skipped: {self.actual}"
        return f"{self.probe} {self.condition}"

    def to_dict(self) -> dict[str, Any]:
        """The one shape of a result: diagnose --json, check --json, the report, Prometheus,
        alerts and the status page all read it. `from_dict` reads it back."""
        data = {item.name: _plain(getattr(self, item.name)) for item in _RESULT_FIELDS}
        data["duration_s"] = round(self.duration_s, 4)
        data["state"] = self.state
        data["condition"] = self.condition
        data["text"] = str(self)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        names = {item.name for item in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


_RESULT_FIELDS = dataclasses.fields(ProbeResult)


def _plain(value: Any) -> Any:
    """What `dataclasses.asdict` makes of a field's value (containers copied, dataclasses as
    dicts, anything else deep-copied), without its deepcopy of every str and number: a
    fleet's report converts ~10 results per target (issue 26)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {_plain(key): _plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_plain(inner) for inner in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_plain(inner) for inner in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return copy.deepcopy(value)
