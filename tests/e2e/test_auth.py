"""One token check for REST and the socket, end to end on a sandbox host with app_auth="jwt".

The host is a fleet host redeployed from an inventory variant (auth on, a secret made for
this run); the valid token comes from `wsready token` reading that same inventory. Each
token is tried on the protected REST route and as the Socket.IO CONNECT auth payload.
The host is redeployed with the fleet's own data (auth off) afterwards.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Fleet, redeploy
from tests.e2e.variants import (
    AUDIENCE,
    JwtHost,
    deploy_with_jwt,
    mint_with_cli,
    rest_status,
    socket_answer,
)
from wsready.fleet import tokens

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def jwt_host(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwtHost]:
    host = fleet.hosts[0]
    try:
        jwt_host, _deploy = deploy_with_jwt(
            fleet, host.name, tmp_path_factory.mktemp("auth") / "auth.py"
        )
        yield jwt_host
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
