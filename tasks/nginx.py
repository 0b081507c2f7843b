"""nginx in front of the app: `/ws/` with WebSocket upgrade headers, `/api/` and `/` to REST.

Safety: the rendered site is uploaded aside (`CANDIDATE`), tested with `nginx -t` inside a
copy of /etc/nginx, and only then renamed into place and reloaded (files/nginx/
activate-config.sh, one command on the host). A config nginx refuses never becomes active:
the deploy fails with nginx's own message and the old config keeps serving. `STAMP` records
the config nginx has loaded, so a run killed between rename and reload is finished by the
next. Reloads happen only when something nginx reads has changed.

TLS (`nginx_tls`): the certificate and key from `nginx_tls_cert_file`/`nginx_tls_key_file`
are uploaded (0600), or a self-signed pair for the host address is generated on the host
(again when it no longer names the host's address or expires within 30 days); with
"acme", certbot obtains and renews one (tasks/acme.py) and port 80 serves its HTTP-01
challenge path before anything else.
The TLS server block follows Mozilla's profile `nginx_tls_profile` (wsready/deploy/
tls_profile.py: protocols, suites, curves, session cache, ffdhe2048 for DHE, OCSP stapling for
a certificate that names a responder, HSTS with `nginx_tls_hsts`).
With `nginx_tls_redirect`, plain HTTP answers 301 to HTTPS except `/api/health`, which stays
reachable over HTTP for load-balancer health checks (it carries no token and no data).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.util import get_template
from pyinfra.operations import apt, dnf, files, systemd
from pyinfra.operations.util import any_changed

from tasks.acme import prepare_acme
from tasks.app import ACTIVATION
from tasks.monitor import status_include
from wsready.deploy import acme, capacity, families, hostfacts, tls_paths, tls_profile
from wsready.deploy.operations import nginx as nginx_op
from wsready.deploy.operations import tls
from wsready.deploy.operations.files import managed_file
from wsready.deploy.shapes import apt_install, put_file, put_text, root_directory
from wsready.hostdata import HostConfig, host_config

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "files" / "nginx" / "wsready.conf.j2"
MAIN_TEMPLATE = ROOT / "files" / "nginx" / "nginx.conf.j2"
ACTIVATE_SCRIPT = ROOT / "files" / "nginx" / "activate-config.sh"

CANDIDATE = "/etc/wsready/nginx/wsready.conf"
STAMP = "/etc/wsready/nginx/loaded.sha256"
LIVE = "/etc/nginx/conf.d/wsready.conf"
MAIN_CANDIDATE = "/etc/wsready/nginx/nginx.conf"
MAIN_LIVE = "/etc/nginx/nginx.conf"
ACTIVATE = "/usr/local/sbin/wsready-nginx-activate"
TLS_DIR = tls_paths.TLS_DIR
TLS_CERT, TLS_KEY = tls_paths.GIVEN  # the pair given in nginx_tls_cert_file / _key_file
# The generated pair has paths of its own: a given certificate left on the host must never
# be mistaken for it when the data goes back to self-signed (or the other way round).
SELF_SIGNED_CERT, SELF_SIGNED_KEY = tls_paths.SELF_SIGNED
DHPARAM = tls_paths.DHPARAM
DHPARAM_FILE = ROOT / "files" / "nginx" / "ffdhe2048.pem"


def tls_pair(data: HostConfig) -> tuple[str, str]:
    """Where nginx finds the certificate and key for this host's data."""
    if data.nginx_tls == "acme":
        return acme.CERT, acme.KEY
    if data.nginx_tls_cert_file:
        return TLS_CERT, TLS_KEY
    return SELF_SIGNED_CERT, SELF_SIGNED_KEY


DEFAULT_SITE = "/etc/nginx/sites-enabled/default"


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
        "rest_pass": rest_pass or "http://wsready_app",
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
    return get_template(str(TEMPLATE)).render(
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
    }


def render_main(data: HostConfig, sized: capacity.Plan, family: str) -> str:
    return get_template(str(MAIN_TEMPLATE)).render(main_context(data, sized, family))


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


def _install_nginx(family: families.Family) -> None:
    packages = list(family.packages["nginx"])
    if family.apt:
        apt_install("Install nginx without recommended packages.", packages)
    else:
        dnf.packages(name="Install nginx.", packages=packages)


def _tls_files(data: HostConfig):
    """Upload or generate the certificate pair; returns the operations that may change it."""
    address = data.probe_address
    if data.nginx_tls_cert_file and data.nginx_tls_key_file:
        # Relative paths mean the directory pyinfra runs in, as in the preflight check.
        cert_file, key_file = data.nginx_tls_cert_file.resolve(), data.nginx_tls_key_file.resolve()
        return [
            managed_file(
                name=f"Upload the TLS {what} (0600).",
                content=path.read_text(),
                dest=dest,
                user="root",
                group="root",
                mode="600",
                action="nginx",
            )
            for what, path, dest in (
                ("certificate", cert_file, TLS_CERT),
                ("private key", key_file, TLS_KEY),
            )
        ]
    openssl = hostfacts.family().packages["openssl"]
    if openssl:  # apt families only: the others have it in the base system
        apt.packages(
            name="Install openssl to make a self-signed certificate.",
            packages=list(openssl),
            no_recommends=True,
        )
    return [
        tls.self_signed_pair(
            name=f"Generate a self-signed TLS certificate for {address} "
            "(again when it does not name it, expires soon or does not fit the TLS profile).",
            cert=SELF_SIGNED_CERT,
            key=SELF_SIGNED_KEY,
            address=address,
            profile=data.nginx_tls_profile,
        )
    ]


_RELOAD_WHEN: dict[str, list] = {}  # host name -> prepare's operations that need a reload


def planned_config(data: HostConfig) -> NginxConfig:
    """This run's config for the current host."""
    sized = capacity.plan(data, hostfacts.cpus() or 1)
    release = hostfacts.release()  # the preflight refused a release without a row
    return nginx_config(
        data,
        sized,
        release.family_name,
        status_include(data, host.groups),
        http2=release.nginx_http2,
    )


@deploy("Prepare nginx")
def prepare_nginx() -> None:
    """Install nginx, write the TLS files and the candidate configs, and test them with
    nginx -t. Nothing nginx serves changes yet: a refused config stops the deploy here,
    before the app changes."""
    data = host_config(host)
    _install_nginx(hostfacts.family())

    systemd.service(name="Enable and start nginx.", service="nginx", running=True, enabled=True)
    # Read when it runs: on a first install the link appears with the package, above.
    changes = [
        files.link(name="Remove the distribution's default site.", path=DEFAULT_SITE, present=False)
    ]

    root_directory("Create the TLS directory, readable by root only.", TLS_DIR, mode="0700")
    # The DHE group is in place whatever the mode and profile (a public constant): a TLS
    # server block, rendered by this deploy or another tool, never names a missing file.
    dhparam = put_file(
        "Install the ffdhe2048 group (RFC 7919) for the intermediate profile's DHE suites.",
        DHPARAM_FILE,
        DHPARAM,
        mode="0600",
    )
    if data.nginx_tls:
        changes.append(dhparam)
    if data.nginx_tls == "acme":
        changes.append(prepare_acme())
    elif data.nginx_tls:
        changes += _tls_files(data)
    _RELOAD_WHEN[host.name] = changes

    put_file(
        "Install the script that tests an nginx config before activating it.",
        ACTIVATE_SCRIPT,
        ACTIVATE,
        mode="0755",
    )
    root_directory("Create the directory for candidate nginx configs.", str(Path(CANDIDATE).parent))
    config = planned_config(data)
    for candidate, live, content in config.files:
        put_text(f"Write {Path(live).name} aside, as a candidate.", content, candidate)
    nginx_op.test_config(
        name=f"Test the candidate nginx.conf and site with nginx -t (config {config.fingerprint}).",
        configs=config.activation,
        stamp=STAMP,
        activate=ACTIVATE,
    )


@deploy("Activate nginx")
def activate_nginx() -> None:
    config = planned_config(host_config(host))
    nginx_op.activate_config(
        name=f"Make the tested nginx config active and reload nginx (config {config.fingerprint}).",
        configs=config.activation,
        stamp=STAMP,
        activate=ACTIVATE,
        **ACTIVATION,
    )
    systemd.service(
        name="Reload nginx because the default site or the TLS files changed.",
        service="nginx",
        running=True,
        reloaded=True,
        _if=any_changed(*_RELOAD_WHEN.pop(host.name, [])),
        **ACTIVATION,
    )
