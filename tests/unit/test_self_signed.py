"""When the generated self-signed pair is kept and when it is made again."""

from __future__ import annotations

import subprocess

import pytest

from wsready.deploy import self_signed

# What inspection_command prints after the names: dates, the renewal verdict, the key.
RSA_365 = (
    "notBefore=Dec  6 02:00:00 2026 GMT\nnotAfter=Dec  6 02:00:00 2027 GMT\n"
    "Certificate will not expire\n            Public Key Algorithm: rsaEncryption\n"
)
RSA_825 = RSA_365.replace("Dec  6 02:00:00 2027", "Mar 11 02:00:00 2029")
EC_90 = (
    "notBefore=Dec  6 02:00:00 2026 GMT\nnotAfter=Mar  6 02:00:00 2027 GMT\n"
    "Certificate will not expire\n            Public Key Algorithm: id-ecPublicKey\n"
)
NAMES_IP = "X509v3 Subject Alternative Name: \n    IP Address:10.200.1.2\n"
CURRENT_IP = NAMES_IP + RSA_365
CURRENT_V6 = "X509v3 Subject Alternative Name: \n    IP Address:2001:DB8:0:0:0:0:0:1\n" + RSA_365
CURRENT_DNS = "X509v3 Subject Alternative Name: \n    DNS:ws.example.com\n" + RSA_365
EXPIRING = "X509v3 Subject Alternative Name: \n    IP Address:10.200.1.2\nCertificate will expire\n"
UNREADABLE = "Could not open file or uri for loading certificate from /etc/wsready/tls/x\n"


@pytest.mark.parametrize(
    ("report", "address"),
    [
        (CURRENT_IP, "10.200.1.2"),
        (CURRENT_V6, "2001:db8::1"),
        (CURRENT_DNS, "WS.example.com"),
    ],
)
def test_current_certificate_naming_the_address_is_kept(report: str, address: str) -> None:
    assert self_signed.renewal_reason(report, address) is None


@pytest.mark.parametrize(
    ("report", "address", "reason"),
    [
        (CURRENT_IP, "10.200.7.2", "it does not name 10.200.7.2"),
        (CURRENT_IP, "10.200.1.20", "it does not name 10.200.1.20"),
        (CURRENT_DNS, "api.example.com", "it does not name api.example.com"),
        (CURRENT_DNS, "10.200.1.2", "it does not name 10.200.1.2"),
        (EXPIRING, "10.200.1.2", "it expires within 30 days"),
        (UNREADABLE, "10.200.1.2", "it cannot be read"),
        ("", "10.200.1.2", "it cannot be read"),
        (
            NAMES_IP + RSA_825,
            "10.200.1.2",
            "it lives 826 days, longer than the 365 of the intermediate TLS profile",
        ),
        (
            NAMES_IP + EC_90,
            "10.200.1.2",
            "its key (id-ecPublicKey) is not the RSA (2048 bits) key of the intermediate TLS "
            "profile",
        ),
        (
            NAMES_IP + "Certificate will not expire\n",
            "10.200.1.2",
            "its validity dates cannot be read",
        ),
    ],
)
def test_certificate_is_made_again(report: str, address: str, reason: str) -> None:
    assert self_signed.renewal_reason(report, address) == reason


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        (NAMES_IP + EC_90, None),
        (
            NAMES_IP + RSA_365,
            "it lives 365 days, longer than the 90 of the modern TLS profile",
        ),
        (
            NAMES_IP + RSA_365.replace("Dec  6 02:00:00 2027", "Mar  6 02:00:00 2027"),
            "its key (rsaEncryption) is not the ECDSA (P-256) key of the modern TLS profile",
        ),
    ],
)
def test_the_modern_profile_keeps_only_ecdsa_pairs_of_90_days(
    report: str, reason: str | None
) -> None:
    assert self_signed.renewal_reason(report, "10.200.1.2", "modern") == reason


def test_subject_alt_name_kind_follows_the_address() -> None:
    assert self_signed.subject_alt_name("10.200.1.2") == "IP:10.200.1.2"
    assert self_signed.subject_alt_name("2001:db8::1") == "IP:2001:db8::1"
    assert self_signed.subject_alt_name("ws.example.com") == "DNS:ws.example.com"


def test_inspection_asks_for_names_and_the_renewal_window() -> None:
    command = self_signed.inspection_command("/etc/wsready/tls/self-signed-cert.pem")
    assert "-ext subjectAltName" in command
    assert "-startdate -enddate" in command and "Public Key Algorithm" in command
    assert f"-checkend {30 * 86400}" in command
    assert command.endswith("; true")


@pytest.mark.parametrize(
    ("newkey", "days", "profile", "reason"),
    [
        (["-newkey", "rsa:2048"], 365, "intermediate", None),
        (["-newkey", "rsa:2048"], 825, "intermediate", "it lives 825 days"),
        (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"], 90, "modern", None),
        (["-newkey", "rsa:2048"], 90, "modern", "its key (rsaEncryption)"),
    ],
)
def test_the_inspection_of_a_real_certificate_decides(
    tmp_path, newkey: list[str], days: int, profile: str, reason: str | None
) -> None:
    """openssl's own output for a pair made as the deploy makes it (or as older deploys did)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", *newkey, "-nodes", "-days", str(days),
         "-subj", "/CN=10.200.1.2", "-addext", "subjectAltName=IP:10.200.1.2",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    report = subprocess.run(
        ["sh", "-c", self_signed.inspection_command(str(cert))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = self_signed.renewal_reason(report, "10.200.1.2", profile)
    if reason is None:
        assert found is None, report
    else:
        assert found is not None and found.startswith(reason), (found, report)
