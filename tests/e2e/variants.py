"""Helpers for the auth, fault, rollout and secret tests: inventory and app variants, and
what a host answers (REST status, Socket.IO CONNECT answer, served release)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from tests.e2e.conftest import DeployResult, Fleet, run_deploy
from wsready.inventory import host_data
from wsready.probes.packets import connect_packet, parse_open, parse_socket

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_APP = ROOT / "files" / "app"
AUDIENCE = "wsready-e2e"
TOKEN_ENV = "WSREADY_E2E_TOKEN"


def write_inventory(path: Path, hosts: dict[str, dict[str, Any]]) -> Path:
    """A pyinfra inventory file with `hosts` (name → host data) in group `hosts`, 0600."""
    lines = ["hosts = ["]
    lines += [f"    ({name!r}, {data!r})," for name, data in hosts.items()]
    lines.append("]\n")
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def inventory_variant(source: Path, path: Path, names: list[str], **data: Any) -> Path:
    """The hosts `names` of inventory `source`, in that order, with `data` added to each."""
    hosts = host_data(source)
    return write_inventory(path, {name: {**hosts[name], **data} for name in names})


def app_variant(path: Path, marker: str, edit: Callable[[str], str] | None = None) -> Path:
    """A copy of the bundled app (without node_modules) whose server.js is changed: a marker
    comment (a new release hash) and, optionally, `edit` applied to its text."""
    shutil.copytree(BUNDLED_APP, path, ignore=shutil.ignore_patterns("node_modules"))
    server = path / "server.js"
    text = server.read_text() + f"\n// release marker: {marker}\n"
    server.write_text(edit(text) if edit else text)
    return path


def crash_at_start(text: str) -> str:
    """server.js that exits before listening: systemd keeps restarting it, nginx answers 502."""
    return text.replace(
        "async function main() {",
        "async function main() {\n  throw new Error('release broken on purpose');",
        1,
    )


def wrong_socketio_path(text: str) -> str:
    """server.js that serves Socket.IO on /socket instead of WS_PATH: /ws answers 404."""
    return text.replace(
        "config = loadConfig(process.env);",
        "config = { ...loadConfig(process.env), wsPath: '/socket' };",
        1,
    )


def served_version(address: str, timeout_s: float = 3.0) -> str | None:
    """`version` (the release hash) from /api/health, or None when it does not answer 200."""
    try:
        response = requests.get(f"http://{address}/api/health", timeout=timeout_s)
    except requests.RequestException:
        return None
    return response.json().get("version") if response.status_code == 200 else None


def upgrade_status(address: str, path: str = "/ws", timeout_s: float = 3.0) -> int | None:
    """HTTP status of the WebSocket upgrade at `path` (101 when it works)."""
    try:
        ws = websocket.create_connection(
            f"ws://{address}{path}/?EIO=4&transport=websocket", timeout=timeout_s
        )
    except websocket.WebSocketBadStatusException as error:
        return error.status_code
    except (OSError, websocket.WebSocketException):
        return None
    status = ws.getstatus()
    ws.close()
    return status


def rest_status(address: str, token: str | None, path: str = "/api/whoami") -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(f"http://{address}{path}", headers=headers, timeout=5).status_code


def socket_answer(address: str, token: str | None, path: str = "/ws") -> str:
    """The Socket.IO answer to CONNECT with `token`: "40" (accepted) or "44" (refused)."""
    ws = websocket.create_connection(f"ws://{address}{path}/?EIO=4&transport=websocket", timeout=5)
    try:
        parse_open(ws.recv())
        ws.send(connect_packet(token))
        while True:
            text = ws.recv()
            if text.startswith("4"):
                packet = parse_socket(text)
                return "4" + packet.type
    finally:
        ws.close()


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


def deploy_with_jwt(
    fleet: Fleet, host_name: str, inventory_path: Path, *pyinfra_args: str
) -> tuple[JwtHost, DeployResult]:
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
        result = run_deploy(inventory, *pyinfra_args)
    assert result.returncode == 0, redacted(str(result), secret, token)
    address = next(host.address for host in fleet.hosts if host.name == host_name)
    return JwtHost(host_name, address, inventory, secret, token), result
