"""When the self-signed TLS pair generated for a host must be generated again.

The deploy reads the certificate on the host with `inspection_command` and gives the output
to `renewal_reason`: a certificate that does not name the host's address (the address
changed) or that expires within `RENEW_BEFORE_DAYS` is made again; otherwise it is kept.
"""

from __future__ import annotations

import ipaddress
import re
import shlex

RENEW_BEFORE_DAYS = 30
_SAN_ENTRY = re.compile(r"(IP Address|DNS):([^,\s]+)")


def subject_alt_name(address: str) -> str:
    """The `subjectAltName` value for openssl: `IP:…` for an address, `DNS:…` for a name."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return f"DNS:{address}"
    return f"IP:{address}"


def inspection_command(cert_path: str) -> str:
    """Prints the certificate's names and whether it outlives the renewal window."""
    seconds = RENEW_BEFORE_DAYS * 86400
    return (
        f"openssl x509 -in {shlex.quote(cert_path)} -noout -ext subjectAltName "
        f"-checkend {seconds} 2>&1 || true"
    )


def _names(report: str) -> tuple[set[ipaddress.IPv4Address | ipaddress.IPv6Address], set[str]]:
    addresses, names = set(), set()
    for kind, value in _SAN_ENTRY.findall(report):
        if kind == "DNS":
            names.add(value.lower())
            continue
        try:
            addresses.add(ipaddress.ip_address(value))
        except ValueError:
            continue
    return addresses, names


def renewal_reason(report: str, address: str) -> str | None:
    """Why the certificate described by `report` must be made again, or None to keep it."""
    if "Certificate will not expire" not in report:
        if "Certificate will expire" in report:
            return f"it expires within {RENEW_BEFORE_DAYS} days"
        return "it cannot be read"
    addresses, names = _names(report)
    try:
        covered = ipaddress.ip_address(address) in addresses
    except ValueError:
        covered = address.lower() in names
    if not covered:
        return f"it does not name {address}"
    return None
