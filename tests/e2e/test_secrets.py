"""Secrets stay secret: the JWT secret and tokens appear in no captured output and no log,
and on the host they live only in the 0600 environment file of the service user.

A fleet host is redeployed with app_auth="jwt" and a secret made for this run, at `-vvv
--diff`; then the host's logs and the output of `wsready token/check/diagnose/rollout` are
searched for the secret, for every token used, and for anything shaped like a JWT.
The host is redeployed with the fleet's own data (auth off) afterwards.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import ROOT, DeployResult, Fleet, host_ssh, redeploy
from tests.e2e.variants import (
    AUDIENCE,
    TOKEN_ENV,
    JwtHost,
    deploy_with_jwt,
    rest_status,
    socket_answer,
)
from wsready import sandbox
from wsready.fleet import tokens

pytestmark = pytest.mark.e2e

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")
ENV_FILE = "/etc/wsready-app/env"


@dataclass
class Deployed:
    jwt: JwtHost
    host: sandbox.SandboxHost
    deploy: DeployResult
    wrong_token: str  # signed with another secret: refused by the app


@pytest.fixture(scope="module")
def deployed(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    host = fleet.hosts[0]
    try:
        path = tmp_path_factory.mktemp("secrets") / "jwt.py"
        jwt_host, result = deploy_with_jwt(fleet, host.name, path, "-vvv", "--diff")
        wrong = tokens.mint(secrets.token_urlsafe(32), audience=AUDIENCE)
        yield Deployed(jwt_host, host, result, wrong)
    finally:
        restored = redeploy(fleet, "--limit", host.name)
        assert restored.returncode == 0, str(restored)


def leaks(text: str, deployed: Deployed) -> list[str]:
    """Which secret things `text` holds (names only, never the values)."""
    found = []
    if deployed.jwt.secret in text:
        found.append("the JWT secret")
    if deployed.jwt.token in text:
        found.append("the deploy's token")
    if deployed.wrong_token in text:
        found.append("the refused token")
    if JWT_SHAPE.search(text):
        found.append("a JWT-shaped string")
    return found


def run_cli(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if token is not None:
        env[TOKEN_ENV] = token
    return subprocess.run(
        ["wsready", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_pyinfra_output_at_vvv_and_diff_has_no_secret(deployed: Deployed):
    output = deployed.deploy.output
    assert "Write the app environment file" in output  # the step that carries the secret ran
    assert "JWT_SECRET" not in output
    assert leaks(output, deployed) == []
    print(f"\npyinfra -vvv --diff: {len(output.splitlines())} lines searched, no secret")


def test_env_file_is_0600_owned_by_the_service_user(deployed: Deployed):
    host = deployed.host
    assert host_ssh(host, f"stat -c '%a %U %G' {ENV_FILE}").split() == ["600", "wsready", "wsready"]
    assert host_ssh(host, "stat -c '%a %U %G' /etc/wsready-app").split() == [
        "750",
        "root",
        "wsready",
    ]
    assert host_ssh(host, f"grep -c '^JWT_SECRET=' {ENV_FILE}").strip() == "1"
    refused = sandbox.ssh(host, f"runuser -u nobody -- cat {ENV_FILE}")
    assert refused.returncode != 0 and "Permission denied" in refused.stderr


def test_secret_is_in_no_command_line_or_unit(deployed: Deployed):
    host = deployed.host
    processes = host_ssh(host, "ps -eo args")
    unit = host_ssh(
        host, "systemctl cat wsready-app@0; systemctl show wsready-app@0 -p Environment"
    )
    assert "node" in processes and "EnvironmentFile=/etc/wsready-app/env" in unit
    assert leaks(processes + unit, deployed) == []


def test_logs_on_the_host_hold_no_secret_or_token(deployed: Deployed):
    address, jwt_host = deployed.jwt.address, deployed.jwt
    assert rest_status(address, jwt_host.token) == 200
    assert rest_status(address, deployed.wrong_token) == 401
    assert socket_answer(address, jwt_host.token) == "40"
    assert socket_answer(address, deployed.wrong_token) == "44"
    app_log = host_ssh(deployed.host, "journalctl -u 'wsready-app@*' --no-pager -o cat")
    assert "REST request refused" in app_log  # the refusals were logged, with a reason only
    everything = host_ssh(
        deployed.host, "journalctl --no-pager -o cat; cat /var/log/nginx/*.log 2>/dev/null"
    )
    assert leaks(app_log + everything, deployed) == []
    print(f"\nhost logs: {len(everything.splitlines())} journal + nginx lines, no secret")


def test_token_check_diagnose_and_rollout_output_hold_no_secret(deployed: Deployed):
    jwt_host = deployed.jwt
    url = f"http://{jwt_host.address}"
    runs = {
        "token": run_cli("token", "--inventory", str(jwt_host.inventory)),
        "check": run_cli("check", url, "--token-env", TOKEN_ENV, token=jwt_host.token),
        "check --json": run_cli(
            "check", url, "--json", "--token-env", TOKEN_ENV, token=jwt_host.token
        ),
        "check --inventory": run_cli(
            "check", "--inventory", str(jwt_host.inventory), "--token-env", TOKEN_ENV,
            token=jwt_host.token,
        ),
        "diagnose (refused token)": run_cli(
            "diagnose", url, "--token-env", TOKEN_ENV, token=deployed.wrong_token
        ),
        "diagnose --json (refused token)": run_cli(
            "diagnose", url, "--json", "--token-env", TOKEN_ENV, token=deployed.wrong_token
        ),
        "rollout (token minted inside)": run_cli(
            "rollout", str(jwt_host.inventory), "--probe-retries", "0"
        ),
    }  # fmt: skip
    print()
    for name, completed in runs.items():
        print(f"  wsready {name}: exit {completed.returncode}, "
              f"{len((completed.stdout + completed.stderr).splitlines())} lines")  # fmt: skip
    assert JWT_SHAPE.fullmatch(runs["token"].stdout.strip())
    assert runs["check"].returncode == 0, runs["check"].stdout + runs["check"].stderr
    assert runs["diagnose (refused token)"].returncode == 2
    assert "44" in runs["diagnose (refused token)"].stdout
    rollout = runs["rollout (token minted inside)"]
    assert rollout.returncode == 0, rollout.stdout + rollout.stderr
    assert f"{TOKEN_ENV}: a token minted for the verify step" in rollout.stdout
    for name, completed in runs.items():
        output = completed.stdout + completed.stderr
        if name == "token":
            output = completed.stderr
        assert leaks(output, deployed) == [], name
