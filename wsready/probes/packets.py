"""Engine.IO v4 / Socket.IO v5 packets as text: `0{...}` open, `2` ping, `40{...}` connect.

Framing is websocket-client's job; this only reads and writes the packet strings inside.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Engine.IO packet types (first character).
EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE, EIO_UPGRADE, EIO_NOOP = "0123456"
# Socket.IO packet types (second character of an Engine.IO message).
SIO_CONNECT, SIO_DISCONNECT, SIO_EVENT, SIO_ACK, SIO_CONNECT_ERROR = "01234"
POLLING_SEPARATOR = "\x1e"
OPEN_FIELDS = ("sid", "pingInterval", "pingTimeout", "upgrades")


class PacketError(ValueError):
    """Text that is not the Engine.IO / Socket.IO packet we expected."""


@dataclass(frozen=True)
class EngineOpen:
    sid: str
    ping_interval_ms: int
    ping_timeout_ms: int
    upgrades: tuple[str, ...]
    max_payload: int | None = None


@dataclass(frozen=True)
class SocketPacket:
    """A Socket.IO packet: `type` is one of SIO_*, `data` the decoded JSON (or None)."""

    type: str
    namespace: str
    data: Any


def snippet(text: str | bytes | None, limit: int = 120) -> str:
    """A short, single-line excerpt of a response body for evidence."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise PacketError(f"{what}: payload is not JSON: {snippet(text, 60)!r}") from None


def parse_open(text: str) -> EngineOpen:
    """Parse the Engine.IO open packet `0{"sid":…,"pingInterval":…,"pingTimeout":…,…}`."""
    if not isinstance(text, str) or not text.startswith(EIO_OPEN + "{"):
        raise PacketError(f"not an Engine.IO open packet: {snippet(str(text), 60)!r}")
    data = _json(text[1:], "open packet")
    missing = [name for name in OPEN_FIELDS if name not in data]
    if missing:
        raise PacketError(f"open packet lacks {', '.join(missing)}")
    interval, timeout = data["pingInterval"], data["pingTimeout"]
    if not all(isinstance(v, int) and v >= 0 for v in (interval, timeout)):
        raise PacketError("open packet: pingInterval/pingTimeout are not milliseconds")
    return EngineOpen(
        sid=str(data["sid"]),
        ping_interval_ms=interval,
        ping_timeout_ms=timeout,
        upgrades=tuple(data["upgrades"]),
        max_payload=data.get("maxPayload"),
    )


def parse_socket(text: str) -> SocketPacket:
    """Parse an Engine.IO message carrying a Socket.IO packet: `40{…}`, `44{…}`, `4/chat,0`."""
    if not isinstance(text, str) or len(text) < 2 or text[0] != EIO_MESSAGE:
        raise PacketError(f"not a Socket.IO packet: {snippet(str(text), 60)!r}")
    kind, rest = text[1], text[2:]
    if kind not in "0123456":
        raise PacketError(f"unknown Socket.IO packet type {kind!r}")
    namespace = "/"
    if rest.startswith("/"):
        namespace, _, rest = rest.partition(",")
    while rest and rest[0].isdigit():  # an ack id
        rest = rest[1:]
    data = _json(rest, "Socket.IO packet") if rest else None
    return SocketPacket(type=kind, namespace=namespace, data=data)


def connect_packet(token: str | None, namespace: str = "/") -> str:
    """The client CONNECT: `40` or `40{"token":…}` (the auth payload)."""
    prefix = EIO_MESSAGE + SIO_CONNECT + ("" if namespace == "/" else namespace + ",")
    return prefix + (json.dumps({"token": token}) if token is not None else "")


def split_polling_payload(body: str) -> list[str]:
    """Engine.IO v4 polling bodies hold packets separated by the record separator 0x1e."""
    return body.split(POLLING_SEPARATOR) if body else []


def engine_error(body: str | bytes | None) -> tuple[int, str] | None:
    """Engine.IO's HTTP error JSON `{"code":3,"message":"Bad request"}` → (3, "Bad request")."""
    if not body:
        return None
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("code"), int) and "message" in data:
        return data["code"], str(data["message"])
    return None
