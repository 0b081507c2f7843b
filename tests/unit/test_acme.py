"""ACME data rules (wsready/hostdata/acme.py) and the decision to order a certificate
(wsready/deploy/acme.py)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from wsready import hostdata
from wsready.deploy import acme, tls_paths

ACME = {"nginx_tls": "acme", "acme_email": "ops@example.com", "nginx_server_name": "ws.example.com"}
RENEWAL = """\
# renew_before_expiry = 30 days
version = 2.1.0
archive_dir = /etc/letsencrypt/archive/wsready
cert = /etc/letsencrypt/live/wsready/cert.pem

[renewalparams]
account = 0123abcd
authenticator = webroot
webroot_path = /var/lib/wsready/acme,
server = https://acme.example/dir
key_type = ecdsa
[[webroot_map]]
ws.example.com = /var/lib/wsready/acme
API.example.com = /var/lib/wsready/acme
"""


def messages(data: dict) -> list[str]:
    return [str(error) for error in hostdata.validate(data)]


def test_acme_data_is_valid() -> None:
    assert messages(ACME) == []


@pytest.mark.parametrize("mode", [False, True, "acme"])
def test_each_tls_mode_is_accepted(mode: object) -> None:
    data = {**ACME, "nginx_tls": mode}
    assert not [m for m in messages(data) if m.startswith("nginx_tls ")]


@pytest.mark.parametrize("mode", ["ACME", "letsencrypt", 1, "true", None])
def test_other_tls_modes_are_refused(mode: object) -> None:
    assert messages({"nginx_tls": mode}) == [f'nginx_tls = {mode!r}: must be False, True or "acme"']


def test_acme_needs_an_email() -> None:
    data = {**ACME, "acme_email": None}
    assert messages(data) == ['acme_email = None: is required with nginx_tls = "acme"']


@pytest.mark.parametrize("name", ["_", "*.example.com", "~^ws", "10.0.0.5", "localhost"])
def test_acme_names_must_be_provable_dns_names(name: str) -> None:
    found = messages({**ACME, "nginx_server_name": f"ws.example.com {name}"})
    assert len(found) == 1 and found[0].startswith("nginx_server_name = ")
    assert f"{name!r} cannot be in an ACME certificate" in found[0]


def test_the_same_names_are_fine_without_acme() -> None:
    assert messages({"nginx_server_name": "_ *.example.com"}) == []


def test_acme_refuses_a_given_pair(tmp_path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("c")
    key.write_text("k")
    data = {**ACME, "nginx_tls_cert_file": str(cert), "nginx_tls_key_file": str(key)}
    found = messages(data)
    assert len(found) == 1 and "drop nginx_tls_cert_file" in found[0]


def test_directory_must_be_https() -> None:
    found = messages({**ACME, "acme_directory_url": "http://acme.example/dir"})
    assert len(found) == 1 and found[0].startswith("acme_directory_url = ")


def test_renewal_conf_gives_server_and_names() -> None:
    lineage = acme.parse_renewal_conf(RENEWAL)
    assert lineage == acme.Lineage(
        "https://acme.example/dir", ("ws.example.com", "api.example.com")
    )


def test_no_renewal_conf_is_no_lineage() -> None:
    assert acme.parse_renewal_conf(None) is None
    assert acme.parse_renewal_conf("") is None


def test_order_reasons() -> None:
    names = ["ws.example.com", "api.example.com"]
    lineage = acme.parse_renewal_conf(RENEWAL)
    assert acme.order_reason(lineage, list(reversed(names)), "https://acme.example/dir") is None
    assert acme.order_reason(None, names, "https://acme.example/dir") == "no certificate yet"
    other_ca = acme.order_reason(lineage, names, "https://other.example/dir")
    assert (
        other_ca
        == "the certificate is from https://acme.example/dir, not https://other.example/dir"
    )
    fewer = acme.order_reason(lineage, ["ws.example.com"], "https://acme.example/dir")
    assert fewer == "the certificate names ws.example.com, api.example.com"


def test_order_command_is_one_argv_with_every_name() -> None:
    argv = acme.order_command(
        ["ws.example.com", "api.example.com"],
        "ops@example.com",
        "https://acme.example/dir",
        ca_file_on_host=acme.CA_BUNDLE,
        replace=False,
    )
    assert argv[:3] == ["env", f"REQUESTS_CA_BUNDLE={acme.CA_BUNDLE}", "certbot"]
    assert argv[argv.index("--server") + 1] == "https://acme.example/dir"
    assert argv[argv.index("--webroot-path") + 1] == acme.WEBROOT
    assert argv[argv.index("--deploy-hook") + 1] == acme.HOOK
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-d"] == [
        "ws.example.com",
        "api.example.com",
    ]
    assert "--force-renewal" not in argv
    replace = acme.order_command(
        ["a.example"], "o@a.example", "https://x/d", ca_file_on_host=None, replace=True
    )
    assert replace[:2] == ["env", "certbot"] and "--force-renewal" in replace


def test_certificate_names_are_lowercase_and_unique() -> None:
    assert hostdata.acme.certificate_names("WS.example.com api.example.com. ws.example.com") == [
        "ws.example.com",
        "api.example.com",
    ]


def test_the_deploy_hook_installs_the_pair_where_nginx_reads_it() -> None:
    """files/acme/deploy-hook.sh carries the ACME pair's paths itself (certbot runs it)."""
    hook = (Path(__file__).resolve().parents[2] / "files" / "acme" / "deploy-hook.sh").read_text()
    assert f"cert={acme.CERT}\n" in hook
    assert f"key={acme.KEY}\n" in hook
    assert f"chain={tls_paths.ACME_CHAIN}\n" in hook
    assert f"stapling={tls_paths.ACME_STAPLING}\n" in hook
    assert fnmatch.fnmatch(tls_paths.ACME_STAPLING, tls_paths.ACME_STAPLING_PATTERN)
