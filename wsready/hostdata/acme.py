"""The ACME keys' rules (`nginx_tls`, `acme_*`, and nginx_server_name's names with "acme"):
part of the data contract (contract.py joins them)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from wsready import validate
from wsready.validate import ConfigError

Data = Mapping[str, Any]
TLS_MODES = (False, True, "acme")

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})+\.?")
_EMAIL = re.compile(rf"[A-Za-z0-9._%+-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+")


def is_acme(data: Data) -> bool:
    return data.get("nginx_tls") == "acme"


def _nginx_tls(key: str, value: Any, data: Data) -> None:
    if not any(value is mode for mode in (False, True)) and value != "acme":
        raise ConfigError(key, value, 'must be False, True or "acme"')
    if value == "acme" and data.get("nginx_tls_cert_file") is not None:
        raise ConfigError(
            key, value, '"acme" obtains its own certificate: drop nginx_tls_cert_file / _key_file'
        )


def _email(key: str, value: Any, data: Data) -> None:
    if value is None:
        if is_acme(data):
            raise ConfigError(key, value, 'is required with nginx_tls = "acme"')
        return
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ConfigError(key, value, "must be an e-mail address such as ops@example.com")


def _directory_url(key: str, value: Any, _data: Data) -> None:
    validate.url(key, value, schemes=("https",))


def _ca_file(key: str, value: Any, _data: Data) -> None:
    if value is not None:
        validate.local_path(key, value)


def _names(key: str, value: Any, data: Data) -> None:
    """With "acme": every server name is one a CA can prove over HTTP-01."""
    if not is_acme(data) or not isinstance(value, str):
        return  # the shape of nginx_server_name is ruled with the other nginx keys
    for name in value.split():
        if validate.is_ip_literal(name) or not _DNS_NAME.fullmatch(name):
            raise ConfigError(
                key,
                value,
                f'{name!r} cannot be in an ACME certificate (nginx_tls = "acme"): give the '
                "DNS names that point at this host, such as ws.example.com (no _, wildcard, "
                "regex or IP address)",
            )


Check = Callable[[str, Any, Data], None]
# nginx_server_name's shape is ruled in hostdata; its ACME rule is checked by preflight()
# below, so each key keeps one rule.
CHECKS: dict[str, Check] = {
    "nginx_tls": _nginx_tls,
    "acme_email": _email,
    "acme_directory_url": _directory_url,
    "acme_ca_file": _ca_file,
}


def errors(data: Data) -> list[ConfigError]:
    """Cross-key problems of ACME data (names a CA cannot prove)."""
    try:
        _names("nginx_server_name", data.get("nginx_server_name"), data)
    except ConfigError as error:
        return [error]
    return []


def certificate_names(server_name: str) -> list[str]:
    """The names a certificate is ordered for: nginx_server_name's, in order, once each."""
    return list(dict.fromkeys(name.rstrip(".") for name in server_name.lower().split()))
