"""`wsready check --inventory` trusts the private CA a host's data names (verify_tls_ca_file),
as the deploy's verify step does: one target for both.

A loopback HTTPS server presents a certificate signed by a throwaway CA. The check runs in a
fresh interpreter (other unit tests import pyinfra_cli, whose gevent monkey-patching breaks
TLS client code in this process).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.unit.test_probes_loopback import HEALTH, serve


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def private_ca_pair(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate for 127.0.0.1 signed by it, server key) files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("wsready test CA"))
        .issuer_name(_name("wsready test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=60))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(_pem_key(key))
    return files


def check_inventory(inventory: Path) -> dict:
    """`wsready check --inventory FILE --json` in a new process: its JSON report."""
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from wsready.cli import main; sys.exit(main())",
            "check",
            "--inventory",
            str(inventory),
            "--json",
            "--timeout",
            "3",
            "--retries",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.stdout, completed.stderr
    return json.loads(completed.stdout)


def test_check_from_inventory_verifies_against_the_hosts_private_ca(tmp_path: Path) -> None:
    ca_file, cert_file, key_file = private_ca_pair(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = serve(lambda handler: HEALTH, context=context)
    url = next(server)
    try:
        port = int(url.rsplit(":", 1)[1])
        data = {
            "verify_address": "127.0.0.1",
            "nginx_tls": True,
            "nginx_tls_port": port,
            "nginx_tls_cert_file": str(cert_file),
            "nginx_tls_key_file": str(key_file),
            "verify_tls_ca_file": str(ca_file),
        }
        inventory = tmp_path / "fleet.py"
        inventory.write_text(f"web = [('web1', {data!r})]\n", encoding="utf-8")
        report = check_inventory(inventory)
    finally:
        next(server, None)
    (target,) = report["targets"]
    probes = {probe["probe"]: probe for probe in target["probes"]}
    assert probes["tls"]["ok"], probes["tls"]["actual"]
    assert probes["health"]["ok"], probes["health"]["actual"]
