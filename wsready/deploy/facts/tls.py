"""The self-signed certificate on a host, as openssl reports it."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from wsready.deploy import self_signed


class CertificateReport(FactBase):
    """
    Returns what ``openssl x509`` says of the certificate at ``path``: its subjectAltName and
    whether it outlives the renewal window (``self_signed.RENEW_BEFORE_DAYS``), as one string
    for ``self_signed.renewal_reason``; ``None`` when there is no file at ``path``.
    """

    requires_command = "openssl"

    def command(self, path: str) -> str:
        return f"[ -f {shlex.quote(path)} ] || exit 0; {self_signed.inspection_command(path)}"

    def process(self, output):
        return "\n".join(output)
