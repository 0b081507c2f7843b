"""The data contract: every key of `inventory/group_data/all.py`, its default and its rule.

`validate(data)` returns every problem at once (a `ConfigError` naming key and value), so a
preflight can refuse a whole fleet's data before any host is touched. Keys that look like
ours but are not in the contract (`nginx_listen_prot`) are errors with a suggestion: a typo
would otherwise silently fall back to the default.
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any
from urllib.parse import urlsplit

from wsready import tls_profile
from wsready import validate as grammar  # `validate` is this module's own entry point
from wsready.hostdata import acme, system
from wsready.hostdata import balancer as balancer_data
from wsready.hostdata import monitor as monitor_data
from wsready.hostdata import ssh as ssh_data
from wsready.hostdata.owned_env import OWNED
from wsready.validate import HIDDEN, ConfigError

# all.py in a checkout (or an editable install); an installed copy (a monitor host) carries it
# next to this module (tasks/monitor.py uploads it there).
_CHECKOUT_DEFAULTS = Path(__file__).resolve().parents[2] / "inventory" / "group_data" / "all.py"
DEFAULTS_FILE = (
    _CHECKOUT_DEFAULTS if _CHECKOUT_DEFAULTS.is_file() else Path(__file__).with_name("all.py")
)

# Data keys with these prefixes belong to wsready; an unknown one is almost always a typo.
OUR_PREFIXES = (
    "proxy_", "nodejs_", "app_", "nginx_", "firewall_", "sg_", "aws_", "verify_", "monitor_",
    "kernel_", "redis_", "acme_", "lb_",
)  # fmt: skip

WORLD = ("0.0.0.0/0", "::/0")
SECRET_WORDS = ("secret", "token", "password", "passwd")
# Every pattern is applied with fullmatch (`$` would let a trailing newline through).
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_APP_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# nginx server names, space-separated: "_", a host name (a leading "*." or a trailing ".*"
# wildcard) or a ~regex without backslash, quote, ';', braces, '#' or space.
_SERVER_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SERVER_TOKEN = (
    rf"_|(?:\*\.)?{_SERVER_LABEL}(?:\.{_SERVER_LABEL})*(?:\.\*)?|~[A-Za-z0-9_.*^$()|:\[\]-]+"
)
_SERVER_NAME = re.compile(rf"(?:{_SERVER_TOKEN})(?: (?:{_SERVER_TOKEN}))*")
_SG_ID = re.compile(r"sg-[0-9a-f]{8,17}")
_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")
_AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
# One simple nginx directive: a name, arguments without quotes, braces, '#' or backslash, ';'.
_NGINX_SIMPLE = r"[a-z][a-z0-9_]*(?: +[!$%&()*+,./0-9:<=>?@A-Z\[\]^_a-z|~-]+)* *;"
# One simple directive, or one block (`if (...) { ... }`, `location ... { ... }`) of simple
# directives: braces balanced on the line, so no value can close the server block.
_NGINX_DIRECTIVE = re.compile(
    rf"{_NGINX_SIMPLE}|[a-z][a-z0-9_]*(?: +[!$%&()*+,./0-9:<=>?@A-Z\[\]^_a-z|~-]+)* *"
    rf"\{{(?: *{_NGINX_SIMPLE})* *\}}"
)
_NGINX_FORBIDDEN = re.compile(r"(?:^|[ {;])(?:include|load_module)\b")
# Where path keys may point (tasks chown/chmod them): never a system directory itself.
APP_DIR_ROOTS = ("/opt", "/srv", "/var/lib")
NODEJS_DIR_ROOTS = ("/opt", "/usr/local/lib")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz")
_SYSCTL_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_-]+){1,8}")
_SYSCTL_VALUE = re.compile(r"[0-9]{1,19}( [0-9]{1,19}){0,7}")
MAX_APP_WORKERS = 64
# The second generation of workers: instances and ports GENERATION_OFFSET + i (above any
# worker count; files/app/lib/config.js has the same number).
GENERATION_OFFSET = 100

Data = Mapping[str, Any]
Check = Callable[[str, Any, Data], None]


def load_defaults(path: Path = DEFAULTS_FILE) -> dict[str, Any]:
    """The documented keys and their defaults, read from `all.py` (fresh copies)."""
    namespace = runpy.run_path(str(path))
    return {
        key: copy.deepcopy(value)
        for key, value in namespace.items()
        if not key.startswith("_") and not isinstance(value, ModuleType)
    }


@functools.cache
def _read_defaults(path: Path) -> dict[str, Any]:
    return load_defaults(path)


# The kinds of value a key of all.py is declared with (`key: "kind" = default`); "... or None"
# when None is one of its values. SECRET_KINDS are never shown; LOCAL_KIND keys are paths on
# the machine running wsready.
KINDS = frozenset(
    {
        "bool", "number", "word", "text", "secret", "host", "ip", "url", "secret_url", "urlpath",
        "path", "prom_path", "local", "server_name", "word_list", "cidr_list", "url_list",
        "nginx_list", "env", "sysctls",
    }
)  # fmt: skip
SECRET_KINDS = frozenset({"secret", "secret_url"})
LOCAL_KIND = "local"


@dataclass(frozen=True)
class Declared:
    """What all.py declares of a key besides its default: its kind of value."""

    kind: str
    accepts_none: bool = False

    @property
    def secret(self) -> bool:
        return self.kind in SECRET_KINDS

    @classmethod
    def parse(cls, key: str, annotation: object) -> Declared:
        kind, _or, none = str(annotation).partition(" or ")
        if kind not in KINDS or none not in ("", "None"):
            raise RuntimeError(f"all.py: {key}: {annotation!r} is not a kind ({sorted(KINDS)})")
        return cls(kind, accepts_none=bool(none))


@functools.cache
def declared(path: Path = DEFAULTS_FILE) -> Mapping[str, Declared]:
    """Every key of all.py and its declared kind (the `key: "kind" = default` annotation)."""
    annotations = runpy.run_path(str(path)).get("__annotations__", {})
    return MappingProxyType(
        {key: Declared.parse(key, annotation) for key, annotation in annotations.items()}
    )


def cached_defaults() -> Mapping[str, Any]:
    """The defaults of DEFAULTS_FILE, read once per process (do not modify them)."""
    return _read_defaults(DEFAULTS_FILE)


def with_defaults(data: Data, defaults: Data | None = None) -> dict[str, Any]:
    """`data` over the defaults: what a task sees for every key."""
    merged = dict(load_defaults() if defaults is None else copy.deepcopy(dict(defaults)))
    merged.update(data)
    return merged


# --- reusable value checks ---------------------------------------------------------------------


def _string(key: str, value: Any, why: str = "must be a non-empty string") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, value, why)
    return value


def _integer(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(key, value, f"must be a whole number between {low} and {high}")
    return value


def _optional(inner: Check) -> Check:
    def run(key: str, value: Any, data: Data) -> None:
        if value is not None:
            inner(key, value, data)

    return run


def _simple(function: Callable[[str, Any], Any]) -> Check:
    def run(key: str, value: Any, _data: Data) -> None:
        function(key, value)

    return run


def _choice(*allowed: str) -> Check:
    def run(key: str, value: Any, _data: Data) -> None:
        grammar.choice(key, value, allowed)

    return run


def _directory_under(*roots: str) -> Check:
    def run(key: str, value: Any, _data: Data) -> None:
        grammar.host_path(key, value, roots)

    return run


def _hex64(key: str, value: Any) -> None:
    grammar.name(key, value, _HEX64, "must be a sha256 digest: 64 hexadecimal characters")


def _pattern(regex: re.Pattern[str], why: str) -> Check:
    def run(key: str, value: Any, _data: Data) -> None:
        grammar.name(key, value, regex, why)

    return run


def _local_file(key: str, value: Any, _data: Data) -> None:
    grammar.local_path(key, value)


# --- key-specific checks -----------------------------------------------------------------------


def _nodejs_major(key: str, value: Any, _data: Data) -> None:
    _integer(key, value, 18, 99)


def _nodejs_binary_url(key: str, value: Any, data: Data) -> None:
    if value is None:
        if data.get("nodejs_source") == "binary":
            raise ConfigError(key, value, 'is required when nodejs_source = "binary"')
        return
    grammar.url(key, value, query=False)
    if not urlsplit(value).path.endswith(_ARCHIVE_SUFFIXES):
        raise ConfigError(key, value, "must point to a .tar.gz, .tgz or .tar.xz archive")


def _nodejs_binary_sha256(key: str, value: Any, data: Data) -> None:
    if value is None:
        if data.get("nodejs_source") == "binary":
            raise ConfigError(key, value, 'is required when nodejs_source = "binary"')
        return
    _hex64(key, value)


def _app_source(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    grammar.local_path(key, value, directory=True)
    if not (Path(value) / "package.json").is_file():
        raise ConfigError(key, value, "has no package.json")


# Names wsready gives its own things (/etc/wsready holds the transactions, the monitor has
# its user, units and /etc/wsready-monitor): no app may take them.
WSREADY_NAMES = frozenset({"wsready", "wsready-monitor", "wsready-rollback"})


def _app_name(key: str, value: Any, _data: Data) -> None:
    grammar.name(key, value, _APP_NAME, "must be a unit-safe name such as wsready-app")
    if value in system.SYSTEM_NAMES or value.startswith("systemd-") or "." in value:
        raise ConfigError(
            key,
            value,
            "belongs to the system (a systemd unit, an /etc entry, a user or group of a Debian "
            "host): the deploy would write /etc/<app_name> and <app_name>.target over it; "
            "choose a name of your own such as wsready-app",
        )
    if value in WSREADY_NAMES:
        raise ConfigError(key, value, "is a name wsready uses for itself; choose another")


def _app_user(key: str, value: Any, _data: Data) -> None:
    grammar.name(key, value, _USER_NAME, "must be a system user name such as wsready")
    if value == "root":
        raise ConfigError(key, value, "the service must not run as root")
    if value in system.SYSTEM_NAMES or value == "wsready-monitor":
        raise ConfigError(
            key,
            value,
            "is a user or group the system (or the monitor) already has: the service would "
            "take over its home, shell and rights; choose a user of its own such as wsready",
        )


def _app_dir(key: str, value: Any, _data: Data) -> None:
    grammar.host_path(key, value, APP_DIR_ROOTS)
    for owned in system.SYSTEM_APP_DIRS:
        if value == owned or value.startswith(owned + "/"):
            raise ConfigError(
                key,
                value,
                f"{owned} belongs to the system: the deploy would change its owner and mode; "
                "use a directory of the app's own such as /opt/wsready-app",
            )


def _app_port(key: str, value: Any, data: Data) -> None:
    grammar.port(key, value)
    workers = data.get("app_workers")
    count = workers if isinstance(workers, int) and 1 <= workers <= MAX_APP_WORKERS else 1
    last = value + count - 1
    if data.get("app_restart") == "generations":
        last += GENERATION_OFFSET  # the second generation's ports (wsready/deploy/generations.py)
    if last > 65535:
        raise ConfigError(key, value, f"leaves no room for {count} workers (ports up to {last})")
    public = {data.get("nginx_listen_port")}
    if data.get("nginx_tls"):
        public.add(data.get("nginx_tls_port"))
    clash = sorted(port for port in public if isinstance(port, int) and value <= port <= last)
    if clash:
        raise ConfigError(
            key,
            value,
            f"the workers' ports {value}-{last} must not include {clash[0]}, where nginx listens",
        )


def _app_workers(key: str, value: Any, _data: Data) -> None:
    if value is not None:
        _integer(key, value, 1, MAX_APP_WORKERS)


def _app_redis_url(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    if isinstance(value, str) and "@" in value:
        raise ConfigError(
            key, HIDDEN, "must not carry credentials: the password goes in redis_password"
        )
    grammar.url(key, value, schemes=("redis", "rediss"), query=False)
    parts = urlsplit(value)
    if parts.path not in ("", "/") and not re.fullmatch(r"/[0-9]{1,2}", parts.path):
        raise ConfigError(key, value, "must be redis://HOST:PORT[/DB] (DB a number)")
    if parts.query or parts.fragment:
        raise ConfigError(key, value, "must be redis://HOST:PORT[/DB] without query or fragment")


def _redis_password(key: str, value: Any, _data: Data) -> None:
    if value is not None:  # a secret: named in the error, never echoed
        grammar.secret(key, value, max_length=512)  # no spaces or quotes: redis.conf parses them


def _ip_address(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    grammar.ip_address(key, value)  # no scope id, canonical, never an integer


def _nginx_worker_processes(key: str, value: Any, _data: Data) -> None:
    if value is None or value == "auto":
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 256:
        raise ConfigError(key, value, 'must be None, "auto" or a whole number from 1 to 256')


def _nginx_worker_rlimit_nofile(key: str, value: Any, data: Data) -> None:
    if value is None:
        return
    _integer(key, value, 1024, 1_048_576)
    connections = data.get("nginx_worker_connections")
    if isinstance(connections, int) and value < connections:
        raise ConfigError(key, value, f"must be at least nginx_worker_connections ({connections})")


def _kernel_sysctls(key: str, value: Any, _data: Data) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, 'must be a dict such as {"net.core.somaxconn": 4096}')
    for name, item in value.items():
        if not isinstance(name, str) or not _SYSCTL_NAME.fullmatch(name):
            raise ConfigError(
                f"{key}[{name!r}]", name, "is not a sysctl name such as net.core.somaxconn"
            )
        number = isinstance(item, int) and not isinstance(item, bool)
        text = str(item) if number else item
        if not isinstance(text, str) or not _SYSCTL_VALUE.fullmatch(text):
            raise ConfigError(
                f"{key}[{name!r}]", item, "must be a number or numbers separated by single spaces"
            )
        weakens = system.sysctl_weakens(name, text)
        if weakens:
            raise ConfigError(f"{key}[{name!r}]", item, weakens)


def _app_bind(key: str, value: Any, _data: Data) -> None:
    address = grammar.ip_address(key, value, "127.0.0.1")
    if not address.is_loopback:
        raise ConfigError(key, value, "must be a loopback address: only nginx may reach the app")


def _app_socketio_path(key: str, value: Any, _data: Data) -> None:
    grammar.url_path(key, value)
    if value == "/" or value.endswith("/"):
        raise ConfigError(key, value, "must name a path without a trailing '/', such as /ws")
    if value == "/api" or value.startswith("/api/"):
        raise ConfigError(key, value, "must not be under /api, which goes to the REST upstream")


def _origin(key: str, value: Any) -> None:
    if value == "*":
        raise ConfigError(
            key, value, "'*' lets any web page use the socket; list the real origins instead"
        )
    try:
        grammar.url(key, value, path=False, query=False)
    except ConfigError as error:
        raise ConfigError(
            key, value, f"must be an origin (scheme://host[:port]): {error.why}"
        ) from None


def _app_cors_origins(key: str, value: Any, _data: Data) -> None:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(key, value, "must be a list of origins such as ['https://app.example']")
    if not value:
        raise ConfigError(key, value, "must list at least one origin (an empty list is no CORS)")
    for index, item in enumerate(value):
        _origin(f"{key}[{index}]", item)


def _ping_ms(key: str, value: Any, _data: Data) -> None:
    _integer(key, value, 1000, 600_000)


def _app_drain_deadline_s(key: str, value: Any, _data: Data) -> None:
    if value is not None:
        _integer(key, value, 1, 3600)


def _app_limit_nofile(key: str, value: Any, _data: Data) -> None:
    _integer(key, value, 1024, 1_048_576)


def _app_env(key: str, value: Any, _data: Data) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, "must be a dict of NAME: value strings")
    for name, item in value.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise ConfigError(f"{key}[{name!r}]", name, "is not a valid environment name")
        owner = OWNED.get(name.upper())
        if owner:
            # The value may be a secret (JWT_SECRET=...): never echoed.
            raise ConfigError(
                f"{key}[{name!r}]",
                HIDDEN,
                f"{name} is written by wsready from {owner}: set that instead (its own rule "
                "applies there)",
            )
        if not isinstance(item, str) or not item.isprintable() or len(item) > 4096:
            # Environment values often are secrets: never echo them.
            raise ConfigError(
                f"{key}[{name!r}]",
                HIDDEN,
                "must be a one-line string of printable characters (no newline, CR or NUL)",
            )


def _app_jwt_secret(key: str, value: Any, data: Data) -> None:
    if data.get("app_auth") != "jwt" and value is None:
        return
    try:
        grammar.secret(key, value)
    except ConfigError as error:
        raise ConfigError(key, error.value, f'{error.why} when app_auth = "jwt"') from None


def _app_jwt_audience(key: str, value: Any, _data: Data) -> None:
    """Also app_jwt_issuer: an optional claim value, one line of text."""
    if value is not None:
        grammar.text(key, value)


def _app_static_token_hashes(key: str, value: Any, data: Data) -> None:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(key, value, "must be a list of sha256 hex digests")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not _HEX64.fullmatch(item):
            # A plaintext token put here by mistake is a secret: never echoed.
            raise ConfigError(
                f"{key}[{index}]",
                HIDDEN if isinstance(item, str) else item,
                "must be a sha256 digest (64 hexadecimal characters) of a token, never the "
                "token itself (`printf %s TOKEN | sha256sum`)",
            )
    if data.get("app_auth") == "static" and not value:
        raise ConfigError(key, value, 'must list at least one hash when app_auth = "static"')


def _nginx_server_name(key: str, value: Any, _data: Data) -> None:
    if not isinstance(value, str) or len(value) > 1024 or not _SERVER_NAME.fullmatch(value):
        raise ConfigError(
            key,
            value,
            "must be nginx server names separated by single spaces (ASCII; no backslash, "
            "quote, ';', braces or '#': write a regex's \\. as [.])",
        )


def _nginx_rest_upstream(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    grammar.url(key, value, path=False, query=False)


def _nginx_proxy_read_timeout_s(key: str, value: Any, data: Data) -> None:
    grammar.positive_number(key, value, high=86400)
    balancer_data.above_ping_window(key, value, data, "nginx closes idle sockets")


def _tls_file(key: str, value: Any, data: Data) -> None:
    if value is None:
        return
    _local_file(key, value, data)


def _tls_pair(key: str, value: Any, data: Data) -> None:
    """Certificate and key come together or not at all."""
    _tls_file(key, value, data)
    cert, private_key = data.get("nginx_tls_cert_file"), data.get("nginx_tls_key_file")
    if (cert is None) != (private_key is None):
        raise ConfigError(
            key, value, "nginx_tls_cert_file and nginx_tls_key_file must be given together"
        )


def _nginx_tls_port(key: str, value: Any, data: Data) -> None:
    grammar.port(key, value)
    if data.get("nginx_tls") and value == data.get("nginx_listen_port"):
        raise ConfigError(key, value, "must differ from nginx_listen_port")


HSTS_MAX_AGE_LIMIT = 315_360_000  # ten years, in seconds


def _nginx_tls_hsts(key: str, value: Any, _data: Data) -> None:
    """False (no header) or max-age in seconds; True says nothing about how long."""
    if value is False:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 <= value <= HSTS_MAX_AGE_LIMIT
    ):
        raise ConfigError(
            key,
            value,
            f"must be False or a max-age in seconds from 0 to {HSTS_MAX_AGE_LIMIT} "
            "(Mozilla: 63072000)",
        )


def _nginx_extra_directives(key: str, value: Any, _data: Data) -> None:
    # Their meaning is judged by `nginx -t` on the host; their shape here: one simple
    # directive each, so no line can close the server block or open another.
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(key, value, "must be a list of nginx directive lines")
    for index, item in enumerate(value):
        if (
            not isinstance(item, str)
            or len(item) > 1024
            or not _NGINX_DIRECTIVE.fullmatch(item)
            or _NGINX_FORBIDDEN.search(item)
        ):
            raise ConfigError(
                f"{key}[{index}]",
                item,
                "must be one directive such as 'client_max_body_size 5m;', or one block of them "
                "such as 'if ($http_upgrade) { return 403; }' (ASCII, braces balanced, no "
                "include, quotes, '#', backslash or newline)",
            )


def _nginx_trusted_proxies(key: str, value: Any, _data: Data) -> None:
    for index, network in enumerate(grammar.cidr_list(key, value)):
        if not system.is_private_network(network):
            raise ConfigError(
                f"{key}[{index}]",
                value[index],
                "is wider than the private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, "
                "127/8, fc00::/7): a client from there could claim any address, and /status "
                "trusts private ones",
            )


def _firewall_ssh_cidrs(key: str, value: Any, data: Data) -> None:
    grammar.cidr_list(key, value)
    if data.get("firewall_enabled") is True and not value:
        raise ConfigError(key, value, "must not be empty: the firewall would lock SSH out")


def _sg_ssh_cidrs(key: str, value: Any, data: Data) -> None:
    grammar.cidr_list(key, value)
    for index, item in enumerate(value):
        if item in WORLD and data.get("sg_allow_ssh_from_world") is not True:
            raise ConfigError(
                f"{key}[{index}]",
                item,
                "opens SSH to the whole internet; set sg_allow_ssh_from_world = True if meant",
            )


def _verify_address(key: str, value: Any, _data: Data) -> None:
    if value is not None:
        grammar.host(key, value)


def _verify_timeout_s(key: str, value: Any, _data: Data) -> None:
    grammar.positive_number(key, value, high=300)


def _verify_retries(key: str, value: Any, _data: Data) -> None:
    _integer(key, value, 0, 20)


_boolean = _simple(grammar.boolean)
_port = _simple(grammar.port)
_cidr_list = _simple(grammar.cidr_list)


def _endpoint_url(key: str, value: Any, _data: Data) -> None:
    """scheme://HOST[:PORT] only: no path, query, credentials, quotes or spaces."""
    grammar.url(key, value, path=False, query=False)


def _proxy_url(key: str, value: Any, data: Data) -> None:
    """http(s)://HOST[:PORT] without credentials: they would land in world-readable apt and
    npm settings and on command lines that pyinfra prints at -vvv. Nothing else either: the
    value is written into apt and npm config and passed to curl/pip/wget options."""
    if isinstance(value, str) and "@" in value:
        raise ConfigError(
            key,
            HIDDEN,
            "must not carry credentials (user:password@): allow the hosts by address on the "
            "proxy instead",
        )
    _endpoint_url(key, value, data)


_CHECKS: dict[str, Check] = {
    "proxy_url": _optional(_proxy_url),
    "nodejs_source": _choice("nodesource", "distro", "binary"),
    "nodejs_major": _nodejs_major,
    "nodejs_binary_url": _nodejs_binary_url,
    "nodejs_binary_sha256": _nodejs_binary_sha256,
    "nodejs_binary_dir": _directory_under(*NODEJS_DIR_ROOTS),
    "app_source": _app_source,
    "app_name": _app_name,
    "app_user": _app_user,
    "app_dir": _app_dir,
    "app_port": _app_port,
    "app_bind": _app_bind,
    "app_socketio_path": _app_socketio_path,
    "app_cors_origins": _app_cors_origins,
    "app_ping_interval_ms": _ping_ms,
    "app_ping_timeout_ms": _ping_ms,
    "app_limit_nofile": _app_limit_nofile,
    "app_workers": _app_workers,
    "app_max_clients": lambda key, value, _data: _integer(key, value, 1, 10_000_000) and None,
    "app_redis_url": _app_redis_url,
    "app_log_connections": _boolean,
    "app_max_http_buffer_size": lambda key, value, _d: _integer(key, value, 1024, 1 << 30) and None,
    "app_listen_backlog": lambda key, value, _data: _integer(key, value, 1, 65535) and None,
    "app_env": _app_env,
    "app_auth": _choice("off", "jwt", "static"),
    "app_jwt_secret": _app_jwt_secret,
    "app_jwt_audience": _app_jwt_audience,
    "app_jwt_issuer": _app_jwt_audience,
    "app_static_token_hashes": _app_static_token_hashes,
    "app_rollback_on_failure": _boolean,
    "app_recovery_max_disconnection_ms": lambda key, value, _d: (
        _integer(key, value, 0, 86_400_000) and None
    ),
    "app_restart": _choice("generations", "one-at-a-time", "all"),
    "app_drain_rate": lambda key, value, _data: _integer(key, value, 1, 1_000_000) and None,
    "app_drain_deadline_s": _app_drain_deadline_s,
    "nginx_server_name": _nginx_server_name,
    "nginx_listen_port": _port,
    "nginx_ipv6": _boolean,
    "nginx_rest_upstream": _nginx_rest_upstream,
    "nginx_proxy_read_timeout_s": _nginx_proxy_read_timeout_s,
    "nginx_tls_cert_file": _tls_pair,
    "nginx_tls_key_file": _tls_file,
    "nginx_tls_redirect": _boolean,
    "nginx_tls_port": _nginx_tls_port,
    "nginx_tls_profile": _choice(*tls_profile.PROFILES),
    "nginx_tls_hsts": _nginx_tls_hsts,
    "nginx_extra_directives": _nginx_extra_directives,
    "nginx_worker_processes": _nginx_worker_processes,
    "nginx_worker_connections": lambda key, value, _d: _integer(key, value, 64, 1_048_576) and None,
    "nginx_worker_rlimit_nofile": _nginx_worker_rlimit_nofile,
    "nginx_worker_shutdown_timeout_s": _optional(
        lambda key, value, _data: _integer(key, value, 1, 86_400) and None
    ),
    "nginx_listen_backlog": _optional(
        lambda key, value, _data: _integer(key, value, 1, 65535) and None
    ),
    "nginx_trusted_proxies": _nginx_trusted_proxies,
    "nginx_reuseport": _boolean,
    "nginx_hardening": _boolean,
    "kernel_sysctls": _kernel_sysctls,
    "redis_address": _verify_address,
    "redis_port": _port,
    "redis_password": _redis_password,
    "redis_allow_cidrs": _cidr_list,
    "private_address": _ip_address,
    "firewall_enabled": _boolean,
    "firewall_backend": _choice("auto", "ufw", "nftables"),
    "firewall_ssh_port": _port,
    "firewall_ssh_cidrs": _firewall_ssh_cidrs,
    "firewall_allow_cidrs": _cidr_list,
    "sg_enabled": _boolean,
    "sg_id": _optional(_pattern(_SG_ID, "must be a security group id such as sg-0123abcd")),
    "sg_allow_cidrs": _cidr_list,
    "sg_ssh_cidrs": _sg_ssh_cidrs,
    "sg_allow_ssh_from_world": _boolean,
    "sg_ssh_max_public_prefix_v4": lambda key, value, _data: _integer(key, value, 0, 32) and None,
    "sg_ssh_max_public_prefix_v6": lambda key, value, _d: _integer(key, value, 0, 128) and None,
    "sg_purge": _boolean,
    "sg_purge_all": _boolean,
    "aws_region": _optional(_pattern(_AWS_REGION, "must be an AWS region such as eu-north-1")),
    "aws_endpoint_url": _optional(_endpoint_url),
    "instance_id": _optional(
        _pattern(_INSTANCE_ID, "must be an EC2 instance id such as i-0123456789abcdef0")
    ),
    "verify_enabled": _boolean,
    "verify_address": _verify_address,
    "verify_timeout_s": _verify_timeout_s,
    "verify_retries": _verify_retries,
    "verify_token_env": _optional(
        _pattern(_ENV_NAME, "must be the name of an environment variable")
    ),
    "verify_tls_ca_file": _optional(_local_file),
}


def _one_rule_per_key(*tables: Mapping[str, Check]) -> dict[str, Check]:
    """The tables joined; a key ruled by two of them is a programming error, not an override."""
    joined: dict[str, Check] = {}
    for table in tables:
        twice = sorted(set(joined) & set(table))
        if twice:
            raise RuntimeError(f"host data keys with two rules: {', '.join(twice)}")
        joined.update(table)
    return joined


# The fleet monitor's keys are ruled in wsready/hostdata/monitor.py (tasks/monitor.py), the
# ACME keys and nginx_tls in wsready/hostdata/acme.py, only there.
CHECKS: dict[str, Check] = _one_rule_per_key(
    _CHECKS, monitor_data.CHECKS, acme.CHECKS, balancer_data.CHECKS
)


def _unknown_keys(data: Data, known: set[str]) -> list[ConfigError]:
    errors = []
    for key in sorted(data):
        if not isinstance(key, str) or key in known or not key.startswith(OUR_PREFIXES):
            continue
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        # A misspelt key may still hold a secret (monitor_alert_webhok: a webhook URL carries
        # its token): an unknown key's value is shown only when it is a number or a bool.
        value = data[key]
        shown = value if value is None or isinstance(value, (bool, int, float)) else HIDDEN
        errors.append(ConfigError(key, shown, f"is not a wsready data key (see all.py){hint}"))
    return errors


def validate(data: Data, defaults: Data | None = None) -> list[ConfigError]:
    """Every problem in `data` (over the defaults from all.py), in key order; [] when valid."""
    defaults = load_defaults() if defaults is None else defaults
    merged = with_defaults(data, defaults)
    errors = _unknown_keys(data, set(defaults)) + ssh_data.errors(data)
    for key in defaults:
        checker = CHECKS.get(key)
        if checker is None:
            continue
        try:
            checker(key, merged[key], merged)
        except ConfigError as error:
            errors.append(error)
    return errors + acme.errors(merged)


def report(errors: list[ConfigError], where: str = "") -> str:
    """One line per problem, for a deploy error."""
    prefix = f"{where}: " if where else ""
    return "\n".join(f"{prefix}{error}" for error in errors)
