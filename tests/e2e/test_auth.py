"""One token check for REST and the socket, end to end on a sandbox host with app_auth="jwt".

The host is a fleet host redeployed from an inventory variant (auth on, a secret made for
this run); the valid token comes from `wsready token` reading that same inventory. Each
token is tried on the protected REST route and as the Socket.IO CONNECT auth payload.
The host is redeployed with the fleet's own data (auth off) afterwards.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Fleet, redeploy, run_deploy
from tests.e2e.variants import inventory_variant, rest_status, socket_answer
from wsready import tokens

pytestmark = pytest.mark.e2e

AUDIENCE = "wsready-e2e"
TOKEN_ENV = "WSREADY_E2E_TOKEN"


@dataclass
class JwtHost:
    name: str
    address: str
    inventory: Path
    secret: str
    token: str  # minted by `wsready token`


def redacted(text: str, *hidden: str) -> str:
    for value in hidden:
        text = text.replace(value, "[hidden]")
    return text


def mint_with_cli(inventory: Path, ttl_s: int = 600) -> str:
    completed = subprocess.run(
        ["wsready", "token", "--inventory", str(inventory), "--ttl", str(ttl_s)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stderr == ""
    return completed.stdout.strip()


def deploy_with_jwt(fleet: Fleet, host_name: str, inventory_path: Path) -> JwtHost:
    """Deploy `host_name` with app_auth="jwt" and a fresh secret; verify uses a minted token."""
    secret = secrets.token_urlsafe(32)
    inventory = inventory_variant(
        fleet.inventory,
        inventory_path,
        [host_name],
        app_auth="jwt",
        app_jwt_secret=secret,
        app_jwt_audience=AUDIENCE,
        verify_token_env=TOKEN_ENV,
    )
    token = mint_with_cli(inventory)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TOKEN_ENV, token)
        result = run_deploy(inventory)
    assert result.returncode == 0, redacted(str(result), secret, token)
    address = next(host.address for host in fleet.hosts if host.name == host_name)
    return JwtHost(host_name, address, inventory, secret, token)


@pytest.fixture(scope="module")
def jwt_host(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwtHost]:
    host = fleet.hosts[0]
    try:
        yield deploy_with_jwt(fleet, host.name, tmp_path_factory.mktemp("auth") / "auth.py")
    finally:
        restored = redeploy(fleet, "--limit", host.name)
        assert restored.returncode == 0, str(restored)


def matrix_tokens(host: JwtHost) -> dict[str, str | None]:
    now = time.time()
    return {
        "none": None,
        "expired": tokens.mint(host.secret, ttl_s=60, audience=AUDIENCE, now=now - 3600),
        "not yet valid": tokens.mint(host.secret, ttl_s=60, audience=AUDIENCE, now=now + 3600),
        "wrong signature": tokens.mint(secrets.token_urlsafe(32), audience=AUDIENCE),
        "wrong audience": tokens.mint(host.secret, audience="another-service"),
        "valid (wsready token)": host.token,
    }


EXPECTED = {
    "none": (401, "44"),
    "expired": (401, "44"),
    "not yet valid": (401, "44"),
    "wrong signature": (401, "44"),
    "wrong audience": (401, "44"),
    "valid (wsready token)": (200, "40"),
}


def test_token_matrix_rest_and_socket_agree(jwt_host: JwtHost):
    seen = {}
    for case, token in matrix_tokens(jwt_host).items():
        seen[case] = (rest_status(jwt_host.address, token), socket_answer(jwt_host.address, token))
    print(f"\ntoken matrix on {jwt_host.name} (app_auth=jwt, audience {AUDIENCE}):")
    print(f"  {'token':<22} {'REST /api/whoami':<18} socket CONNECT")
    for case, (rest, sock) in seen.items():
        want_rest, want_sock = EXPECTED[case]
        mark = "ok" if (rest, sock) == (want_rest, want_sock) else "UNEXPECTED"
        print(f"  {case:<22} {rest:<18} {sock:<14} {mark}")
    assert seen == EXPECTED


def test_health_stays_public_with_auth_on(jwt_host: JwtHost):
    assert rest_status(jwt_host.address, None, path="/api/health") == 200


def test_cli_token_follows_the_inventory_secret(jwt_host: JwtHost):
    """A token minted now, from the inventory the deploy used, is accepted by both."""
    fresh = mint_with_cli(jwt_host.inventory, ttl_s=30)
    assert rest_status(jwt_host.address, fresh) == 200
    assert socket_answer(jwt_host.address, fresh) == "40"
