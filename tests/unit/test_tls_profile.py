"""Mozilla's TLS profiles (wsready/tls_profile.py) in the rendered TLS server block,
the data keys nginx_tls_profile / nginx_tls_hsts, and OCSP stapling only for a certificate
that names a responder."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_parameters

from tests.pki import PrivateCA
from wsready import tls_profile
from wsready.deploy.nginx_config import render_site
from wsready.hostdata import HostConfig, HostDataError

ROOT = Path(__file__).resolve().parents[2]
# Mozilla's generator (ssl-config.mozilla.org, guidelines 5.7), nginx 1.22.1, OpenSSL 3.0.
MOZILLA_INTERMEDIATE = [
    "ssl_protocols TLSv1.2 TLSv1.3;",
    "ssl_ecdh_curve X25519:prime256v1:secp384r1;",
    "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
    "DHE-RSA-CHACHA20-POLY1305;",
    "ssl_prefer_server_ciphers off;",
    "ssl_session_cache shared:wsready_tls:10m;",
    "ssl_session_timeout 1d;",
    "ssl_session_tickets off;",
    "ssl_dhparam /etc/wsready/tls/ffdhe2048.pem;",
]
MOZILLA_MODERN = [
    "ssl_protocols TLSv1.3;",
    "ssl_ecdh_curve X25519:prime256v1:secp384r1;",
    "ssl_prefer_server_ciphers off;",
    "ssl_session_cache shared:wsready_tls:10m;",
    "ssl_session_timeout 1d;",
    "ssl_session_tickets off;",
]


def _tls_block(**data) -> list[str]:
    """The TLS server block's ssl_* / add_header / include lines, in order."""
    site = render_site(HostConfig.from_data("wsr-1", {"nginx_tls": True, **data}))
    block = site[site.index("listen 443") :]
    return [
        line.strip()
        for line in block.splitlines()
        if line.strip().startswith(("ssl_", "add_header Strict", "include"))
        and not line.strip().startswith(("ssl_certificate ", "ssl_certificate_key "))
    ]


def test_intermediate_is_the_default_and_renders_mozillas_generator() -> None:
    assert _tls_block() == MOZILLA_INTERMEDIATE


def test_modern_is_tls13_only_without_tls12_ciphers_or_dhparam() -> None:
    assert _tls_block(nginx_tls_profile="modern") == MOZILLA_MODERN


def test_the_profile_table_matches_the_guidelines_sslyze_checks() -> None:
    """The suites and curves are a subset of what Mozilla's 5.7 JSON allows (the copy here
    is the part the e2e scans judge; kept next to the profiles' names)."""
    assert tls_profile.GUIDELINES == "5.7"
    assert tls_profile.INTERMEDIATE.ciphers[:6] == tuple(
        name for name in tls_profile.INTERMEDIATE.ciphers if name.startswith("ECDHE-")
    )
    assert set(tls_profile.PROFILES) == {"intermediate", "modern"}
    assert tls_profile.INTERMEDIATE.days < 366 and tls_profile.MODERN.days <= 90


def test_hsts_is_off_by_default_and_sends_the_given_max_age() -> None:
    assert not any("Strict-Transport-Security" in line for line in _tls_block())
    assert _tls_block(nginx_tls_hsts=63072000)[-1] == (
        'add_header Strict-Transport-Security "max-age=63072000" always;'
    )
    site = render_site(HostConfig.from_data("wsr-1", {"nginx_tls_hsts": 600}))
    assert "Strict-Transport-Security" not in site  # no TLS, no HSTS on plain HTTP


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("nginx_tls_profile", "old"),
        ("nginx_tls_profile", "Modern"),
        ("nginx_tls_profile", None),
        ("nginx_tls_hsts", True),
        ("nginx_tls_hsts", -1),
        ("nginx_tls_hsts", "63072000"),
        ("nginx_tls_hsts", 10**10),
        ("nginx_tls_hsts", None),
    ],
)
def test_bad_values_are_refused_with_the_key(key: str, value: object) -> None:
    with pytest.raises(HostDataError) as raised:
        HostConfig.from_data("wsr-1", {"nginx_tls": True, key: value})
    assert raised.value.key == key
    assert repr(value) in str(raised.value) or str(value) in str(raised.value)


def test_acme_includes_the_stapling_file_the_deploy_hook_writes() -> None:
    lines = _tls_block(
        nginx_tls="acme", acme_email="ops@example.com", nginx_server_name="ws.example.com"
    )
    assert lines[-1] == "include /etc/wsready/tls/acme-stapling*.conf;"
    assert not any(line.startswith("ssl_stapling") for line in lines)


@pytest.mark.parametrize("with_responder", [True, False])
def test_a_given_certificate_is_stapled_only_when_it_names_an_ocsp_responder(
    tmp_path: Path, with_responder: bool
) -> None:
    ca = PrivateCA.create(tmp_path / "ca")
    aia = "authorityInfoAccess=OCSP;URI:http://ocsp.example.test/\n" if with_responder else ""
    pair = ca.issue(["ws.example.test"], "leaf", extensions_text=aia)
    lines = _tls_block(nginx_tls_cert_file=str(pair.cert), nginx_tls_key_file=str(pair.key))
    stapling = [
        "ssl_stapling on;",
        "ssl_stapling_verify on;",
        "ssl_trusted_certificate /etc/wsready/tls/cert.pem;",
    ]
    assert lines == MOZILLA_INTERMEDIATE + (stapling if with_responder else [])
    responder = tls_profile.ocsp_responder(pair.cert.read_bytes())
    assert responder == ("http://ocsp.example.test/" if with_responder else None)


def test_the_dhparam_file_is_rfc7919_ffdhe2048() -> None:
    pem = (ROOT / "files" / "nginx" / "ffdhe2048.pem").read_text()
    assert pem.startswith("-----BEGIN DH PARAMETERS-----\n")
    numbers = load_pem_parameters(pem.encode()).parameter_numbers()
    # RFC 7919, appendix A.1: p = 2^2048 - 2^1984 + (floor(2^1918 * e) + 560316) * 2^64 - 1.
    assert (numbers.g, numbers.p.bit_length()) == (2, 2048)
    assert numbers.p >> 1984 == (1 << 64) - 1  # the 64 leading one bits of every ffdhe group
    assert numbers.p & ((1 << 64) - 1) == (1 << 64) - 1
