"""Validate host data against the key contract in `inventory/group_data/all.py`.

`validate(data)` returns every problem at once (a `ConfigError` naming key and value), so a
preflight can refuse a whole fleet's data before any host is touched. Keys that look like
ours but are not in the contract (`nginx_listen_prot`) are errors with a suggestion: a typo
would otherwise silently fall back to the default.
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import re
import runpy
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from wsready import monitor_data
from wsready import validate as check
from wsready.validate import ConfigError

DEFAULTS_FILE = Path(__file__).resolve().parent.parent / "inventory" / "group_data" / "all.py"

# Data keys with these prefixes belong to wsready; an unknown one is almost always a typo.
OUR_PREFIXES = (
    "proxy_", "nodejs_", "app_", "nginx_", "firewall_", "sg_", "aws_", "verify_", "monitor_",
    "kernel_", "redis_",
)  # fmt: skip

WORLD = ("0.0.0.0/0", "::/0")
HIDDEN = "<hidden>"  # shown instead of a value that may be a secret
SECRET_WORDS = ("secret", "token", "password", "passwd")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_APP_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9_.*~^\\$()|:\[\]-]+( [A-Za-z0-9_.*~^\\$()|:\[\]-]+)*$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")
_SG_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz")
_SYSCTL_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_-]+)+")
_SYSCTL_VALUE = re.compile(r"[0-9]+( [0-9]+)*")
MAX_APP_WORKERS = 64

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
        check.choice(key, value, allowed)

    return run


def _absolute_path(key: str, value: Any, _data: Data = None) -> None:
    if not isinstance(value, str) or not value.startswith("/") or value.rstrip("/") == "":
        raise ConfigError(key, value, "must be an absolute path such as /opt/wsready-app")
    if any(char in value for char in " \t\n;'\"$`\\") or "/../" in value + "/":
        raise ConfigError(key, value, "must not contain spaces, quotes, '..' or shell characters")


def _hex64(key: str, value: Any) -> None:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise ConfigError(key, value, "must be a sha256 digest: 64 hexadecimal characters")


def _pattern(regex: re.Pattern[str], why: str) -> Check:
    def run(key: str, value: Any, _data: Data) -> None:
        if not isinstance(value, str) or not regex.match(value):
            raise ConfigError(key, value, why)

    return run


def _local_file(key: str, value: Any, _data: Data) -> None:
    if not isinstance(value, str) or not Path(value).is_file():
        raise ConfigError(key, value, "must be the path of an existing local file")


# --- key-specific checks -----------------------------------------------------------------------


def _nodejs_major(key: str, value: Any, _data: Data) -> None:
    _integer(key, value, 18, 99)


def _nodejs_binary_url(key: str, value: Any, data: Data) -> None:
    if value is None:
        if data.get("nodejs_source") == "binary":
            raise ConfigError(key, value, 'is required when nodejs_source = "binary"')
        return
    check.url(key, value)
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
    if not isinstance(value, str) or not Path(value).is_dir():
        raise ConfigError(key, value, "must be an existing local directory holding the Node app")
    if not (Path(value) / "package.json").is_file():
        raise ConfigError(key, value, "has no package.json")


def _app_user(key: str, value: Any, _data: Data) -> None:
    if not isinstance(value, str) or not _USER_NAME.match(value):
        raise ConfigError(key, value, "must be a system user name such as wsready")
    if value == "root":
        raise ConfigError(key, value, "the service must not run as root")


def _app_port(key: str, value: Any, data: Data) -> None:
    check.port(key, value)
    workers = data.get("app_workers")
    count = workers if isinstance(workers, int) and 1 <= workers <= MAX_APP_WORKERS else 1
    last = value + count - 1
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
    check.url(key, value, schemes=("redis", "rediss"))
    parts = urlsplit(value)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            key, HIDDEN, "must not carry credentials: the password goes in redis_password"
        )
    if parts.path not in ("", "/") and not re.fullmatch(r"/[0-9]{1,2}", parts.path):
        raise ConfigError(key, value, "must be redis://HOST:PORT[/DB] (DB a number)")
    if parts.query or parts.fragment:
        raise ConfigError(key, value, "must be redis://HOST:PORT[/DB] without query or fragment")


def _redis_password(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    # A secret: named in the error, never echoed.
    if (
        not isinstance(value, str)
        or len(value) < 32
        or not value.isprintable()
        or any(char in value for char in " \"'\\")  # redis.conf would parse them
    ):
        raise ConfigError(
            key,
            HIDDEN,
            "must be a secret of at least 32 printable characters without spaces, quotes "
            "or backslashes",
        )


def _ip_address(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    try:
        if not isinstance(value, str):  # ip_address() takes integers too
            raise TypeError(value)
        address = ipaddress.ip_address(value)
    except (ValueError, TypeError):
        raise ConfigError(key, value, "must be an IP address such as 10.0.1.5") from None
    if "%" in value:
        raise ConfigError(key, value, "must not carry a scope id (%...)")
    if str(address) != value:
        raise ConfigError(key, value, f"must be written as {address}")


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
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        if not isinstance(text, str) or not _SYSCTL_VALUE.fullmatch(text):
            raise ConfigError(
                f"{key}[{name!r}]", item, "must be a number or numbers separated by single spaces"
            )


def _app_bind(key: str, value: Any, _data: Data) -> None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(key, value, "must be an IP address such as 127.0.0.1") from None
    if not address.is_loopback:
        raise ConfigError(key, value, "must be a loopback address: only nginx may reach the app")


def _app_socketio_path(key: str, value: Any, _data: Data) -> None:
    check.url_path(key, value)
    if value == "/" or value.endswith("/"):
        raise ConfigError(key, value, "must name a path without a trailing '/', such as /ws")
    if value == "/api" or value.startswith("/api/"):
        raise ConfigError(key, value, "must not be under /api, which goes to the REST upstream")


def _origin(key: str, value: Any) -> None:
    if value == "*":
        raise ConfigError(
            key, value, "'*' lets any web page use the socket; list the real origins instead"
        )
    check.url(key, value)
    parts = urlsplit(value)
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError(key, value, "must be an origin (scheme://host[:port]) without a path")


def _app_cors_origins(key: str, value: Any, _data: Data) -> None:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(key, value, "must be a list of origins such as ['https://app.example']")
    for index, item in enumerate(value):
        _origin(f"{key}[{index}]", item)


def _ping_ms(key: str, value: Any, _data: Data) -> None:
    _integer(key, value, 1000, 600_000)


def _app_limit_nofile(key: str, value: Any, _data: Data) -> None:
    _integer(key, value, 1024, 1_048_576)


def _app_env(key: str, value: Any, _data: Data) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, "must be a dict of NAME: value strings")
    for name, item in value.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise ConfigError(f"{key}[{name!r}]", name, "is not a valid environment name")
        if not isinstance(item, str) or "\n" in item:
            # Environment values often are secrets: never echo them.
            raise ConfigError(f"{key}[{name!r}]", HIDDEN, "must be a one-line string")


def _app_jwt_secret(key: str, value: Any, data: Data) -> None:
    if data.get("app_auth") != "jwt" and value is None:
        return
    # The value is a secret: name it in the error, never echo it.
    if not isinstance(value, str) or len(value) < 32:
        shown = None if value is None else HIDDEN
        raise ConfigError(
            key, shown, 'must be a secret of at least 32 characters when app_auth = "jwt"'
        )


def _app_jwt_audience(key: str, value: Any, _data: Data) -> None:
    if value is not None:
        _string(key, value)


def _app_static_token_hashes(key: str, value: Any, data: Data) -> None:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(key, value, "must be a list of sha256 hex digests")
    for index, item in enumerate(value):
        _hex64(f"{key}[{index}]", item)
    if data.get("app_auth") == "static" and not value:
        raise ConfigError(key, value, 'must list at least one hash when app_auth = "static"')


def _nginx_server_name(key: str, value: Any, _data: Data) -> None:
    if not isinstance(value, str) or not _SERVER_NAME.match(value):
        raise ConfigError(key, value, "must be nginx server names separated by single spaces")


def _nginx_rest_upstream(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    check.url(key, value)
    parts = urlsplit(value)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(key, value, "must be scheme://host[:port] without a path")


def _nginx_proxy_read_timeout_s(key: str, value: Any, data: Data) -> None:
    check.positive_number(key, value)
    interval, timeout = data.get("app_ping_interval_ms"), data.get("app_ping_timeout_ms")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (interval, timeout)):
        needed = (interval + timeout) / 1000
        if value <= needed:
            raise ConfigError(
                key,
                value,
                f"must exceed (app_ping_interval_ms + app_ping_timeout_ms) / 1000 = {needed:g} "
                "seconds, or nginx closes idle sockets",
            )


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
    check.port(key, value)
    if data.get("nginx_tls") and value == data.get("nginx_listen_port"):
        raise ConfigError(key, value, "must differ from nginx_listen_port")


def _nginx_extra_directives(key: str, value: Any, _data: Data) -> None:
    # Deliberately not parsed: `nginx -t` on the host is the judge of their content.
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(key, value, "must be a list of nginx directive lines")
    for index, item in enumerate(value):
        if not isinstance(item, str) or "\n" in item:
            raise ConfigError(f"{key}[{index}]", item, "must be a one-line string")


def _firewall_ssh_cidrs(key: str, value: Any, data: Data) -> None:
    check.cidr_list(key, value)
    if data.get("firewall_enabled") is True and not value:
        raise ConfigError(key, value, "must not be empty: the firewall would lock SSH out")


def _sg_ssh_cidrs(key: str, value: Any, data: Data) -> None:
    check.cidr_list(key, value)
    for index, item in enumerate(value):
        if item in WORLD and data.get("sg_allow_ssh_from_world") is not True:
            raise ConfigError(
                f"{key}[{index}]",
                item,
                "opens SSH to the whole internet; set sg_allow_ssh_from_world = True if meant",
            )


def _verify_address(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    try:
        if isinstance(value, str):  # ip_address() takes integers too
            ipaddress.ip_address(value)
            return
    except ValueError:
        pass
    if not isinstance(value, str) or not _HOSTNAME.match(value):
        raise ConfigError(key, value, "must be a host name or IP address, without scheme or port")


def _verify_timeout_s(key: str, value: Any, _data: Data) -> None:
    check.positive_number(key, value)
    if value > 300:
        raise ConfigError(key, value, "must be at most 300 seconds")


def _local_dir(key: str, value: Any, _data: Data) -> None:
    if not isinstance(value, str) or not Path(value).is_dir():
        raise ConfigError(key, value, "must be the path of an existing local directory")


def _monitor_targets(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(key, value, "must be None or a non-empty list of URLs")
    for index, item in enumerate(value):
        check.url(f"{key}[{index}]", item, schemes=("http", "https", "ws", "wss"))


def _verify_retries(key: str, value: Any, _data: Data) -> None:
    _integer(key, value, 0, 20)


_boolean = _simple(check.boolean)
_port = _simple(check.port)
_cidr_list = _simple(check.cidr_list)
_http_url = _simple(check.url)


def _proxy_url(key: str, value: Any, data: Data) -> None:
    """An http(s) proxy without credentials: they would land in world-readable apt and npm
    settings and on command lines that pyinfra prints at -vvv."""
    _http_url(key, value, data)
    if urlsplit(value).username is not None:
        raise ConfigError(
            key,
            HIDDEN,
            "must not carry credentials (user:password@): allow the hosts by address on the "
            "proxy instead",
        )


CHECKS: dict[str, Check] = {
    "proxy_url": _optional(_proxy_url),
    "nodejs_source": _choice("nodesource", "distro", "binary"),
    "nodejs_major": _nodejs_major,
    "nodejs_binary_url": _nodejs_binary_url,
    "nodejs_binary_sha256": _nodejs_binary_sha256,
    "nodejs_binary_dir": _absolute_path,
    "app_source": _app_source,
    "app_name": _pattern(_APP_NAME, "must be a unit-safe name such as wsready-app"),
    "app_user": _app_user,
    "app_dir": _absolute_path,
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
    "app_static_token_hashes": _app_static_token_hashes,
    "app_rollback_on_failure": _boolean,
    "nginx_server_name": _nginx_server_name,
    "nginx_listen_port": _port,
    "nginx_ipv6": _boolean,
    "nginx_rest_upstream": _nginx_rest_upstream,
    "nginx_proxy_read_timeout_s": _nginx_proxy_read_timeout_s,
    "nginx_tls": _boolean,
    "nginx_tls_cert_file": _tls_pair,
    "nginx_tls_key_file": _tls_file,
    "nginx_tls_redirect": _boolean,
    "nginx_tls_port": _nginx_tls_port,
    "nginx_extra_directives": _nginx_extra_directives,
    "nginx_worker_processes": _nginx_worker_processes,
    "nginx_worker_connections": lambda key, value, _d: _integer(key, value, 64, 1_048_576) and None,
    "nginx_worker_rlimit_nofile": _nginx_worker_rlimit_nofile,
    "nginx_listen_backlog": _optional(
        lambda key, value, _data: _integer(key, value, 1, 65535) and None
    ),
    "nginx_trusted_proxies": _cidr_list,
    "nginx_reuseport": _boolean,
    "kernel_sysctls": _kernel_sysctls,
    "redis_address": _verify_address,
    "redis_port": _port,
    "redis_password": _redis_password,
    "redis_allow_cidrs": _cidr_list,
    "private_address": _ip_address,
    "firewall_enabled": _boolean,
    "firewall_ssh_port": _port,
    "firewall_ssh_cidrs": _firewall_ssh_cidrs,
    "firewall_allow_cidrs": _cidr_list,
    "sg_enabled": _boolean,
    "sg_id": _optional(_pattern(_SG_ID, "must be a security group id such as sg-0123abcd")),
    "sg_allow_cidrs": _cidr_list,
    "sg_ssh_cidrs": _sg_ssh_cidrs,
    "sg_allow_ssh_from_world": _boolean,
    "sg_purge": _boolean,
    "sg_purge_all": _boolean,
    "aws_region": _optional(_pattern(_AWS_REGION, "must be an AWS region such as eu-north-1")),
    "aws_endpoint_url": _optional(_http_url),
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
    "monitor_interval_s": lambda key, value, _data: _integer(key, value, 10, 86400) and None,
    "monitor_targets": _monitor_targets,
    "monitor_alert_webhook": _optional(_http_url),
    "monitor_token_env": _optional(
        _pattern(_ENV_NAME, "must be the name of an environment variable")
    ),
    "monitor_token_file": _optional(_local_file),
    "monitor_wheelhouse": _optional(_local_dir),
    "monitor_prometheus_file": _absolute_path,
}

CHECKS.update(monitor_data.CHECKS)  # the fleet monitor's keys (tasks/monitor.py)


def _unknown_keys(data: Data, known: set[str]) -> list[ConfigError]:
    errors = []
    for key in sorted(data):
        if not isinstance(key, str) or key in known or not key.startswith(OUR_PREFIXES):
            continue
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        names = key + " " + " ".join(close)  # a misspelt secret key still holds a secret
        shown = HIDDEN if any(word in names for word in SECRET_WORDS) else data[key]
        errors.append(ConfigError(key, shown, f"is not a wsready data key (see all.py){hint}"))
    return errors


def validate(data: Data, defaults: Data | None = None) -> list[ConfigError]:
    """Every problem in `data` (over the defaults from all.py), in key order; [] when valid."""
    defaults = load_defaults() if defaults is None else defaults
    merged = with_defaults(data, defaults)
    errors = _unknown_keys(data, set(defaults))
    for key in defaults:
        checker = CHECKS.get(key)
        if checker is None:
            continue
        try:
            checker(key, merged[key], merged)
        except ConfigError as error:
            errors.append(error)
    return errors


def report(errors: list[ConfigError], where: str = "") -> str:
    """One line per problem, for a deploy error."""
    prefix = f"{where}: " if where else ""
    return "\n".join(f"{prefix}{error}" for error in errors)
