"""
Manage the ACME certificate nginx serves (``nginx_tls = "acme"``, docs/tls.md): certbot's
``wsready`` lineage and nginx's fixed paths ``acme.CERT`` / ``acme.KEY`` that its deploy
hook fills.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.files import File, FileContents, Sha256File

from wsready.deploy import acme, tls_paths
from wsready.deploy.transaction import rollback_command, save_command

# Pairs a host may have served before its first ACME certificate.
PREVIOUS_PAIRS = (tls_paths.GIVEN, tls_paths.SELF_SIGNED)


@operation()
def bootstrap_pair(first_name: str):
    """
    Put a pair at nginx's ACME paths until certbot's first certificate is there: the pair
    the host served until now (``PREVIOUS_PAIRS``), else a self-signed one for
    ``first_name``, valid 30 days.

    + first_name: the certificate's first name (CN of the self-signed stand-in)

    The paths are recorded in the run's transaction first. Needs ``openssl`` on the host.

    **Example:**

    .. code:: python

        acme.bootstrap_pair(
            name="Put a pair at nginx's ACME paths until the first certificate is there.",
            first_name="ws.example.com",
        )
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
        f"{save_command([acme.CERT, acme.KEY], 'nginx')} && "
        f"mkdir -p -m 0700 {Path(acme.CERT).parent} && "
        f"if {copy}else {generate}; fi"
    )


@operation()
def certificate(names: list[str], email: str, directory_url: str, ca_file: str | None, app: str):
    """
    Order the ``wsready`` lineage's certificate for ``names`` from ``directory_url`` over
    HTTP-01, unless certbot already holds one from that CA for exactly those names (then
    only run the deploy hook when nginx's copy differs from certbot's).

    + names: DNS names of the certificate (nginx_server_name)
    + email: ACME account e-mail
    + directory_url: the CA's ACME directory
    + ca_file: CA bundle on the host for the directory's HTTPS (None: the system CAs)
    + app: app_name, for the rollback

    A failed order fails the host with certbot's report of the CA's error, after rolling
    back the run's changes. Renewal is certbot.timer's job, not this operation's.

    **Example:**

    .. code:: python

        acme.certificate(
            name="Order the certificate for ws.example.com over HTTP-01.",
            names=["ws.example.com"],
            email="ops@example.com",
            directory_url="https://acme-v02.api.letsencrypt.org/directory",
            ca_file=None,
            app="wsready-app",
        )
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
    order = shlex.join(
        acme.order_command(
            names, email, directory_url, ca_file_on_host=ca_file, replace=lineage is not None
        )
    )
    # The reason quotes the renewal file's `server`: host data, quoted like any other.
    failed = shlex.quote(f"wsready: the ACME order failed ({reason}): rolling back this run")
    rollback = rollback_command(app)
    yield f"{order} || {{ status=$?; echo {failed} >&2; {rollback} >&2; exit $status; }}"
