"""ACME certificates (`nginx_tls = "acme"`): what the host's certbot state says must happen
(the ACME keys' data rules are in wsready/hostdata/acme.py).

certbot keeps one lineage, `wsready`, under /etc/letsencrypt; its renewal file records the
CA (`server = …`) and the names (the keys of `[[webroot_map]]`). A deploy orders a
certificate only when that lineage is missing or was issued by another CA or for other
names; anything else is certbot's timer's job (renewal) and the deploy hook's (install +
reload).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wsready.deploy import tls_paths
from wsready.hostdata import HostConfig

LINEAGE = "wsready"
LIVE_DIR = f"/etc/letsencrypt/live/{LINEAGE}"
RENEWAL_CONF = f"/etc/letsencrypt/renewal/{LINEAGE}.conf"
WEBROOT = "/var/lib/wsready/acme"  # challenge files: WEBROOT/.well-known/acme-challenge/…
CHALLENGE_PATH = "/.well-known/acme-challenge/"
HOOK = "/usr/local/sbin/wsready-acme-deploy-hook"
CA_BUNDLE = "/etc/wsready/acme/ca.pem"  # acme_ca_file on the host
# What nginx serves: copies the deploy hook installs from the lineage (a path that never
# changes, so the site's config is the same before and after every renewal).
CERT, KEY = tls_paths.ACME

ROOT = Path(__file__).resolve().parents[2]
HOOK_SCRIPT = ROOT / "files" / "acme" / "deploy-hook.sh"
TIMER_DROP_IN = "/etc/systemd/system/certbot.service.d/wsready.conf"


def ca_file_on_host(data: HostConfig) -> str | None:
    return CA_BUNDLE if data.acme_ca_file else None


def timer_drop_in(ca_file: str | None) -> str:
    """certbot.service's environment: the private ACME CA's bundle for its HTTPS."""
    lines = ["# Managed by wsready (tasks/acme.py): certbot renew talks to acme_directory_url."]
    lines += ["[Service]"] + [f"Environment={item}" for item in environment(ca_file)]
    return "\n".join(lines) + "\n"


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
