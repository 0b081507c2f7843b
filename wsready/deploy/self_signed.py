"""When the self-signed TLS pair generated for a host must be generated again.

The deploy reads the certificate on the host with `inspection_command` and gives the output
to `renewal_reason`: a certificate that does not name the host's address (the address
changed), that expires within `RENEW_BEFORE_DAYS`, or that does not fit the TLS profile
(`nginx_tls_profile`: it lives longer than the profile's pairs, e.g. the 825-day pairs of
earlier deploys, or has another key type) is made again; otherwise it is kept.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import shlex

from wsready import tls_profile

RENEW_BEFORE_DAYS = 30
_SAN_ENTRY = re.compile(r"(IP Address|DNS):([^,\s]+)")
_DATE = re.compile(r"^(notBefore|notAfter)=(.+)$", re.MULTILINE)
_KEY = re.compile(r"Public Key Algorithm: (\S+)")


def subject_alt_name(address: str) -> str:
    """The `subjectAltName` value for openssl: `IP:…` for an address, `DNS:…` for a name."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return f"DNS:{address}"
    return f"IP:{address}"


def inspection_command(cert_path: str) -> str:
    """Prints the certificate's names, its validity dates, whether it outlives the renewal
    window, and its key's algorithm."""
    seconds = RENEW_BEFORE_DAYS * 86400
    path = shlex.quote(cert_path)
    return (
        f"openssl x509 -in {path} -noout -ext subjectAltName -startdate -enddate "
        f"-checkend {seconds} 2>&1; "
        f"openssl x509 -in {path} -noout -text 2>/dev/null | grep -m1 'Public Key Algorithm'; "
        "true"
    )


def _lifetime_days(report: str) -> int | None:
    """notAfter - notBefore in whole days, as Mozilla's checks count them; None if unread."""
    dates = {}
    for which, text in _DATE.findall(report):
        try:
            dates[which] = datetime.datetime.strptime(
                " ".join(text.split()), "%b %d %H:%M:%S %Y %Z"
            )
        except ValueError:
            return None
    if set(dates) != {"notBefore", "notAfter"}:
        return None
    return (dates["notAfter"] - dates["notBefore"]).days


def _profile_reason(report: str, profile: tls_profile.Profile) -> str | None:
    """Why the pair does not fit `profile`'s generated pairs, or None."""
    days = _lifetime_days(report)
    if days is None:
        return "its validity dates cannot be read"
    if days > profile.days:
        return (
            f"it lives {days} days, longer than the {profile.days} of the {profile.name} "
            "TLS profile"
        )
    key = _KEY.search(report)
    if key is None or key.group(1) != profile.key_algorithm:
        found = key.group(1) if key else "unknown"
        return (
            f"its key ({found}) is not the {profile.key_kind} key of the {profile.name} TLS profile"
        )
    return None


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


def renewal_reason(report: str, address: str, profile: str = tls_profile.DEFAULT) -> str | None:
    """Why the certificate described by `report` must be made again for `address` under TLS
    profile `profile`, or None to keep it."""
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
    return _profile_reason(report, tls_profile.profile(profile))
