"""Checks of the fleet monitor's data keys (`monitor_*` in inventory/group_data/all.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from wsready import validate
from wsready.validate import ConfigError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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
        validate.url(f"{key}[{index}]", url, schemes=("http", "https", "ws", "wss"))


def _webhook(key: str, value: Any, _data: Data) -> None:
    if value is not None:
        validate.url(key, value)


def _token_env(key: str, value: Any, data: Data) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ConfigError(key, value, "must be the name of an environment variable")
    if data.get("monitor_token_file"):
        raise ConfigError(key, value, "set monitor_token_env or monitor_token_file, not both")


def _token_file(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not Path(value).is_file():
        raise ConfigError(key, value, "must be the path of an existing local file")


def _wheelhouse(key: str, value: Any, _data: Data) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not Path(value).is_dir():
        raise ConfigError(key, value, "must be the path of an existing local directory of wheels")
    if not any(Path(value).glob("*.whl")):
        raise ConfigError(key, value, "holds no .whl files (make it with `pip wheel -w DIR`)")


def _prometheus_file(key: str, value: Any, _data: Data) -> None:
    if not isinstance(value, str) or not value.startswith("/") or not value.endswith(".prom"):
        raise ConfigError(key, value, "must be an absolute path ending in .prom")


CHECKS: dict[str, Callable[[str, Any, Data], None]] = {
    "monitor_interval_s": _interval,
    "monitor_targets": _targets,
    "monitor_alert_webhook": _webhook,
    "monitor_token_env": _token_env,
    "monitor_token_file": _token_file,
    "monitor_wheelhouse": _wheelhouse,
    "monitor_prometheus_file": _prometheus_file,
}
