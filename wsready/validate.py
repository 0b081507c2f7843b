"""Value checks shared by host-data preflight and the CLI.

Every check takes the data key it is checking, so the error names both key and value:
`ConfigError: app_port = 70000: must be a TCP port between 1 and 65535`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A data key holds a value wsready refuses to use."""

    def __init__(self, key: str, value: Any, why: str) -> None:
        self.key = key
        self.value = value
        self.why = why
        super().__init__(f"{key} = {value!r}: {why}")


def port(key: str, value: Any) -> int:
    """A TCP port 1–65535 (bools are not ports)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(key, value, "must be a TCP port between 1 and 65535")
    return value


def positive_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(key, value, "must be a number greater than 0")
    return value


def boolean(key: str, value: Any) -> bool:
    """Only real booleans: "yes", "false" and 1 are refused, they are too easy to misread."""
    if not isinstance(value, bool):
        raise ConfigError(key, value, "must be True or False")
    return value


def choice(key: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(key, value, f"must be one of: {', '.join(allowed)}")
    return value


def cidr(key: str, value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A canonical IPv4 or IPv6 network: `10.0.0.0/24`, not `10.0.0.5/24`."""
    if not isinstance(value, str):
        raise ConfigError(key, value, "must be a CIDR string such as 203.0.113.0/24")
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        if "host bits set" in str(error):
            canonical = ipaddress.ip_network(value, strict=False)
            raise ConfigError(
                key, value, f"is not canonical (host bits set); did you mean {canonical}?"
            ) from None
        raise ConfigError(key, value, "is not a valid CIDR such as 203.0.113.0/24") from None


def cidr_list(key: str, value: Any) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(key, value, "must be a list of CIDR strings")
    return [cidr(f"{key}[{index}]", item) for index, item in enumerate(value)]


def url(key: str, value: Any, schemes: Iterable[str] = ("http", "https")) -> str:
    """An absolute URL with one of `schemes` and a host."""
    schemes = tuple(schemes)
    if not isinstance(value, str):
        raise ConfigError(key, value, f"must be a URL ({'/'.join(schemes)}://HOST...)")
    try:
        parts = urlsplit(value)
    except ValueError as error:  # e.g. "Invalid IPv6 URL" for an unclosed bracket
        raise ConfigError(key, value, f"is not a valid URL ({error})") from None
    if parts.scheme not in schemes:
        raise ConfigError(key, value, f"scheme must be one of: {', '.join(schemes)}")
    if not parts.hostname:
        raise ConfigError(key, value, "has no host")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(key, value, "has an invalid port") from None
    return value


def url_path(key: str, value: Any) -> str:
    """An absolute URL path such as `/ws`: leading slash, no spaces, no query."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError(key, value, "must be a path starting with '/', such as /ws")
    if any(char in value for char in " ?#\t\n;{}"):
        raise ConfigError(key, value, "must not contain spaces, '?', '#', ';' or braces")
    return value
