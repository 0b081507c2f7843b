"""The tls probe reports the negotiated protocol and cipher, and diagnose names a handshake
refused for want of a common protocol version or cipher suite (`tls-profile`)."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.pki import EC_P256, PrivateCA
from wsready.exitstatus import ExitStatus
from wsready.probes import ProbeResult, Target
from wsready.probes.diagnosis import TLS_PROFILE_ALERTS, diagnose

TARGET = Target("https://10.200.1.2")


def _tls(ok: bool, actual: str, **detail) -> ProbeResult:
    return ProbeResult("tls", "tls", ok, ">= 7", actual, 0.01, detail=detail)


def _results(tls: ProbeResult) -> list[ProbeResult]:
    return [
        ProbeResult("dns", "dns", True, "resolves", "10.200.1.2", 0.01),
        ProbeResult("tcp", "tcp", True, "connects", "connected", 0.01),
        tls,
    ]


@pytest.mark.parametrize("alert", sorted(TLS_PROFILE_ALERTS))
def test_a_handshake_refused_for_want_of_a_common_version_or_suite_is_named(alert: str) -> None:
    tls = _tls(False, f"TLS handshake failed: [SSL: {alert}]", error="handshake", alert=alert)
    diagnosis = diagnose(TARGET, _results(tls))
    assert (diagnosis.layer, diagnosis.code, diagnosis.status) == (
        "tls",
        "tls-profile",
        ExitStatus.CRITICAL,
    )
    assert alert in diagnosis.title
    assert "nginx_tls_profile" in diagnosis.fix
    assert "Android 4.4.2" in diagnosis.fix and "Android 10.0" in diagnosis.fix
    assert "openssl s_client -connect 10.200.1.2:443 -tls1_2" in diagnosis.fix


@pytest.mark.parametrize(
    "detail",
    [
        {"error": "handshake"},  # a reset or a timeout: no alert to read
        {"error": "handshake", "alert": "WRONG_VERSION_NUMBER", "plain_http": True, "status": 400},
        {"error": "handshake", "alert": "CERTIFICATE_VERIFY_FAILED"},
    ],
)
def test_other_handshake_failures_are_not_blamed_on_the_profile(detail: dict) -> None:
    diagnosis = diagnose(TARGET, _results(_tls(False, "TLS handshake failed", **detail)))
    assert diagnosis.layer == "tls"
    assert diagnosis.code != "tls-profile"


PROBE = """
import json, sys
from wsready.probes import Target, run_probes
from wsready.probes.diagnosis import diagnose
target = Target(sys.argv[1], tls_verify=False)
results = [r for r in run_probes(target, timeout_s=3) if r.probe in ("dns", "tcp", "tls")]
diagnosis = diagnose(target, results)
tls = next(r for r in results if r.probe == "tls")
print(json.dumps({"tls": tls.to_dict(), "code": diagnosis.code, "title": diagnosis.title}))
"""


@contextmanager
def _tls_server(tmp_path: Path, configure) -> Iterator[str]:
    """A loopback TLS server (ECDSA certificate) that completes handshakes and closes."""
    pair = PrivateCA.create(tmp_path / "ca").issue(["127.0.0.1"], "leaf", newkey=EC_P256)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    configure(context)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            with raw:
                raw.settimeout(3)
                try:
                    with context.wrap_socket(raw, server_side=True):
                        pass
                except (ssl.SSLError, OSError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _probe(url: str) -> dict:
    """The probes in a new interpreter (pyinfra's gevent patching breaks TLS clients here)."""
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, url], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_the_tls_probe_reports_the_negotiated_protocol_and_cipher(tmp_path: Path) -> None:
    def tls12_gcm(context: ssl.SSLContext) -> None:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")

    with _tls_server(tmp_path, tls12_gcm) as url:
        seen = _probe(url)
    tls = seen["tls"]
    assert tls["ok"], tls["text"]
    assert (tls["detail"]["tls_version"], tls["detail"]["tls_cipher"]) == (
        "TLSv1.2",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    )
    assert tls["actual"].endswith(", TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"), tls["actual"]


def test_a_server_sharing_no_suite_with_the_client_is_diagnosed_tls_profile(
    tmp_path: Path,
) -> None:
    """A TLS 1.2 server with only CCM_8 (outside every Mozilla profile and this client's
    offer): the server's handshake_failure alert is what an old client gets from ours."""

    def ccm8_only(context: ssl.SSLContext) -> None:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE-ECDSA-AES128-CCM8")

    with _tls_server(tmp_path, ccm8_only) as url:
        seen = _probe(url)
    assert seen["tls"]["detail"]["alert"] == "SSLV3_ALERT_HANDSHAKE_FAILURE", seen["tls"]
    assert seen["code"] == "tls-profile", seen["title"]
