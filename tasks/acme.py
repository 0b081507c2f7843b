"""ACME certificates with certbot (`nginx_tls = "acme"`, docs/tls.md).

HTTP-01 through nginx: the site serves `/.well-known/acme-challenge/` from `acme.WEBROOT` on
port 80, before any redirect to HTTPS. nginx reads the pair at fixed paths (`acme.CERT`,
`acme.KEY`) that certbot's deploy hook fills from the `wsready` lineage and that never
change, so the site's config is the same before the first certificate and after every
renewal.

Order of a first deploy: `prepare_acme` (before nginx's candidates are tested) installs
certbot, the hook and the timer, and puts a bootstrap pair at the fixed paths: the pair
the host served until now, or a self-signed one, so the tested config is complete and 443
never serves less than before. `obtain_certificate` (after the site is active, so the
challenge path is live) orders the certificate; the hook installs it and reloads nginx.
If the order fails, the deploy fails with the CA's own error and every change of the run is
rolled back (the host serves what it served). Later deploys order nothing unless the CA or
the names change; renewal is certbot.timer's job.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.facts.files import File, FileContents, Sha256File
from pyinfra.operations import apt, files, systemd

from tasks import transaction
from wsready import acme
from wsready.deploy import hostfacts
from wsready.deploy.shapes import put_file, put_text
from wsready.hostdata import HostConfig, host_config

ROOT = Path(__file__).resolve().parent.parent
HOOK_SCRIPT = ROOT / "files" / "acme" / "deploy-hook.sh"
TIMER_DROP_IN = "/etc/systemd/system/certbot.service.d/wsready.conf"
# Pairs a host may have served before its first ACME certificate (tasks/nginx.py).
PREVIOUS_PAIRS = (
    ("/etc/wsready/tls/cert.pem", "/etc/wsready/tls/key.pem"),
    ("/etc/wsready/tls/self-signed-cert.pem", "/etc/wsready/tls/self-signed-key.pem"),
)


def ca_file_on_host(data: HostConfig) -> str | None:
    return acme.CA_BUNDLE if data.acme_ca_file else None


def timer_drop_in(ca_file: str | None) -> str:
    """certbot.service's environment: the private ACME CA's bundle for its HTTPS."""
    lines = ["# Managed by wsready (tasks/acme.py): certbot renew talks to acme_directory_url."]
    lines += ["[Service]"] + [f"Environment={item}" for item in acme.environment(ca_file)]
    return "\n".join(lines) + "\n"


@operation()
def bootstrap_pair(first_name: str):
    """Put a pair at nginx's ACME paths until certbot's first certificate is there: the pair
    the host served until now, else a self-signed one for `first_name`.

    + first_name: the certificate's first name (CN of the self-signed stand-in)
    """
    if host.get_fact(File, path=acme.CERT) and host.get_fact(File, path=acme.KEY):
        host.noop(f"nginx's ACME pair is in place ({acme.CERT})")
        return
    copy = " elif ".join(
        f"[ -s {cert} ] && [ -s {key} ]; then install -m 0600 {cert} {acme.CERT} && "
        f"install -m 0600 {key} {acme.KEY}; "
        for cert, key in PREVIOUS_PAIRS
    )
    subject = shlex.quote(f"/CN={first_name}")
    san = shlex.quote(f"subjectAltName=DNS:{first_name}")
    generate = (
        "umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 30 "
        f"-subj {subject} -addext {san} -keyout {acme.KEY} -out {acme.CERT} 2>&1"
    )
    yield (
        f"{transaction.save_command([acme.CERT, acme.KEY], 'nginx')} && "
        f"mkdir -p -m 0700 {Path(acme.CERT).parent} && "
        f"if {copy}else {generate}; fi"
    )


@operation()
def certificate(names: list[str], email: str, directory_url: str, ca_file: str | None, app: str):
    """Order the `wsready` lineage's certificate for `names` from `directory_url` over
    HTTP-01, unless certbot already holds one from that CA for exactly those names. A failed
    order fails the host with certbot's report of the CA's error, after rolling back the
    run's changes.

    + names: DNS names of the certificate (nginx_server_name)
    + email: ACME account e-mail
    + directory_url: the CA's ACME directory
    + ca_file: CA bundle on the host for the directory's HTTPS (None: system CAs)
    + app: app_name, for the rollback
    """
    renewal = host.get_fact(FileContents, path=acme.RENEWAL_CONF) or []
    lineage = acme.parse_renewal_conf("\n".join(renewal))
    reason = acme.order_reason(lineage, names, directory_url)
    if reason is None:
        live = host.get_fact(Sha256File, path=f"{acme.LIVE_DIR}/fullchain.pem")
        if live and live == host.get_fact(Sha256File, path=acme.CERT):
            host.noop(
                f"certbot holds the certificate for {', '.join(names)} from {directory_url}; "
                "certbot.timer renews it"
            )
            return
        yield f"RENEWED_LINEAGE={shlex.quote(acme.LIVE_DIR)} {acme.HOOK}"
        return
    order = acme.shell(
        acme.order_command(
            names, email, directory_url, ca_file_on_host=ca_file, replace=lineage is not None
        )
    )
    rollback = transaction.rollback_command(app)
    yield (
        f"{order} || {{ status=$?; echo 'wsready: the ACME order failed ({reason}): "
        "rolling back this run' >&2; "
        f"{rollback} >&2; exit $status; }}"
    )


def prepare_acme():
    """certbot, its deploy hook and timer, the challenge directory, and a bootstrap pair
    (the operation returned: nginx reloads when it changed). Called by prepare_nginx."""
    data = host_config(host)
    if hostfacts.which("apt-get"):
        apt.packages(
            name="Install certbot (the ACME client) and openssl.",
            packages=["certbot", "openssl"],
            no_recommends=True,
        )
    for path, mode in ((acme.WEBROOT, "0755"), (str(Path(acme.CA_BUNDLE).parent), "0700")):
        files.directory(name=f"Create {path}.", path=path, user="root", group="root", mode=mode)
    ca_file = ca_file_on_host(data)
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
        HOOK_SCRIPT,
        acme.HOOK,
        mode="0755",
    )
    drop_in = put_text(
        "Give certbot's renewal service the ACME CA's bundle.",
        timer_drop_in(ca_file),
        TIMER_DROP_IN,
    )
    systemd.daemon_reload(
        name="Reload systemd: certbot's service environment changed.", _if=drop_in.did_change
    )
    systemd.service(
        name="Enable certbot's renewal timer.", service="certbot.timer", running=True, enabled=True
    )
    return bootstrap_pair(
        name="Put a pair at nginx's ACME paths until the first certificate is there.",
        first_name=data.certificate_names[0],
    )


@deploy("Obtain the ACME certificate")
def obtain_certificate() -> None:
    """With nginx_tls = "acme": order the certificate once the site serves the challenge."""
    data = host_config(host)
    if data.nginx_tls != "acme":
        return
    names = data.certificate_names
    certificate(
        name=f"Order the certificate for {', '.join(names)} over HTTP-01, unless certbot has it.",
        names=names,
        email=data.acme_email,
        directory_url=data.acme_directory_url,
        ca_file=ca_file_on_host(data),
        app=data.app_name,
    )
