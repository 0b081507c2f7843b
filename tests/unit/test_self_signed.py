"""When the generated self-signed pair is kept and when it is made again."""

from __future__ import annotations

import pytest

from wsready.deploy import self_signed

CURRENT_IP = (
    "X509v3 Subject Alternative Name: \n    IP Address:10.200.1.2\nCertificate will not expire\n"
)
CURRENT_V6 = (
    "X509v3 Subject Alternative Name: \n    IP Address:2001:DB8:0:0:0:0:0:1\n"
    "Certificate will not expire\n"
)
CURRENT_DNS = (
    "X509v3 Subject Alternative Name: \n    DNS:ws.example.com\nCertificate will not expire\n"
)
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
    ],
)
def test_certificate_is_made_again(report: str, address: str, reason: str) -> None:
    assert self_signed.renewal_reason(report, address) == reason


def test_subject_alt_name_kind_follows_the_address() -> None:
    assert self_signed.subject_alt_name("10.200.1.2") == "IP:10.200.1.2"
    assert self_signed.subject_alt_name("2001:db8::1") == "IP:2001:db8::1"
    assert self_signed.subject_alt_name("ws.example.com") == "DNS:ws.example.com"


def test_inspection_asks_for_names_and_the_renewal_window() -> None:
    command = self_signed.inspection_command("/etc/wsready/tls/self-signed-cert.pem")
    assert "-ext subjectAltName" in command
    assert f"-checkend {30 * 86400}" in command
    assert command.endswith("|| true")
