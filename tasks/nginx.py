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

from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import apt, dnf, files, systemd
from pyinfra.operations.util import any_changed

from wsready.deploy import acme, families, generations
from wsready.deploy.nginx_config import (
    CANDIDATE,
    DHPARAM,
    ROOT,
    SELF_SIGNED_CERT,
    SELF_SIGNED_KEY,
    STAMP,
    TLS_CERT,
    TLS_DIR,
    TLS_KEY,
)
from wsready.deploy.operations import acme as acme_op
from wsready.deploy.operations import nginx as nginx_op
from wsready.deploy.operations import tls
from wsready.deploy.operations.files import managed_file
from wsready.deploy.plan import host_plan
from wsready.deploy.shapes import ACTIVATION, apt_install, put_file, put_text, root_directory
from wsready.hostdata import HostConfig

ACTIVATE_SCRIPT = ROOT / "files" / "nginx" / "activate-config.sh"
ACTIVATE = "/usr/local/sbin/wsready-nginx-activate"
DHPARAM_FILE = ROOT / "files" / "nginx" / "ffdhe2048.pem"


DEFAULT_SITE = "/etc/nginx/sites-enabled/default"


def _install_nginx(family: families.Family) -> None:
    packages = list(family.packages["nginx"])
    if family.apt:
        apt_install("Install nginx without recommended packages.", packages)
    else:
        dnf.packages(name="Install nginx.", packages=packages)


def _tls_files(data: HostConfig, family: families.Family):
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
    openssl = family.packages["openssl"]
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


def _prepare_acme(data: HostConfig, family: families.Family):
    """certbot, its deploy hook and timer, the challenge directory, and a bootstrap pair
    (the operation returned: nginx reloads when it changed); tasks/acme.py orders the
    certificate once the site is active."""
    certbot = family.packages["certbot"]
    if certbot:  # apt families only
        apt.packages(
            name="Install certbot (the ACME client) and openssl.",
            packages=list(certbot),
            no_recommends=True,
        )
    for path, mode in ((acme.WEBROOT, "0755"), (str(Path(acme.CA_BUNDLE).parent), "0700")):
        root_directory(f"Create {path}.", path, mode=mode)
    ca_file = acme.ca_file_on_host(data)
    if ca_file:
        put_file(
            "Upload the private ACME CA's bundle (acme_ca_file).",
            data.acme_ca_file.resolve(),
            ca_file,
        )
    else:
        files.file(name="Remove a private ACME CA's bundle.", path=acme.CA_BUNDLE, present=False)
    put_file(
        "Install certbot's deploy hook (install the pair, nginx -t, reload).",
        acme.HOOK_SCRIPT,
        acme.HOOK,
        mode="0755",
    )
    drop_in = put_text(
        "Give certbot's renewal service the ACME CA's bundle.",
        acme.timer_drop_in(ca_file),
        acme.TIMER_DROP_IN,
    )
    systemd.daemon_reload(
        name="Reload systemd: certbot's service environment changed.", _if=drop_in.did_change
    )
    systemd.service(
        name="Enable certbot's renewal timer.", service="certbot.timer", running=True, enabled=True
    )
    return acme_op.bootstrap_pair(
        name="Put a pair at nginx's ACME paths until the first certificate is there.",
        first_name=data.certificate_names[0],
    )


_RELOAD_WHEN: dict[str, list] = {}  # host name -> prepare's operations that need a reload


@deploy("Prepare nginx")
def prepare_nginx() -> None:
    """Install nginx, write the TLS files and the candidate configs, and test them with
    nginx -t. Nothing nginx serves changes yet: a refused config stops the deploy here,
    before the app changes."""
    plan = host_plan()
    data = plan.data
    _install_nginx(plan.family)

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
        changes.append(_prepare_acme(data, plan.family))
    elif data.nginx_tls:
        changes += _tls_files(data, plan.family)
    _RELOAD_WHEN[host.name] = changes

    put_file(
        "Install the script that tests an nginx config before activating it.",
        ACTIVATE_SCRIPT,
        ACTIVATE,
        mode="0755",
    )
    root_directory("Create the directory for candidate nginx configs.", str(Path(CANDIDATE).parent))
    if data.app_restart == "generations" and not host.get_fact(File, path=generations.ACTIVE_FILE):
        # The host's own truth from now on (tasks/generations.py rewrites it; never a rollback).
        put_text(
            "Name the generation of app workers nginx sends clients to (slot a: the workers "
            "this host runs today).",
            generations.active_file("a"),
            generations.ACTIVE_FILE,
        )
    config = plan.nginx
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
    config = host_plan().nginx
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
