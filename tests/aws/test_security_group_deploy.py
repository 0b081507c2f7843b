"""tasks/security_group.py through the real pyinfra CLI (local connector) against moto_server.

The task touches no host: its work is boto3 at execute time, so `@local` exercises all of it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.aws.moto_server import AWS_TEST_ENV, REGION, rules_in, run_instance
from wsready.aws.sg_sync import GroupSyncer, SyncSpec
from wsready.hostdata import HostConfig

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = "from tasks.security_group import sync_security_group\n\nsync_security_group()\n"


def pyinfra(tmp_path: Path, data: dict, *extra: str, env: dict | None = None):
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"hosts = [('@local', {data!r})]\n")
    deploy = tmp_path / "sg_deploy.py"
    deploy.write_text(DEPLOY)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment.update(AWS_TEST_ENV if env is None else env)
    return subprocess.run(
        ["pyinfra", "-y", str(inventory), str(deploy), *extra],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def host_data(aws_env, ec2, group_id) -> dict:
    instance = run_instance(ec2, group_id)
    return {
        "sg_enabled": True,
        "aws_region": REGION,
        "aws_endpoint_url": aws_env,
        "instance_id": instance["InstanceId"],
    }


def spec(name: str, data: dict, redis_clients: list[str] | None = None) -> SyncSpec:
    """The sync spec of host `name` with `data`, read from its HostConfig as the deploy does."""
    return SyncSpec.from_data(HostConfig.from_data(name, data), redis_clients=redis_clients)


def test_deploy_opens_port_80_then_changes_nothing(tmp_path, ec2, group_id, host_data):
    first = pyinfra(tmp_path, host_data)
    after_first = rules_in(ec2, group_id)
    second = pyinfra(tmp_path, host_data)

    assert first.returncode == 0, first.stderr
    assert "2 to add, 0 to keep, 0 to revoke" in first.stderr
    assert f"{group_id}: added 2, revoked 0" in first.stderr
    assert after_first == {
        ("tcp", 80, "0.0.0.0/0", "wsready: nginx http"),
        ("tcp", 80, "::/0", "wsready: nginx http"),
    }
    assert second.returncode == 0, second.stderr
    assert f"security group {group_id}: no changes (2 to keep)" in second.stderr
    assert "added" not in second.stderr
    assert rules_in(ec2, group_id) == after_first


def test_acme_opens_443_and_keeps_80_open_for_the_challenge(tmp_path, ec2, group_id, host_data):
    host_data.update(
        nginx_tls="acme", acme_email="ops@example.com", nginx_server_name="ws.example.com"
    )

    result = pyinfra(tmp_path, host_data)

    assert result.returncode == 0, result.stderr
    assert rules_in(ec2, group_id) == {
        ("tcp", port, cidr, f"wsready: nginx {what}")
        for port, what in ((80, "http"), (443, "https"))
        for cidr in ("0.0.0.0/0", "::/0")
    }


def test_dry_deploy_prints_the_plan_and_changes_nothing(tmp_path, ec2, group_id, host_data):
    host_data["nginx_tls"] = True

    result = pyinfra(tmp_path, host_data, "--dry")

    assert result.returncode == 0, result.stderr
    assert '+ add    tcp 443 from ::/0  "wsready: nginx https"' in result.stderr
    assert f"{group_id}: dry run, nothing changed" in result.stderr
    assert rules_in(ec2, group_id) == set()


def test_deploy_without_credentials_fails_with_one_clear_line(tmp_path, ec2, group_id, host_data):
    no_credentials = {
        key: value for key, value in AWS_TEST_ENV.items() if not key.startswith("AWS_ACCESS")
    }
    no_credentials.pop("AWS_SECRET_ACCESS_KEY")

    result = pyinfra(tmp_path, host_data, env=no_credentials)

    assert result.returncode != 0
    assert "no AWS credentials found; set AWS_ACCESS_KEY_ID" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert rules_in(ec2, group_id) == set()


def test_disabled_sync_makes_no_aws_call(tmp_path, ec2, group_id, host_data):
    host_data["sg_enabled"] = False

    result = pyinfra(tmp_path, host_data, env={"AWS_EC2_METADATA_DISABLED": "true"})

    assert result.returncode == 0, result.stderr
    assert "--> Results:" in result.stderr  # the deploy ran...
    assert "Open the ports this host serves" not in result.stderr  # ...without this operation
    assert "no AWS credentials" not in result.stderr
    assert rules_in(ec2, group_id) == set()


def test_hosts_sharing_a_group_sync_it_once(aws_env, ec2, group_id):
    first = run_instance(ec2, group_id)
    second = run_instance(ec2, group_id)
    data = {"aws_region": REGION, "aws_endpoint_url": aws_env, "sg_enabled": True}
    syncer, lines = GroupSyncer(), []

    ok_first = syncer.sync(
        spec("web1", {**data, "instance_id": first["InstanceId"]}), "web1", lines.append
    )
    ok_second = syncer.sync(
        spec("web2", {**data, "instance_id": second["InstanceId"]}), "web2", lines.append
    )

    assert ok_first and ok_second
    assert lines[-1] == f"{group_id}: already synced for web1"
    assert len(syncer.done) == 1
    assert len(rules_in(ec2, group_id)) == 2


def test_hosts_sharing_a_group_must_want_the_same_rules(aws_env, ec2, group_id):
    data = {"aws_region": REGION, "aws_endpoint_url": aws_env, "sg_id": group_id}
    syncer, lines = GroupSyncer(), []

    syncer.sync(spec("web1", data), "web1", lines.append)
    web1_rules = rules_in(ec2, group_id)
    refused = syncer.sync(spec("web2", {**data, "nginx_tls": True}), "web2", lines.append)

    assert refused is False
    assert lines[-1].startswith(f"error: {group_id} is shared with web1, which wants different")
    assert web1_rules and rules_in(ec2, group_id) == web1_rules  # web2's 443 never added


def test_a_redis_host_group_admits_only_the_app_hosts_to_redis(aws_env, ec2, group_id):
    data = {
        "aws_region": REGION,
        "aws_endpoint_url": aws_env,
        "sg_id": group_id,
        "sg_ssh_cidrs": ["198.51.100.0/24"],
    }
    clients = ["10.0.1.10/32", "10.0.1.11/32"]
    syncer, lines = GroupSyncer(), []

    ok = syncer.sync(spec("redis1", data, redis_clients=clients), "redis1", lines.append)

    assert ok, lines
    assert rules_in(ec2, group_id) == {
        ("tcp", 6379, "10.0.1.10/32", "wsready: redis"),
        ("tcp", 6379, "10.0.1.11/32", "wsready: redis"),
        ("tcp", 22, "198.51.100.0/24", "wsready: ssh"),
    }
