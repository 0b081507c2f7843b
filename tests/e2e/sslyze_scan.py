"""Scan one TLS server with sslyze and judge it against one of Mozilla's TLS profiles.

Run by the scanner's own virtual environment (scripts/setup makes it: sslyze pins another
cryptography than wsready), not imported by the tests:

    .venv-sslyze/bin/python tests/e2e/sslyze_scan.py ADDRESS PORT NAME PROFILE [CA_FILE]

NAME is sent as SNI and checked against the certificate; CA_FILE is a trust store added to
sslyze's own for certificate-path validation. Prints one JSON object: `issues` (Mozilla
checker's findings by key; {} means compliant), what was accepted per protocol version, the
curves, and the leaf certificate's lifespan and key.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)

VERSIONS = {
    "ssl_2_0_cipher_suites": "SSLv2",
    "ssl_3_0_cipher_suites": "SSLv3",
    "tls_1_0_cipher_suites": "TLSv1",
    "tls_1_1_cipher_suites": "TLSv1.1",
    "tls_1_2_cipher_suites": "TLSv1.2",
    "tls_1_3_cipher_suites": "TLSv1.3",
}


def _key_kind(key: object) -> str:
    """ "rsa 2048", "ecdsa secp256r1", … for the leaf's public key."""
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ecdsa {key.curve.name}"
    return type(key).__name__


def main(address: str, port: str, name: str, profile: str, ca_file: str | None = None) -> int:
    extra = ScanCommandsExtraArguments()
    if ca_file:
        extra = ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=Path(ca_file))
        )
    request = ServerScanRequest(
        server_location=ServerNetworkLocation(hostname=name, port=int(port), ip_address=address),
        scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
        scan_commands_extra_arguments=extra,
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    result = next(iter(scanner.get_results()))
    if result.scan_status != ServerScanStatusEnum.COMPLETED:
        trace = result.connectivity_error_trace
        print(json.dumps({"error": f"scan {result.scan_status.name}: {trace}"}))
        return 2
    issues: dict[str, str] = {}
    try:
        check_server_against_tls_configuration(
            result, MozillaTlsConfiguration.get(TlsConfigurationEnum(profile))
        )
    except ServerNotCompliantWithTlsConfiguration as error:
        issues = error.issues
    scans = result.scan_result
    accepted = {
        label: sorted(
            suite.cipher_suite.name for suite in getattr(scans, field).result.accepted_cipher_suites
        )
        for field, label in VERSIONS.items()
    }
    curves = sorted(curve.name for curve in scans.elliptic_curves.result.supported_curves or [])
    deployment = scans.certificate_info.result.certificate_deployments[0]
    leaf = deployment.received_certificate_chain[0]
    lifespan = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    print(
        json.dumps(
            {
                "profile": profile,
                "issues": issues,
                "accepted": {label: names for label, names in accepted.items() if names},
                "curves": curves,
                "certificate": {
                    "lifespan_days": lifespan.days,
                    "key": _key_kind(leaf.public_key()),
                    "trusted": deployment.verified_certificate_chain is not None,
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
