"""Probing one host behind a DNS name: `Target.connect_address` (curl's --connect-to).

A loopback HTTPS Socket.IO server holds a certificate for ws.example.test only, signed by a
private CA. Probed at https://ws.example.test with connect_address 127.0.0.1 every probe
passes: the connection goes to loopback while SNI, Host and the certificate check use the
name. Probed by address, the same certificate is (rightly) refused for the wrong name."""

from __future__ import annotations

import io
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import socketio

from tests.pki import PrivateCA
from tests.unit.loopback import socketio_server
from wsready import cli
from wsready.environment import Environment
from wsready.probes import run_probes
from wsready.probes.model import Target

NAME = "ws.example.test"


seen_hosts: list[str | None] = []  # the Host header of each REST request


def rest(environ, start_response):
    seen_hosts.append(environ.get("HTTP_HOST"))
    body = (
        b'{"status": "ok", "websocket": "enabled"}'
        if environ["PATH_INFO"] == "/api/health"
        else b"{}"
    )
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> PrivateCA:
    return PrivateCA.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(ca: PrivateCA) -> Iterator[int]:
    pair = ca.issue([NAME], "leaf")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    sio = socketio.Server(async_mode="threading", ping_interval=1, ping_timeout=1)
    with socketio_server(sio, rest, ssl_context=context) as url:
        yield urlsplit(url).port


def by_probe(results) -> dict:
    return {result.probe: result for result in results}


def test_every_probe_passes_at_the_name_through_the_connect_address(server, ca) -> None:
    seen_hosts.clear()
    target = Target(
        f"https://{NAME}:{server}", connect_address="127.0.0.1", tls_verify=str(ca.cert)
    )
    results = by_probe(run_probes(target, timeout_s=5))
    failed = {n: str(r) for n, r in results.items() if not r.ok and not r.skipped}
    assert failed == {}
    assert results["dns"].detail["addresses"] == ["127.0.0.1"]
    ran = {n for n, r in results.items() if r.ok and not r.skipped}
    assert {"tls", "health", "upgrade", "connect", "polling"} <= ran
    # Every request with a Host header named the URL's host (the server probe sends none).
    assert set(seen_hosts) == {None, f"{NAME}:{server}"}


def test_by_address_the_certificate_is_for_another_name(server, ca) -> None:
    target = Target(f"https://127.0.0.1:{server}", tls_verify=str(ca.cert))
    results = by_probe(run_probes(target, timeout_s=5))
    assert not results["tls"].ok
    assert results["tls"].detail.get("verify") == "name", results["tls"].detail


def test_connect_address_is_validated() -> None:
    with pytest.raises(ValueError, match="connect_address"):
        Target(f"https://{NAME}", connect_address="127.0.0.1;id")


def test_dial_url_keeps_path_and_port() -> None:
    target = Target(f"https://{NAME}:8443", connect_address="::1")
    assert target.dial_url(f"wss://{NAME}:8443/ws/?EIO=4") == "wss://[::1]:8443/ws/?EIO=4"
    assert target.host_header == f"{NAME}:8443"
    assert Target(f"https://{NAME}").host_header == NAME
    assert Target(f"https://{NAME}").dial_url(f"https://{NAME}/x") == f"https://{NAME}/x"


def test_diagnose_connects_to_the_given_address(server, ca) -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["diagnose", f"https://{NAME}:{server}", "--connect-to", "127.0.0.1"]
    argv += ["--ca-file", str(ca.cert), "--timeout", "5"]
    status = cli.main(argv, Environment(io.StringIO(), out, err, {}))
    assert status == 0, out.getvalue() + err.getvalue()
    assert "All layers work" in out.getvalue()


def test_diagnose_refuses_a_bad_connect_address() -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["diagnose", f"https://{NAME}", "--connect-to", "a b"]
    assert cli.main(argv, Environment(io.StringIO(), out, err, {})) == 3
    assert "--connect-to = 'a b'" in err.getvalue()
