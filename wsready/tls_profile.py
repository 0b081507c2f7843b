"""Mozilla's server-side TLS profiles as data (`nginx_tls_profile`, docs/tls.md).

The values are those of Mozilla's configuration generator (ssl-config.mozilla.org, guidelines
5.7) for nginx 1.22 and OpenSSL 3.0 (Debian bookworm): protocols, TLS 1.2 cipher suites,
key-exchange curves, `ssl_prefer_server_ciphers off`, a shared session cache of one day with
session tickets off. TLS 1.3 suites are OpenSSL's defaults, which are the profile's three.

`intermediate` keeps the generator's DHE suites with the RFC 7919 group ffdhe2048
(files/nginx/ffdhe2048.pem, the file the generator links): a named, public group, so nothing
is generated on hosts, and nginx serves no DHE at all without `ssl_dhparam`.

Each profile also says which pair a host generates for itself (`nginx_tls = True` without a
given pair): `modern` accepts only ECDSA certificates living at most 90 days,
`intermediate` RSA or ECDSA up to 366 days (RSA 2048 here, the widest reach).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

GUIDELINES = "5.7"  # Mozilla's server-side TLS guidelines the tables follow
SESSION_CACHE = "shared:wsready_tls:10m"  # about 40,000 sessions
SESSION_TIMEOUT = "1d"
CURVES = ("X25519", "prime256v1", "secp384r1")


@dataclass(frozen=True)
class Profile:
    """One TLS profile: what nginx offers and which pair the host generates for itself."""

    name: str
    protocols: tuple[str, ...]
    ciphers: tuple[str, ...]  # TLS 1.2 suites (OpenSSL names); () with TLS 1.3 only
    dhparam: bool  # DHE suites: nginx needs `ssl_dhparam` (ffdhe2048)
    key: tuple[str, ...]  # `openssl req` arguments for the generated key
    key_algorithm: str  # how `openssl x509 -text` names that key's algorithm
    days: int  # the generated certificate's lifetime (Mozilla's maximum)
    clients: tuple[str, ...]  # Mozilla's oldest compatible clients

    @property
    def key_kind(self) -> str:
        return "ECDSA (P-256)" if self.key_algorithm == "id-ecPublicKey" else "RSA (2048 bits)"


INTERMEDIATE = Profile(
    name="intermediate",
    protocols=("TLSv1.2", "TLSv1.3"),
    ciphers=(
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    ),
    dhparam=True,
    key=("-newkey", "rsa:2048"),
    key_algorithm="rsaEncryption",
    days=365,
    clients=(
        "Firefox 27",
        "Android 4.4.2",
        "Chrome 31",
        "Edge",
        "IE 11 on Windows 7",
        "Java 8u31",
        "OpenSSL 1.0.1",
        "Opera 20",
        "Safari 9",
    ),
)

MODERN = Profile(
    name="modern",
    protocols=("TLSv1.3",),
    ciphers=(),
    dhparam=False,
    key=("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
    key_algorithm="id-ecPublicKey",
    days=90,
    clients=(
        "Firefox 63",
        "Android 10.0",
        "Chrome 70",
        "Edge 75",
        "Java 11",
        "OpenSSL 1.1.1",
        "Opera 57",
        "Safari 12.1",
    ),
)

PROFILES: dict[str, Profile] = {profile.name: profile for profile in (INTERMEDIATE, MODERN)}
DEFAULT = INTERMEDIATE.name


def profile(name: str) -> Profile:
    """The profile called `name` (a value of `nginx_tls_profile`, validated before)."""
    return PROFILES[name]


def nginx_directives(
    name: str,
    dhparam_path: str,
    hsts_max_age: int | None = None,
    stapling_trusted: str | None = None,
) -> list[str]:
    """The TLS server block's directives for profile `name` (one per line, in the
    generator's order). `hsts_max_age`: send Strict-Transport-Security with it.
    `stapling_trusted`: staple OCSP answers, verified against that chain (only for a
    certificate that names an OCSP responder: nginx warns and ignores stapling otherwise)."""
    chosen = profile(name)
    lines = [f"ssl_protocols {' '.join(chosen.protocols)};", f"ssl_ecdh_curve {':'.join(CURVES)};"]
    if chosen.ciphers:
        lines.append(f"ssl_ciphers {':'.join(chosen.ciphers)};")
    lines += [
        "ssl_prefer_server_ciphers off;",
        f"ssl_session_cache {SESSION_CACHE};",
        f"ssl_session_timeout {SESSION_TIMEOUT};",
        "ssl_session_tickets off;",
    ]
    if chosen.dhparam:
        lines.append(f"ssl_dhparam {dhparam_path};")
    if stapling_trusted:
        lines += [
            "ssl_stapling on;",
            "ssl_stapling_verify on;",
            f"ssl_trusted_certificate {stapling_trusted};",
        ]
    if hsts_max_age is not None:
        lines.append(f'add_header Strict-Transport-Security "max-age={hsts_max_age}" always;')
    return lines


def ocsp_responder(pem: bytes) -> str | None:
    """The OCSP responder URL in the first certificate of `pem` (its AIA extension), or None,
    also when `pem` holds no certificate (`nginx -t` then refuses it with its own words)."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None
    try:
        access = certificate.extensions.get_extension_for_oid(
            ExtensionOID.AUTHORITY_INFORMATION_ACCESS
        ).value
    except x509.ExtensionNotFound:
        return None
    for description in access:
        if description.access_method == AuthorityInformationAccessOID.OCSP:
            return description.access_location.value
    return None
