"""ACME certificates with certbot (`nginx_tls = "acme"`, docs/tls.md).

HTTP-01 through nginx: the site serves `/.well-known/acme-challenge/` from `acme.WEBROOT` on
port 80, before any redirect to HTTPS. nginx reads the pair at fixed paths (`acme.CERT`,
`acme.KEY`) that certbot's deploy hook fills from the `wsready` lineage and that never
change, so the site's config is the same before the first certificate and after every
renewal.

Order of a first deploy: `_prepare_acme` (tasks/nginx.py, before nginx's candidates are
tested) installs certbot, the hook and the timer, and puts a bootstrap pair at the fixed
paths: the pair
the host served until now, or a self-signed one, so the tested config is complete and 443
never serves less than before. `obtain_certificate` (after the site is active, so the
challenge path is live) orders the certificate; the hook installs it and reloads nginx.
If the order fails, the deploy fails with the CA's own error and every change of the run is
rolled back (the host serves what it served). Later deploys order nothing unless the CA or
the names change; renewal is certbot.timer's job.
"""

from __future__ import annotations

from pyinfra.api import deploy

from wsready.deploy import acme
from wsready.deploy.operations import acme as acme_op
from wsready.deploy.plan import host_plan


@deploy("Obtain the ACME certificate")
def obtain_certificate() -> None:
    """With nginx_tls = "acme": order the certificate once the site serves the challenge."""
    data = host_plan().data
    if data.nginx_tls != "acme":
        return
    names = data.certificate_names
    acme_op.certificate(
        name=f"Order the certificate for {', '.join(names)} over HTTP-01, unless certbot has it.",
        names=names,
        email=data.acme_email,
        directory_url=data.acme_directory_url,
        ca_file=acme.ca_file_on_host(data),
        app=data.app_name,
    )
