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

from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd

from wsready.deploy import acme, hostfacts
from wsready.deploy.operations import acme as acme_op
from wsready.deploy.shapes import put_file, put_text, root_directory
from wsready.hostdata import HostConfig, host_config

ROOT = Path(__file__).resolve().parent.parent
HOOK_SCRIPT = ROOT / "files" / "acme" / "deploy-hook.sh"
TIMER_DROP_IN = "/etc/systemd/system/certbot.service.d/wsready.conf"


def ca_file_on_host(data: HostConfig) -> str | None:
    return acme.CA_BUNDLE if data.acme_ca_file else None


def timer_drop_in(ca_file: str | None) -> str:
    """certbot.service's environment: the private ACME CA's bundle for its HTTPS."""
    lines = ["# Managed by wsready (tasks/acme.py): certbot renew talks to acme_directory_url."]
    lines += ["[Service]"] + [f"Environment={item}" for item in acme.environment(ca_file)]
    return "\n".join(lines) + "\n"


def prepare_acme():
    """certbot, its deploy hook and timer, the challenge directory, and a bootstrap pair
    (the operation returned: nginx reloads when it changed). Called by prepare_nginx."""
    data = host_config(host)
    certbot = hostfacts.family().packages["certbot"]
    if certbot:  # apt families only
        apt.packages(
            name="Install certbot (the ACME client) and openssl.",
            packages=list(certbot),
            no_recommends=True,
        )
    for path, mode in ((acme.WEBROOT, "0755"), (str(Path(acme.CA_BUNDLE).parent), "0700")):
        root_directory(f"Create {path}.", path, mode=mode)
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
    return acme_op.bootstrap_pair(
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
    acme_op.certificate(
        name=f"Order the certificate for {', '.join(names)} over HTTP-01, unless certbot has it.",
        names=names,
        email=data.acme_email,
        directory_url=data.acme_directory_url,
        ca_file=ca_file_on_host(data),
        app=data.app_name,
    )
