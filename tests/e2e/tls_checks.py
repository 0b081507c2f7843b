"""What the TLS tests ask of a host serving wss://: sslyze's verdict against one of Mozilla's
profiles (tests/e2e/sslyze_scan.py, run by the scanner's own environment), and whether the
official socket.io-client connects and upgrades (tests/e2e/files/wss_client.js)."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from wsready.probes import Target, network, run_probes
from wsready.probes.diagnosis import Diagnosis, diagnose

ROOT = Path(__file__).resolve().parents[2]
SCANNER = Path(__file__).with_name("sslyze_scan.py")
WSS_CLIENT = Path(__file__).with_name("files") / "wss_client.js"
SCAN_TIMEOUT_S = 180
# The only finding a test may accept, and only for a certificate no public CA signed (a
# self-signed pair): Mozilla's checker validates paths against public trust stores.
PATH_VALIDATION = "certificate_path_validation"


def scanner_python() -> Path:
    """The Python of the scanner's environment (scripts/setup makes it; WSREADY_SCAN_VENV)."""
    venv = Path(os.environ.get("WSREADY_SCAN_VENV", ROOT / ".venv-sslyze"))
    python = venv / "bin" / "python"
    if not python.is_file():
        raise AssertionError(f"no sslyze environment at {venv}: run scripts/setup")
    return python


def mozilla_scan(
    address: str, profile: str, name: str | None = None, ca_file: Path | None = None
) -> dict:
    """sslyze's scan of `address`:443 (SNI and name check: `name`, else the address) judged
    against Mozilla's `profile`: {"issues": {key: why}, "accepted": {version: [suites]},
    "curves": [...], "certificate": {...}}."""
    argv = [str(scanner_python()), str(SCANNER), address, "443", name or address, profile]
    if ca_file is not None:
        argv.append(str(ca_file))
    completed = subprocess.run(
        argv, capture_output=True, text=True, timeout=SCAN_TIMEOUT_S, check=False
    )
    assert completed.returncode == 0, f"{completed.stdout}\n{completed.stderr[-3000:]}"
    scan = json.loads(completed.stdout)
    # One line per scan in the test's output (pytest -s or -rP shows it): the verdict.
    print(
        f"sslyze {name or address} against Mozilla {profile}: "
        f"findings {sorted(scan['issues']) or 'none'}; accepted "
        + "; ".join(f"{v}: {len(s)} suites" for v, s in scan["accepted"].items())
        + f"; curves {scan['curves']}; certificate {scan['certificate']}"
    )
    return scan


def assert_compliant(scan: dict, allowed: tuple[str, ...] = ()) -> None:
    """Mozilla's checker found nothing but the `allowed` findings (named by the test)."""
    unexpected = {key: why for key, why in scan["issues"].items() if key not in allowed}
    assert unexpected == {}, json.dumps(scan, indent=1)


def socketio_connects(
    url: str, *, ca_file: Path | None = None, servername: str | None = None
) -> dict:
    """The official socket.io-client's connect and upgrade over `url` (https://…): its JSON
    answer. Without `ca_file` the certificate is not checked (a self-signed sandbox pair)."""
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    argv = [node, str(WSS_CLIENT), "--url", url]
    argv += ["--ca", str(ca_file)] if ca_file is not None else ["--insecure"]
    if servername:
        argv += ["--servername", servername]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    lines = completed.stdout.strip().splitlines()
    assert lines, completed.stderr[-3000:]
    answer = json.loads(lines[-1])
    assert completed.returncode == 0 and answer["connected"], (answer, completed.stderr[-2000:])
    assert answer["transport"] == "websocket", answer
    return answer


def as_old_client(target: Target, restrict: Callable[[ssl.SSLContext], None]) -> Diagnosis:
    """diagnose's verdict when its probes offer only what an old client offers (`restrict`
    narrows the TLS context they use: versions, cipher suites)."""
    original = network.tls_context

    def old(probed: Target) -> ssl.SSLContext:
        context = original(probed)
        restrict(context)
        return context

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(network, "tls_context", old)
        results = run_probes(target, timeout_s=5)
    return diagnose(target, results)


def tls12_only(context: ssl.SSLContext) -> None:
    """A client of before TLS 1.3 (Android 9, Java 8): outside the modern profile."""
    context.maximum_version = ssl.TLSVersion.TLSv1_2


def cbc_only(context: ssl.SSLContext) -> None:
    """A TLS 1.2 client with only CBC and RSA key-exchange suites: outside both profiles."""
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-RSA-AES128-SHA:AES128-SHA:AES256-SHA256")
