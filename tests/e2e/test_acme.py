"""ACME certificates on a sandbox host, against a real ACME server (pebble, tests/e2e/
acme_server.py): `nginx_tls = "acme"` orders over HTTP-01 through nginx, serves `wss://NAME`
with a certificate that verifies against the CA's root, orders nothing on the next run,
renews with a new serial while open WebSockets stay up, and a challenge the CA cannot reach
fails the deploy with the CA's error while the previous config keeps serving.

The tests run in file order on the fleet's second host and put it back at the end.
"""

from __future__ import annotations

import re
import shlex
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import websocket
from cryptography import x509

from tests.e2e import tls_checks
from tests.e2e.acme_server import AcmeServer
from tests.e2e.conftest import (
    RELEASES,
    Fleet,
    changed_rows,
    fleet_of,
    host_ssh,
    redeploy,
    run_deploy,
)
from tests.e2e.test_transaction import served
from tests.e2e.variants import inventory_variant
from tests.waiting import wait_for
from wsready import sandbox
from wsready.deploy import tls_paths
from wsready.deploy.acme import HOOK as ACME_HOOK
from wsready.probes import run_probes
from wsready.probes.model import Target
from wsready.probes.packets import parse_open, parse_socket

# Mozilla's finding for a leaf signed with RSA (pebble's CA key), under the modern profile.
PEBBLE_RSA_SIGNATURE = "certificate_signatures"
DROP_HTTP = "INPUT -p tcp --dport 80 -m comment --comment wsready-e2e-acme -j DROP"


@pytest.fixture(scope="module", params=RELEASES)
def fleet(request: pytest.FixtureRequest) -> Fleet:
    """This module runs on the bookworm fleet and on the trixie one (what differs between
    releases: certbot, its timer, nginx)."""
    return fleet_of(request)


@dataclass
class AcmeHost:
    host: sandbox.SandboxHost
    name: str
    root: Path  # the root pebble issues under: what clients trust
    inventory: Path
    server: AcmeServer

    def target(self) -> Target:
        """https://NAME at this host's address, verified against pebble's root."""
        return Target(
            f"https://{self.name}", connect_address=self.host.address, tls_verify=str(self.root)
        )

    def plain_get(self, path: str) -> requests.Response:
        """GET http://NAME<path> at this host's address, redirects not followed."""
        return requests.get(
            f"http://{self.host.address}{path}",
            headers={"Host": self.name},
            allow_redirects=False,
            timeout=5,
        )


@pytest.fixture(scope="module")
def acme_host(fleet: Fleet, acme: AcmeServer, tmp_path_factory) -> Iterator[AcmeHost]:
    host = fleet.hosts[1]
    name = f"{host.name}.acme.test"
    acme.map_name(name, host.address)
    directory = tmp_path_factory.mktemp("acme-host")
    root = acme.issuing_root(directory / "pebble-root.pem")
    inventory = inventory_variant(
        fleet.inventory,
        directory / "acme.py",
        [host.name],
        nginx_tls="acme",
        nginx_server_name=name,
        acme_email="ops@example.com",
        acme_directory_url=acme.directory_url(host.gateway),
        acme_ca_file=str(acme.https_ca),
        verify_tls_ca_file=str(root),
    )
    try:
        yield AcmeHost(host, name, root, inventory, acme)
    finally:
        host_ssh(host, f"iptables -D {DROP_HTTP} 2>/dev/null || true")
        restored = redeploy(fleet, "--limit", host.name)
        assert restored.returncode == 0, restored.output[-3000:]


def served_certificate(target: AcmeHost) -> x509.Certificate:
    """The certificate nginx serves for the name, verified against pebble's root."""
    context = ssl.create_default_context(cafile=str(target.root))
    with (
        socket.create_connection((target.host.address, 443), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=target.name) as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def open_engineio(target: AcmeHost) -> websocket.WebSocket:
    """wss://NAME/ws with full verification, Engine.IO opened (no Socket.IO CONNECT yet)."""
    ws = websocket.create_connection(
        f"wss://{target.host.address}/ws/?EIO=4&transport=websocket",
        timeout=10,
        host=target.name,
        sslopt={"server_hostname": target.name, "ca_certs": str(target.root)},
        suppress_origin=True,
    )
    parse_open(ws.recv())
    return ws


def test_a_challenge_the_ca_cannot_reach_fails_the_deploy_and_the_old_config_serves(
    acme_host: AcmeHost,
) -> None:
    host = acme_host.host
    before = served(host.address)
    assert before["site"], before
    listening_before = host_ssh(host, "ss -Hltn 'sport = :443' | wc -l")
    host_ssh(host, f"iptables -I {DROP_HTTP}")
    try:
        result = run_deploy(acme_host.inventory)
    finally:
        host_ssh(host, f"iptables -D {DROP_HTTP}")
    output = result.output
    assert result.returncode != 0, output[-3000:]
    # certbot's report of the CA's own error, naming the challenge URL it could not fetch.
    assert "The Certificate Authority reported these problems" in output, output[-4000:]
    challenge = rf"http://{re.escape(acme_host.name)}(:80)?/\.well-known/acme-challenge/\S+"
    assert re.search(challenge, output), output[-4000:]
    assert "the ACME order failed (no certificate yet): rolling back this run" in output
    after = served(host.address)
    assert after == before
    assert host_ssh(host, "ss -Hltn 'sport = :443' | wc -l") == listening_before
    # The bootstrap pair was put back to "absent" with the rest of the run.
    left = host_ssh(host, "ls /etc/wsready/tls/ 2>/dev/null || true").split()
    assert [name for name in left if name.startswith("acme-")] == []


def test_deploy_orders_the_certificate_and_serves_wss_with_it(acme_host: AcmeHost) -> None:
    result = run_deploy(acme_host.inventory)
    assert result.returncode == 0, result.output[-4000:]
    assert "Order the certificate" in result.output

    certificate = served_certificate(acme_host)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert names.value.get_values_for_type(x509.DNSName) == [acme_host.name]
    assert "Pebble" in certificate.issuer.rfc4514_string()

    results = run_probes(acme_host.target(), timeout_s=5)
    failed = [str(r) for r in results if not r.ok and not r.skipped]
    assert failed == []
    assert {r.probe for r in results if r.ok} >= {"tls", "health", "upgrade", "connect"}

    # The challenge path is served by nginx on port 80, not redirected to HTTPS.
    missing = acme_host.plain_get("/.well-known/acme-challenge/nothing")
    assert missing.status_code == 404
    other = acme_host.plain_get("/")
    assert other.status_code == 301
    assert other.headers["Location"] == f"https://{acme_host.name}/"
    timer = host_ssh(
        acme_host.host, "systemctl is-enabled certbot.timer; systemctl is-active certbot.timer"
    )
    assert timer.split() == ["enabled", "active"]

    # Mozilla's intermediate profile, the chain checked against pebble's root.
    scan = tls_checks.mozilla_scan(
        acme_host.host.address, "intermediate", name=acme_host.name, ca_file=acme_host.root
    )
    tls_checks.assert_compliant(scan)
    assert scan["certificate"]["lifespan_days"] <= 90
    client = tls_checks.socketio_connects(
        f"https://{acme_host.host.address}", ca_file=acme_host.root, servername=acme_host.name
    )
    assert client["protocol"] == "TLSv1.3", client
    # pebble's certificates name no OCSP responder: no stapling, and nginx has nothing to
    # warn about.
    served_pem = host_ssh(acme_host.host, f"openssl x509 -noout -text -in {tls_paths.ACME[0]}")
    assert "OCSP" not in served_pem
    assert host_ssh(acme_host.host, f"ls {tls_paths.ACME_STAPLING} 2>&1 || true").endswith(
        "No such file or directory\n"
    )
    checked = host_ssh(acme_host.host, "nginx -t 2>&1")
    assert "stapling" not in checked, checked


def test_the_next_deploy_changes_nothing_and_orders_nothing(acme_host: AcmeHost) -> None:
    serial = served_certificate(acme_host).serial_number
    issued = host_ssh(acme_host.host, "ls /etc/letsencrypt/archive/wsready/").split()

    result = run_deploy(acme_host.inventory)

    assert result.returncode == 0, result.output[-4000:]
    assert changed_rows(result.output) == []
    assert host_ssh(acme_host.host, "ls /etc/letsencrypt/archive/wsready/").split() == issued
    assert served_certificate(acme_host).serial_number == serial


def test_renewal_serves_a_new_serial_and_open_websockets_survive(acme_host: AcmeHost) -> None:
    old_serial = served_certificate(acme_host).serial_number
    clients = [open_engineio(acme_host) for _ in range(5)]
    try:
        # certbot.service's own environment (the ACME CA bundle), as its timer runs it.
        host_ssh(
            acme_host.host,
            "env $(systemctl show certbot.service -p Environment --value) "
            "certbot renew --force-renewal --no-random-sleep-on-renew -q",
        )
        wait_for(
            lambda: served_certificate(acme_host).serial_number,
            30,
            "nginx serving the renewed certificate",
            until=lambda serial: serial != old_serial,
        )
        for ws in clients:
            ws.send("40")  # Socket.IO CONNECT over the Engine.IO session opened before
            packet = parse_socket(ws.recv())
            assert packet.type == "0", packet
    finally:
        for ws in clients:
            ws.close()
    results = run_probes(acme_host.target(), timeout_s=5)
    assert [str(r) for r in results if not r.ok and not r.skipped] == []


def test_modern_profile_passes_mozillas_modern_with_the_same_certificate(
    acme_host: AcmeHost,
) -> None:
    """certbot's key is ECDSA (P-256), so modern needs no new order."""
    serial = served_certificate(acme_host).serial_number
    inventory = inventory_variant(
        acme_host.inventory,
        acme_host.inventory.with_name("acme-modern.py"),
        [acme_host.host.name],
        nginx_tls_profile="modern",
    )
    result = run_deploy(inventory)
    assert result.returncode == 0, result.output[-4000:]
    assert "all probes passed" in result.output
    assert served_certificate(acme_host).serial_number == serial
    scan = tls_checks.mozilla_scan(
        acme_host.host.address, "modern", name=acme_host.name, ca_file=acme_host.root
    )
    # The one finding allowed: pebble 2.4's CA signs with an RSA key, and modern wants the
    # leaf signed with ECDSA (Let's Encrypt signs ECDSA keys with its ECDSA intermediates).
    # The host's part, an ECDSA P-256 key for 90 days, holds.
    tls_checks.assert_compliant(scan, allowed=(PEBBLE_RSA_SIGNATURE,))
    assert scan["certificate"]["key"] == "ecdsa secp256r1"
    assert scan["certificate"]["trusted"] is True
    assert set(scan["accepted"]) == {"TLSv1.3"}
    client = tls_checks.socketio_connects(
        f"https://{acme_host.host.address}", ca_file=acme_host.root, servername=acme_host.name
    )
    assert client["protocol"] == "TLSv1.3", client


def test_the_deploy_hook_staples_only_a_certificate_that_names_a_responder(
    acme_host: AcmeHost,
) -> None:
    """certbot's deploy hook, given a lineage whose certificate names an OCSP responder,
    turns stapling on (nginx -t accepts it and reloads); given pebble's lineage again, it
    turns it off."""
    host = acme_host.host
    lineage = "/root/wsready-e2e-ocsp-lineage"
    host_ssh(
        host,
        f"mkdir -p {lineage} && cd {lineage} && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 "
        f"-subj {shlex.quote('/CN=' + acme_host.name)} "
        f"-addext {shlex.quote('subjectAltName=DNS:' + acme_host.name)} "
        "-addext 'authorityInfoAccess=OCSP;URI:http://127.0.0.1:9/' "
        "-keyout privkey.pem -out fullchain.pem 2>&1 && cp fullchain.pem chain.pem",
    )
    try:
        said = host_ssh(host, f"RENEWED_LINEAGE={lineage} {ACME_HOOK} 2>&1")
        assert "nginx serves the certificate" in said, said
        stapling = host_ssh(host, f"cat {tls_paths.ACME_STAPLING}")
        assert "ssl_stapling on;" in stapling and tls_paths.ACME_CHAIN in stapling
        assert "ssl_stapling on;" in host_ssh(host, "nginx -T 2>/dev/null")
    finally:
        restored = host_ssh(host, f"{ACME_HOOK} 2>&1; rm -rf {lineage}")
    assert "nginx serves the certificate from /etc/letsencrypt/live/wsready" in restored
    assert host_ssh(host, f"ls {tls_paths.ACME_STAPLING} 2>&1 || true").endswith(
        "No such file or directory\n"
    )
    assert "ssl_stapling on;" not in host_ssh(host, "nginx -T 2>/dev/null")
    wait_for(
        lambda: served_certificate(acme_host).issuer.rfc4514_string(),
        30,
        "nginx serving pebble's certificate again",
        until=lambda issuer: "Pebble" in issuer,
    )
