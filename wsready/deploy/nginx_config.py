"""nginx.conf and the wsready site as a deploy renders them, and their fingerprint (moved
from tasks/nginx.py, which installs, tests and activates them).

The site (files/nginx/wsready.conf.j2): `/ws/` with WebSocket upgrade headers, `/api/` and
`/` to REST, the TLS server block after Mozilla's profile `nginx_tls_profile`
(wsready/tls_profile.py), the ACME challenge path. nginx.conf (files/nginx/
nginx.conf.j2): the family's user and includes (families.py) and the sized limits
(capacity.py). Every answer of the site carries the fingerprint of both files.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from wsready import tls_profile
from wsready.deploy import acme, capacity, families, generations, templates, tls_paths
from wsready.hostdata import HostConfig
from wsready.hostdata.monitor import MONITORS_GROUP

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "files" / "nginx" / "wsready.conf.j2"
MAIN_TEMPLATE = ROOT / "files" / "nginx" / "nginx.conf.j2"


CANDIDATE = "/etc/wsready/nginx/wsready.conf"
STAMP = "/etc/wsready/nginx/loaded.sha256"
LIVE = "/etc/nginx/conf.d/wsready.conf"
MAIN_CANDIDATE = "/etc/wsready/nginx/nginx.conf"
MAIN_LIVE = "/etc/nginx/nginx.conf"


TLS_DIR = tls_paths.TLS_DIR
TLS_CERT, TLS_KEY = tls_paths.GIVEN  # the pair given in nginx_tls_cert_file / _key_file
# The generated pair has paths of its own: a given certificate left on the host must never
# be mistaken for it when the data goes back to self-signed (or the other way round).
SELF_SIGNED_CERT, SELF_SIGNED_KEY = tls_paths.SELF_SIGNED
DHPARAM = tls_paths.DHPARAM
# The status page of a monitor host (tasks/monitor.py writes its location file there).
STATUS_DIR = "/etc/wsready/status"
STATUS_INCLUDE = f"{STATUS_DIR}/*.conf"  # a glob: nginx -t passes before the file exists


def status_include(data: HostConfig, groups) -> str | None:
    """What the wsready site includes for the status page: only on hosts of the monitors
    group with `monitor_status_path` set; None everywhere else (no page served)."""
    return STATUS_INCLUDE if MONITORS_GROUP in groups and data.monitor_status_path else None


def tls_pair(data: HostConfig) -> tuple[str, str]:
    """Where nginx finds the certificate and key for this host's data."""
    if data.nginx_tls == "acme":
        return acme.CERT, acme.KEY
    if data.nginx_tls_cert_file:
        return TLS_CERT, TLS_KEY
    return SELF_SIGNED_CERT, SELF_SIGNED_KEY


def _server_address(address: str, port: int) -> str:
    """`127.0.0.1:3000` or `[::1]:3000` for an nginx `server` line."""
    try:
        if ipaddress.ip_address(address).version == 6:
            return f"[{address}]:{port}"
    except ValueError:
        pass
    return f"{address}:{port}"


def site_context(data: HostConfig, workers: int = 1, *, http2: str = families.HTTP2_LISTEN) -> dict:
    """Template variables from the host's configuration for a host
    running `workers` app workers; `http2` is how its nginx turns HTTP/2 on (families)."""
    rest = data.nginx_rest_upstream
    rest_address = rest_pass = None
    if rest:
        parts = urlsplit(rest)
        default_port = 443 if parts.scheme == "https" else 80
        rest_address = _server_address(parts.hostname, parts.port or default_port)
        rest_pass = f"{parts.scheme}://wsready_rest"
    tls_port = data.nginx_tls_port
    tls_cert, tls_key = tls_pair(data)
    hsts = None if data.nginx_tls_hsts is False else data.nginx_tls_hsts
    stapling = TLS_CERT if data.nginx_tls is True and _given_ocsp(data) else None
    slots = None
    if data.app_restart == "generations":
        slots = {
            "offset": generations.base("b"),
            "addresses": [
                _server_address(data.app_bind, data.app_port + index)
                for index in generations.instances("b", workers)
            ],
            "active_file": generations.ACTIVE_FILE,
            "header": generations.HEADER,
        }
    tls_directives = tls_profile.nginx_directives(
        data.nginx_tls_profile, DHPARAM, hsts_max_age=hsts, stapling_trusted=stapling
    )
    return {
        "app_addresses": [
            _server_address(data.app_bind, data.app_port + index) for index in range(workers)
        ],
        "listen_options": _listen_options(data),
        "trusted_proxies": list(data.nginx_trusted_proxies),
        "rest_address": rest_address,
        "rest_pass": rest_pass or ("http://$wsready_generation" if slots else "http://wsready_app"),
        "generations": slots,
        "socketio_path": data.app_socketio_path,
        "read_timeout": data.nginx_proxy_read_timeout_s,
        "listen_port": data.nginx_listen_port,
        "ipv6": data.nginx_ipv6,
        "server_name": data.nginx_server_name,
        "extra_directives": list(data.nginx_extra_directives),
        "tls": bool(data.nginx_tls),
        "acme_webroot": acme.WEBROOT if data.nginx_tls == "acme" else None,
        "acme_challenge_path": acme.CHALLENGE_PATH,
        "tls_redirect": data.nginx_tls_redirect,
        "tls_port": tls_port,
        "tls_port_suffix": "" if tls_port == 443 else f":{tls_port}",
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "tls_profile": data.nginx_tls_profile,
        "tls_directives": tls_directives,
        "tls_stapling_include": (
            tls_paths.ACME_STAPLING_PATTERN if data.nginx_tls == "acme" else None
        ),
        "http2_directive": http2 == families.HTTP2_DIRECTIVE,
    }


def _given_ocsp(data: HostConfig) -> bool:
    """Whether the given certificate (nginx_tls_cert_file, read here) names an OCSP
    responder: only then does nginx staple (it warns and ignores stapling otherwise)."""
    if data.nginx_tls_cert_file is None:
        return False
    return tls_profile.ocsp_responder(data.nginx_tls_cert_file.resolve().read_bytes()) is not None


def _listen_options(data: HostConfig) -> str:
    options = ""
    if data.nginx_listen_backlog is not None:
        options += f" backlog={data.nginx_listen_backlog}"
    if data.nginx_reuseport:
        options += " reuseport"
    return options


def render_site(
    data: HostConfig,
    workers: int = 1,
    fingerprint: str = "",
    status_include: str | None = None,
    *,
    http2: str = families.HTTP2_LISTEN,
) -> str:
    """The site config for `workers` app workers; with `fingerprint`, every answer of the
    site carries it in the `X-Wsready-Config` header; with `status_include`, the monitor's
    status page location (tasks/monitor.py) is included."""
    return templates.render(
        TEMPLATE,
        site_context(data, workers, http2=http2),
        fingerprint=fingerprint,
        status_include=status_include,
    )


def main_context(data: HostConfig, sized: capacity.Plan, family: str) -> dict:
    """nginx.conf variables: the distribution's paths and the sized limits."""
    return {
        **families.FAMILIES[family].nginx_main(),
        "worker_processes": sized.nginx_worker_processes,
        "worker_connections": data.nginx_worker_connections,
        "worker_rlimit_nofile": data.nginx_worker_rlimit_nofile,
        "worker_shutdown_timeout": data.nginx_worker_shutdown_timeout_s,
    }


def render_main(data: HostConfig, sized: capacity.Plan, family: str) -> str:
    return templates.render(MAIN_TEMPLATE, main_context(data, sized, family))


@dataclass(frozen=True)
class NginxConfig:
    """nginx.conf and the wsready site as this run renders them, and their fingerprint."""

    main: str
    site: str
    fingerprint: str

    @property
    def files(self) -> list[tuple[str, str, str]]:
        """(candidate path, live path, content), in activation order."""
        return [(MAIN_CANDIDATE, MAIN_LIVE, self.main), (CANDIDATE, LIVE, self.site)]

    @property
    def expected_stamp(self) -> list[str]:
        """The sha256 of each file, in activation order (what nginx's stamp holds once it
        has loaded them)."""
        return [hashlib.sha256(content.encode()).hexdigest() for _c, _l, content in self.files]

    @property
    def activation(self) -> list[tuple[str, str, str]]:
        """(candidate path, live path, sha256 of the content), in activation order: what
        nginx.test_config and nginx.activate_config take."""
        return [
            (candidate, live, digest)
            for (candidate, live, _content), digest in zip(
                self.files, self.expected_stamp, strict=True
            )
        ]


def nginx_config(
    data: HostConfig,
    sized: capacity.Plan,
    family: str,
    status_include: str | None = None,
    *,
    http2: str = families.HTTP2_LISTEN,
) -> NginxConfig:
    """Both files for `data`. The fingerprint (16 hex digits of the sha256 of nginx.conf and
    of the site without it) is sent by every answer of the site as `X-Wsready-Config`."""
    main = render_main(data, sized, family)
    bare = render_site(data, sized.app_workers, status_include=status_include, http2=http2)
    fingerprint = hashlib.sha256((main + bare).encode()).hexdigest()[:16]
    site = render_site(data, sized.app_workers, fingerprint, status_include, http2=http2)
    return NginxConfig(main, site, fingerprint)
