"""Value checks shared by host-data preflight and the CLI.

Every check takes the data key it is checking, so the error names both key and value:
`ConfigError: app_port = 70000: must be a TCP port between 1 and 65535`.

The checks are grammars, not filters: a value is parsed into the narrowest shape that serves
(an address, a network, scheme + host + port, a name matched in full) and refused when it does
not parse, whatever characters it holds. Nothing here tries to list "bad" characters; what
passes is already safe to write into a shell line, nginx, systemd or apt config (the writers
quote anyway, see docs/security.md).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wsready.errors import InputError

HIDDEN = "<hidden>"  # shown instead of a value that may be a secret
MAX_URL = 2048
MAX_TEXT = 256
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")  # no space, no control character
_WORD = re.compile(r"[A-Za-z0-9._:/@+=~-]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_IP_CHARS = re.compile(r"[0-9A-Fa-f.:]+")
_CIDR_CHARS = re.compile(r"[0-9A-Fa-f.:]+(?:/[0-9]{1,3})?")
_PORT = re.compile(r"[0-9]{1,5}")
# The part of RFC 3986's path characters our URLs need: unreserved characters and `+=:@`.
# No %-escapes (they hide '/', '..', NUL), no `!$&'()*,;` (shell and list separators).
_PCHAR = r"[A-Za-z0-9._~+=:@-]"
_URL_PATH = re.compile(rf"(?:/{_PCHAR}*)*")
_URL_QUERY = re.compile(rf"(?:{_PCHAR}|[/?&])*")
_SOCKET_PATH = re.compile(r"(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+")


class ConfigError(InputError, ValueError):
    """A data key holds a value wsready refuses to use."""

    def __init__(self, key: str, value: Any, why: str) -> None:
        self.key = key
        self.value = value
        self.why = why
        shown = value
        if isinstance(value, str) and len(value) > 120:
            shown = value[:100] + f"...({len(value)} characters)"
        super().__init__(f"{key} = {shown!r}: {why}")


def port(key: str, value: Any) -> int:
    """A TCP port 1–65535 (bools are not ports)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(key, value, "must be a TCP port between 1 and 65535")
    return value


def number(
    key: str, value: Any, low: float | None = None, high: float | None = None, *, above=None
) -> float:
    """A finite real number (no bool, nan or inf) in [low, high], or > `above`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or (low is not None and value < low)
        or (high is not None and value > high)
        or (above is not None and value <= above)
    ):
        bounds = []
        if above is not None:
            bounds.append(f"greater than {above:g}")
        if low is not None:
            bounds.append(f"at least {low:g}")
        if high is not None:
            bounds.append(f"at most {high:g}")
        raise ConfigError(key, value, "must be a number " + " and ".join(bounds) + " (finite)")
    return value


def integer(key: str, value: Any, low: int, high: int) -> int:
    """A whole number in [low, high] (no bool, no float)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(key, value, f"must be a whole number from {low} to {high}")
    return value


def positive_number(key: str, value: Any, high: float = 86400) -> float:
    """A finite number > 0 and at most `high` (a day by default: no timeout waits longer)."""
    return number(key, value, high=high, above=0)


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


def name(key: str, value: Any, pattern: re.Pattern[str], why: str) -> str:
    """`value` matched in full by `pattern` (fullmatch: a trailing newline is refused)."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(key, value, why)
    return value


def text(key: str, value: Any, max_length: int = MAX_TEXT) -> str:
    """A word such as a JWT audience or issuer: letters, digits and `._:/@+=~-` only."""
    if not isinstance(value, str) or not _WORD.fullmatch(value) or len(value) > max_length:
        raise ConfigError(
            key, value, f"must be 1 to {max_length} letters, digits or ._:/@+=~- characters"
        )
    return value


def secret(key: str, value: Any, min_length: int = 32, max_length: int = 4096) -> str:
    """A secret of printable ASCII without spaces, quotes or backslashes (config files and
    environment files would parse them); errors show `<hidden>`, never the value."""
    if (
        not isinstance(value, str)
        or not min_length <= len(value) <= max_length
        or not _PRINTABLE_ASCII.fullmatch(value)
        or any(char in value for char in "\"'\\`")
    ):
        raise ConfigError(
            key,
            None if value is None else HIDDEN,
            f"must be a secret of {min_length} to {max_length} printable ASCII characters "
            "without spaces, quotes or backslashes",
        )
    return value


def is_ip_literal(text: str) -> bool:
    """`text` is an IP address (v4 or v6), not a name."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def ip_address(
    key: str, value: Any, example: str = "10.0.1.5"
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IP address written canonically, without a scope id (`fe80::1%eth0` is refused)."""
    if isinstance(value, str) and "%" in value:
        raise ConfigError(key, value, "must not carry a scope id (%...)")
    if not isinstance(value, str) or not _IP_CHARS.fullmatch(value):
        raise ConfigError(key, value, f"must be an IP address such as {example}")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(key, value, f"must be an IP address such as {example}") from None
    if str(address) != value:
        raise ConfigError(key, value, f"must be written as {address}")
    return address


def hostname(key: str, value: Any) -> str:
    """A DNS name (ASCII letters, digits, '-' and '.': IDNs in their xn-- form)."""
    if not isinstance(value, str) or len(value) > 253 or not _HOSTNAME.fullmatch(value):
        raise ConfigError(key, value, "must be a host name such as ws.example.com")
    return value


def host(key: str, value: Any) -> str:
    """A host name or an IP address (no scheme, port or scope id)."""
    if isinstance(value, str) and _IP_CHARS.fullmatch(value) and ":" in value:
        ip_address(key, value)
        return value
    try:
        return hostname(key, value)
    except ConfigError:
        raise ConfigError(
            key, value, "must be a host name or IP address, without scheme or port"
        ) from None


def cidr(key: str, value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A canonical IPv4 or IPv6 network: `10.0.0.0/24`, not `10.0.0.5/24`; no scope id."""
    if not isinstance(value, str) or not _CIDR_CHARS.fullmatch(value):
        raise ConfigError(key, value, "must be a CIDR such as 203.0.113.0/24")
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        if "host bits set" in str(error):
            canonical = ipaddress.ip_network(value, strict=False)
            raise ConfigError(
                key, value, f"is not canonical (host bits set); did you mean {canonical}?"
            ) from None
        raise ConfigError(key, value, "is not a valid CIDR such as 203.0.113.0/24") from None
    if value not in (str(network), str(network.network_address)):
        raise ConfigError(key, value, f"must be written as {network}")
    return network


def cidr_list(key: str, value: Any) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(key, value, "must be a list of CIDR strings")
    return [cidr(f"{key}[{index}]", item) for index, item in enumerate(value)]


def url(
    key: str,
    value: Any,
    schemes: Iterable[str] = ("http", "https"),
    *,
    path: bool = True,
    query: bool = True,
    secret: bool = False,
) -> str:
    """scheme://HOST[:PORT][/path][?query]: the host a DNS name or an IP address (IPv6 in
    brackets, no scope id), no credentials, no fragment, no spaces, quotes or braces; the path
    and query only where the key allows them. `secret`: errors show `<hidden>`."""
    schemes = tuple(schemes)
    shown = HIDDEN if secret and value is not None else value
    form = f"{'/'.join(schemes)}://HOST[:PORT]" + ("[/PATH]" if path else "")
    if not isinstance(value, str):
        raise ConfigError(key, value, f"must be a URL ({form})")
    if value.partition("://")[0] not in schemes or "://" not in value:
        raise ConfigError(key, shown, f"scheme must be one of: {', '.join(schemes)}")
    if len(value) > MAX_URL or not _PRINTABLE_ASCII.fullmatch(value):
        raise ConfigError(
            key,
            shown,
            f"must not contain spaces or control characters: one URL ({form}) of printable "
            f"ASCII, at most {MAX_URL} characters",
        )
    try:
        parts = urlsplit(value)
    except ValueError as error:  # e.g. "Invalid IPv6 URL" for an unclosed bracket
        raise ConfigError(key, shown, f"is not a valid URL ({error})") from None
    if parts.scheme not in schemes or not value.startswith(f"{parts.scheme}://"):
        raise ConfigError(key, shown, f"scheme must be one of: {', '.join(schemes)}")
    netloc = parts.netloc
    if "@" in netloc:
        raise ConfigError(
            key, HIDDEN, "must not carry credentials (user:password@): pass secrets another way"
        )
    bracketed = re.fullmatch(r"\[([^\]]*)\](?::(.*))?", netloc)
    if bracketed:
        address, port_text = bracketed.group(1), bracketed.group(2)
        if not address or ":" not in address:
            raise ConfigError(key, shown, "has no host")
        ip_address(key, address, "[2001:db8::1]")
    else:
        address, colon, port_text = netloc.partition(":")
        if not colon:
            port_text = None
        if not address:
            raise ConfigError(key, shown, "has no host")
        try:
            if _IP_CHARS.fullmatch(address) and re.fullmatch(r"[0-9.]+", address):
                ip_address(key, address)
            else:
                hostname(key, address)
        except ConfigError:
            raise ConfigError(key, shown, "has no valid host name or IP address") from None
    if port_text is not None and (
        not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535
    ):
        raise ConfigError(key, shown, "has an invalid port")
    if not _URL_PATH.fullmatch(parts.path) or any(
        segment in ("..", ".") for segment in parts.path.split("/")
    ):
        raise ConfigError(key, shown, "has a path with characters or segments a URL may not hold")
    if not path and parts.path not in ("", "/"):
        raise ConfigError(key, shown, f"must be {form} without a path")
    if parts.query or "?" in value:
        if not query:
            raise ConfigError(key, shown, "must not have a query (?...)")
        if not _URL_QUERY.fullmatch(parts.query):
            raise ConfigError(key, shown, "has a query with characters a URL may not hold")
    if parts.fragment or "#" in value:
        raise ConfigError(key, shown, "must not have a fragment (#...)")
    return value


def url_path(key: str, value: Any) -> str:
    """An absolute URL path such as `/ws`: segments of letters, digits and `._~-`."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError(key, value, "must be a path starting with '/', such as /ws")
    if len(value) > MAX_TEXT or (
        value != "/" and not _SOCKET_PATH.fullmatch(value.rstrip("/") if len(value) > 1 else value)
    ):
        raise ConfigError(
            key,
            value,
            "must be '/'-separated segments of letters, digits and ._~- (not starting with "
            "'.'), such as /ws: no spaces, '?', '#', ';', '%' or braces",
        )
    return value


# Directories a key must never name (or, for a file key, put its file straight into): the
# deploy chowns and chmods what a path key names.
_SYSTEM_DIRECTORIES = (
    "/ /bin /boot /dev /etc /home /lib /lib32 /lib64 /media /mnt /opt /proc /root /run /sbin "
    "/srv /sys /tmp /usr /usr/bin /usr/lib /usr/local /usr/local/bin /usr/local/lib "
    "/usr/local/sbin /usr/sbin /usr/share /var /var/cache /var/lib /var/log /var/spool /var/tmp "
    "/var/lib/prometheus"
)
SYSTEM_DIRECTORIES = frozenset(_SYSTEM_DIRECTORIES.split())
_HOST_PATH = re.compile(r"(?:/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*)+")


def host_path(key: str, value: Any, roots: Iterable[str], file: bool = False) -> str:
    """An absolute path on the host, written normalised (no '//', '.', '..', trailing '/'),
    of letters, digits and `._@+-` only, strictly inside one of `roots`, and never a system
    directory (for a file: never directly inside one)."""
    roots = tuple(roots)
    where = " or ".join(f"{root}/" for root in roots)
    if not isinstance(value, str) or not _HOST_PATH.fullmatch(value) or len(value) > 255:
        raise ConfigError(
            key,
            value,
            "must be a normalised absolute path of letters, digits and ._@+- "
            f"(no spaces, quotes, '..' or trailing '/') inside {where}",
        )
    if not any(value.startswith(root + "/") for root in roots):
        raise ConfigError(key, value, f"must be inside {where}")
    directory = value.rsplit("/", 1)[0] if file else value
    if directory in SYSTEM_DIRECTORIES:
        raise ConfigError(
            key, value, f"{directory} is a system directory: the deploy would change its owner"
        )
    return value


def local_path(key: str, value: Any, directory: bool = False) -> str:
    """The path of an existing, readable local file (or directory) where pyinfra runs."""
    what = "directory" if directory else "file"
    if (
        not isinstance(value, str)
        or not value
        or not value.isprintable()
        or len(value) > 4096
        or not (Path(value).is_dir() if directory else Path(value).is_file())
        or not os.access(value, os.R_OK | (os.X_OK if directory else 0))
    ):
        raise ConfigError(key, value, f"must be the path of an existing, readable local {what}")
    return value
