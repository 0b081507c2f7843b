"""
Manage the self-signed TLS pair nginx serves when no certificate is given.
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.files import File

from wsready import tls_profile
from wsready.deploy import self_signed
from wsready.deploy.facts.tls import CertificateReport
from wsready.deploy.transaction import save_command


def _single_quoted(value: str) -> str:
    """`value` as one shell word in single quotes, whatever it holds (the address is data)."""
    return "'" + value.replace("'", "'\\''") + "'"


@operation()
def self_signed_pair(cert: str, key: str, address: str, profile: str = tls_profile.DEFAULT):
    """
    Generate a self-signed certificate and key for ``address`` that fit the TLS profile
    ``profile`` (its key type and lifetime: intermediate RSA 2048 for 365 days, modern ECDSA
    P-256 for 90), again when the certificate no longer names ``address``, expires within
    ``self_signed.RENEW_BEFORE_DAYS`` days, does not fit the profile (an 825-day pair of
    earlier deploys) or cannot be read.

    + cert: where the certificate goes (PEM)
    + key: where the private key goes (PEM, 0600)
    + address: the host's address (IP or DNS name): CN and subjectAltName
    + profile: ``nginx_tls_profile`` (wsready/tls_profile.py)

    The pair is recorded in the run's transaction before it is replaced. Needs ``openssl``
    on the host.

    **Example:**

    .. code:: python

        tls.self_signed_pair(
            name="Generate a self-signed TLS certificate for 203.0.113.10.",
            cert="/etc/wsready/tls/self-signed-cert.pem",
            key="/etc/wsready/tls/self-signed-key.pem",
            address="203.0.113.10",
            profile="intermediate",
        )
    """
    if host.get_fact(File, path=cert) and host.get_fact(File, path=key):
        reason = self_signed.renewal_reason(
            host.get_fact(CertificateReport, path=cert) or "", address, profile
        )
        if reason is None:
            host.noop(
                f"the self-signed TLS pair {cert} names {address}, is current and fits the "
                f"{profile} TLS profile"
            )
            return
    chosen = tls_profile.profile(profile)
    san = self_signed.subject_alt_name(address)
    yield (
        f"{save_command([cert, key], 'nginx')} && "
        f"umask 077 && openssl req -x509 {shlex.join(chosen.key)} -nodes -days {chosen.days} "
        f"-subj {_single_quoted('/CN=' + address)} "
        f"-addext {_single_quoted('subjectAltName=' + san)} "
        f"-keyout {shlex.quote(key)} -out {shlex.quote(cert)} 2>&1"
    )
