"""ACME certificates (`nginx_tls = "acme"`): the data rules, and what the host's certbot state
says must happen.

certbot keeps one lineage, `wsready`, under /etc/letsencrypt; its renewal file records the
CA (`server = …`) and the names (the keys of `[[webroot_map]]`). A deploy orders a
certificate only when that lineage is missing or was issued by another CA or for other
names; anything else is certbot's timer's job (renewal) and the deploy hook's (install +
reload).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wsready import validate
from wsready.validate import ConfigError

Data = Mapping[str, Any]
TLS_MODES = (False, True, "acme")
LINEAGE = "wsready"
LIVE_DIR = f"/etc/letsencrypt/live/{LINEAGE}"
RENEWAL_CONF = f"/etc/letsencrypt/renewal/{LINEAGE}.conf"
WEBROOT = "/var/lib/wsready/acme"  # challenge files: WEBROOT/.well-known/acme-challenge/…
CHALLENGE_PATH = "/.well-known/acme-challenge/"
HOOK = "/usr/local/sbin/wsready-acme-deploy-hook"
CA_BUNDLE = "/etc/wsready/acme/ca.pem"  # acme_ca_file on the host
# What nginx serves: copies the deploy hook installs from the lineage (a path that never
# changes, so the site's config is the same before and after every renewal).
CERT = "/etc/wsready/tls/acme-fullchain.pem"
KEY = "/etc/wsready/tls/acme-key.pem"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})+\.?")
_EMAIL = re.compile(rf"[A-Za-z0-9._%+-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+")


def is_acme(data: Data) -> bool:
    return data.get("nginx_tls") == "acme"


def certificate_names(server_name: str) -> list[str]:
    """The names a certificate is ordered for: nginx_server_name's, in order, once each."""
    return list(dict.fromkeys(name.rstrip(".") for name in server_name.lower().split()))


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
        if _is_ip(name) or not _DNS_NAME.fullmatch(name):
            raise ConfigError(
                key,
                value,
                f'{name!r} cannot be in an ACME certificate (nginx_tls = "acme"): give the '
                "DNS names that point at this host, such as ws.example.com (no _, wildcard, "
                "regex or IP address)",
            )


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


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


@dataclass(frozen=True)
class Lineage:
    """What certbot's renewal file says of the `wsready` lineage."""

    server: str | None
    names: tuple[str, ...]


def parse_renewal_conf(text: str | None) -> Lineage | None:
    """The CA and names from certbot's renewal file (None: no lineage yet)."""
    if not text:
        return None
    server = None
    names: list[str] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if section == "renewalparams" and key == "server":
            server = value
        elif section == "webroot_map":
            names.append(key.lower())
    return Lineage(server, tuple(names))


def order_reason(lineage: Lineage | None, names: Sequence[str], directory_url: str) -> str | None:
    """Why a new certificate must be ordered, or None when the lineage already fits."""
    if lineage is None:
        return "no certificate yet"
    if lineage.server != directory_url:
        return f"the certificate is from {lineage.server}, not {directory_url}"
    if sorted(lineage.names) != sorted(names):
        return f"the certificate names {', '.join(lineage.names) or 'nothing'}"
    return None


def environment(ca_file_on_host: str | None) -> list[str]:
    """`env` assignments for certbot (the private ACME CA's bundle for its HTTPS)."""
    return [f"REQUESTS_CA_BUNDLE={ca_file_on_host}"] if ca_file_on_host else []


def order_command(
    names: Sequence[str],
    email: str,
    directory_url: str,
    *,
    ca_file_on_host: str | None,
    replace: bool,
) -> list[str]:
    """certbot's argv to order the lineage's certificate over HTTP-01 (webroot), installing
    it with the deploy hook. `replace`: the lineage exists for another CA or other names."""
    argv = ["env", *environment(ca_file_on_host), "certbot", "certonly", "--non-interactive"]
    argv += ["--agree-tos", "--email", email, "--server", directory_url]
    argv += ["--webroot", "--webroot-path", WEBROOT, "--cert-name", LINEAGE]
    argv += ["--deploy-hook", HOOK]
    if replace:
        argv.append("--force-renewal")
    for name in names:
        argv += ["-d", name]
    return argv


def shell(argv: Sequence[str]) -> str:
    return shlex.join(argv)
