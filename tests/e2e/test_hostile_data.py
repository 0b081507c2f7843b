"""Issue 13 on a real sandbox host: hostile data never reaches it, and a verbose deploy with
TLS, the monitor and auth prints no secret byte.

1. A sample of the hostile values of tests/unit/test_hostile_data.py, given to a fleet host
   with `--data`: each deploy stops in the preflight naming the key, and the host is exactly
   as before (firewall, apt and nginx config, app release, a marker file; nothing of the
   payloads ran).
2. `pyinfra -vvv --diff` of a deploy of that host with nginx_tls (our own key pair), the
   monitor (token and webhook) and app_auth = "jwt": no secret appears in the output, nor its
   base64 nor its hex. The monitor is removed and the fleet's own data redeployed afterwards.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Fleet, host_ssh, redeploy, run_deploy
from tests.e2e.test_monitor import build_wheelhouse, monitor_inventory, remove_monitor
from tests.e2e.variants import AUDIENCE, TOKEN_ENV, redacted
from wsready import sandbox
from wsready.fleet import tokens

pytestmark = pytest.mark.e2e

PWNED = "/tmp/wsready-pwned"
SAMPLE = [
    ("firewall_ssh_cidrs", f'["fe80::%x;touch {PWNED};/128"]'),
    ("proxy_url", f'http://p.example:3128/";APT::Update::Pre-Invoke{{"touch {PWNED}";}};//'),
    ("monitor_prometheus_file", "/etc/x.prom"),
    ("verify_address", f"a';touch {PWNED};'"),
    ("app_cors_origins", '["http://a.example,*"]'),
    ("nginx_extra_directives", '["} server { listen 8081; }"]'),
    ("app_dir", "/opt/wsready-app/../../etc"),
    ("kernel_sysctls", '{"net.core.somaxconn": "1\\nkernel.panic=1"}'),
]
STATE = (
    "ufw status verbose; ls -la /etc/apt/apt.conf.d /etc/wsready /etc/sysctl.d; "
    "sha256sum /etc/nginx/nginx.conf /etc/nginx/sites-enabled/* /etc/wsready-app/env; "
    "readlink /opt/wsready-app/current; stat -c '%a %U:%G %n' /etc /var/lib /opt; "
    "ls /etc/wsready/transaction 2>/dev/null; cat /root/wsready-e2e-marker; "
    f"test -e {PWNED} && echo PWNED || true"
)


def _state(host: sandbox.SandboxHost) -> str:
    return host_ssh(host, STATE, check=False)


def test_hostile_values_stop_the_deploy_and_the_host_stays_as_it_was(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    host_ssh(host, f"rm -f {PWNED}; echo untouched > /root/wsready-e2e-marker")
    try:
        before = _state(host)
        assert "PWNED" not in before
        for key, value in SAMPLE:
            result = redeploy(fleet, "--limit", host.name, "--data", f"{key}={value}")
            assert result.returncode != 0, f"{key}: accepted\n{result}"
            assert key in result.output, str(result)
        assert _state(host) == before
    finally:
        host_ssh(host, f"rm -f /root/wsready-e2e-marker {PWNED}", check=False)


def _forms(secret: str | bytes) -> list[str]:
    """The secret, its base64 (standard and URL-safe, unpadded) and its hex."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return [
        raw.decode(errors="replace"),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        raw.hex().upper(),
    ]


def _key_pair(directory: Path, address: str) -> tuple[Path, Path, bytes]:
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "90",
         "-subj", f"/CN={address}", "-addext", f"subjectAltName=IP:{address}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    der = subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-outform", "DER"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    return key, cert, der


def test_verbose_diff_of_tls_monitor_and_auth_holds_no_secret_byte(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, peer = fleet.hosts[0], fleet.hosts[1]
    jwt_secret = secrets.token_urlsafe(32)
    monitor_token = secrets.token_urlsafe(24)
    hook_secret = secrets.token_hex(16)
    key, cert, der = _key_pair(tmp_path, host.address)
    data = {
        "app_auth": "jwt",
        "app_jwt_secret": jwt_secret,
        "app_jwt_audience": AUDIENCE,
        "verify_token_env": TOKEN_ENV,
        "nginx_tls": True,
        "nginx_tls_cert_file": str(cert),
        "nginx_tls_key_file": str(key),
        "verify_tls_ca_file": str(cert),
        "monitor_targets": [f"http://{peer.address}"],
        "monitor_token_env": "WSREADY_E2E_MONITOR_TOKEN",
        "monitor_alert_webhook": f"http://127.0.0.1:9/hooks/{hook_secret}",
        "monitor_wheelhouse": str(build_wheelhouse(tmp_path / "wheels")),
    }
    inventory = monitor_inventory(fleet.inventory, host.name, data, tmp_path / "inventory.py")
    monkeypatch.setenv(TOKEN_ENV, tokens.mint(jwt_secret, 600, audience=AUDIENCE))
    monkeypatch.setenv("WSREADY_E2E_MONITOR_TOKEN", monitor_token)
    try:
        result = run_deploy(inventory, "--limit", host.name, "-vvv", "--diff")
        needles = {
            "app_jwt_secret": _forms(jwt_secret),
            "monitor token": _forms(monitor_token),
            "webhook path": _forms(hook_secret),
            # The key's PEM body lines are its base64; a 32-byte run of its DER in hex.
            "TLS key (PEM)": [line for line in key.read_text().splitlines() if "-----" not in line],
            "TLS key (DER)": _forms(der[100:132])[3:],
        }
        leaks = {what: n for what, ns in needles.items() for n in ns if n and n in result.output}
        hidden = sorted({n for ns in needles.values() for n in ns if n}, key=len, reverse=True)
        assert result.returncode == 0, redacted(str(result)[-6000:], *hidden)
        assert leaks == {}, f"secrets in the -vvv --diff output: {sorted(leaks)}"
        assert "Will modify" in result.output or "Will create" in result.output  # diff was on
        modes = host_ssh(
            host,
            "stat -c '%a %U %n' /etc/wsready-app/env /etc/wsready-monitor/env "
            "/etc/wsready/tls/key.pem",
        )
        assert [line.split()[0] for line in modes.splitlines()] == ["600", "600", "600"]
    finally:
        remove_monitor(host)
        restore = redeploy(fleet, "--limit", host.name)
        assert restore.returncode == 0, str(restore)
