"""Checks of the fleet monitor's data keys (`monitor_*` in inventory/group_data/all.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from wsready import validate
from wsready.validate import ConfigError

# The inventory group whose hosts run the scheduled `wsready check` (tasks/monitor.py).
MONITORS_GROUP = "monitors"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# node_exporter's textfile collector directories (upstream's and Debian's): the deploy makes
# the file's directory group-writable by the monitor, so it must be one made for that.
PROMETHEUS_ROOTS = ("/var/lib/node_exporter", "/var/lib/prometheus/node-exporter")
Data = Mapping[str, Any]


def _interval(key: str, value: Any, _data: Data) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 10 <= value <= 86400:
        raise ConfigError(key, value, "must be a whole number of seconds from 10 to 86400")


def _targets(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(key, value, "must be None or a non-empty list of http(s):// URLs")
    for index, url in enumerate(value):
        validate.url(f"{key}[{index}]", url, schemes=("http", "https", "ws", "wss"), query=False)


def _webhook(key: str, value: Any, _data: Data) -> None:
    if value is not None:  # its path often is the secret: never echoed
        validate.url(key, value, secret=True)


def _token_env(key: str, value: Any, data: Data) -> None:
    if value is None:
        return
    validate.name(key, value, _ENV_NAME, "must be the name of an environment variable")
    if data.get("monitor_token_file"):
        raise ConfigError(key, value, "set monitor_token_env or monitor_token_file, not both")


def _token_file(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    validate.local_path(key, value)


def _wheelhouse(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    validate.local_path(key, value, directory=True)
    if not any(Path(value).glob("*.whl")):
        raise ConfigError(key, value, "holds no .whl files (make it with `pip wheel -w DIR`)")


def _prometheus_file(key: str, value: Any, _data: Data) -> None:
    if not isinstance(value, str) or not value.startswith("/") or not value.endswith(".prom"):
        raise ConfigError(key, value, "must be an absolute path ending in .prom")
    validate.host_path(key, value, PROMETHEUS_ROOTS, file=True)


_STATUS_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)+")
# htpasswd lines with a hash nginx's auth_basic reads (its own apr1, or the system's crypt):
# a plain password is refused.
_HTPASSWD_LINE = re.compile(
    r"[A-Za-z0-9._@-]{1,64}:(\$apr1\$|\$2[aby]\$|\$5\$|\$6\$|\$y\$|\{SSHA\})[!-~]{8,300}"
)


def _status_path(key: str, value: Any, data: Data) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not _STATUS_PATH.fullmatch(value):
        raise ConfigError(key, value, "must be None or a URL path such as /status")
    for taken in ("/api", data.get("app_socketio_path") or "/ws"):
        if value == taken or value.startswith(taken + "/"):
            raise ConfigError(key, value, f"is the app's ({taken}): choose another path")


def _status_allow_cidrs(key: str, value: Any, _data: Data) -> None:
    if not validate.cidr_list(key, value):
        raise ConfigError(key, value, "must name at least one CIDR (who may see the page)")


def _status_htpasswd(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    lines = value.strip().splitlines() if isinstance(value, str) else []
    if not lines or not all(_HTPASSWD_LINE.fullmatch(line.strip()) for line in lines):
        raise ConfigError(  # a secret: named, never echoed
            key,
            "<hidden>",
            "must be htpasswd lines USER:HASH (`openssl passwd -apr1` or -6; "
            "plain passwords are refused)",
        )


def _tls_crit_days(key: str, value: Any, _data: Data) -> None:
    validate.integer(key, value, 0, 3650)


def _tls_warn_days(key: str, value: Any, data: Data) -> None:
    crit = data.get("monitor_tls_crit_days")
    low = crit if isinstance(crit, int) and not isinstance(crit, bool) and crit >= 0 else 0
    validate.integer(key, value, low, 3650)


CHECKS: dict[str, Callable[[str, Any, Data], None]] = {
    "monitor_tls_warn_days": _tls_warn_days,
    "monitor_tls_crit_days": _tls_crit_days,
    "monitor_interval_s": _interval,
    "monitor_targets": _targets,
    "monitor_alert_webhook": _webhook,
    "monitor_token_env": _token_env,
    "monitor_token_file": _token_file,
    "monitor_wheelhouse": _wheelhouse,
    "monitor_prometheus_file": _prometheus_file,
    "monitor_status_path": _status_path,
    "monitor_status_allow_cidrs": _status_allow_cidrs,
    "monitor_status_htpasswd": _status_htpasswd,
}
