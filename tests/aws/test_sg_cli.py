"""`wsready sg plan|apply` as a user runs it, against moto_server."""

from __future__ import annotations

import json
import os
import subprocess

from tests.aws.moto_server import AWS_TEST_ENV, REGION, rules_in, run_instance


def wsready_sg(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment.update(AWS_TEST_ENV if env is None else env)
    return subprocess.run(
        ["wsready", "sg", *args], env=environment, capture_output=True, text=True, timeout=60
    )


def test_plan_then_apply_then_apply_again(aws_env, ec2, group_id):
    where = ["--group-id", group_id, "--region", REGION, "--endpoint-url", aws_env]

    planned = wsready_sg("plan", *where, "--ssh-cidr", "198.51.100.0/24")
    applied = wsready_sg("apply", *where, "--ssh-cidr", "198.51.100.0/24")
    again = wsready_sg("apply", *where, "--ssh-cidr", "198.51.100.0/24")

    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.splitlines() == [
        f"security group {group_id}: 3 to add, 0 to keep, 0 to revoke",
        '  + add    tcp 80 from 0.0.0.0/0  "wsready: nginx http"',
        '  + add    tcp 80 from ::/0  "wsready: nginx http"',
        '  + add    tcp 22 from 198.51.100.0/24  "wsready: ssh"',
    ]
    assert applied.returncode == 0 and f"{group_id}: added 3, revoked 0" in applied.stdout
    assert again.returncode == 0
    assert f"security group {group_id}: no changes (3 to keep)" in again.stdout
    assert again.stdout.rstrip().endswith(f"{group_id}: no changes")
    assert len(rules_in(ec2, group_id)) == 3


def test_json_dry_run_by_ip_changes_nothing(aws_env, ec2, group_id):
    instance = run_instance(ec2, group_id)

    result = wsready_sg(
        "apply",
        "--ip",
        instance["PrivateIpAddress"],
        "--region",
        REGION,
        "--endpoint-url",
        aws_env,
        "--port",
        "443",
        "--allow-cidr",
        "2001:db8::/32",
        "--dry-run",
        "--json",
    )

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["group_id"] == group_id
    assert document["plan"]["add"] == [
        {
            "protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
            "cidr": "2001:db8::/32",
            "description": "wsready: nginx https",
        }
    ]
    assert document["result"]["dry_run"] is True and document["result"]["changed"] is False
    assert rules_in(ec2, group_id) == set()


def test_bad_cidrs_are_refused_with_exit_3(aws_env, ec2, group_id):
    where = ["--group-id", group_id, "--region", REGION, "--endpoint-url", aws_env]

    not_canonical = wsready_sg("apply", *where, "--allow-cidr", "10.0.0.5/24")
    ssh_world = wsready_sg("apply", *where, "--ssh-cidr", "0.0.0.0/0")

    assert not_canonical.returncode == 3
    assert not_canonical.stderr.strip() == (
        "wsready sg: --allow-cidr[0] = '10.0.0.5/24': is not canonical (host bits set); "
        "did you mean 10.0.0.0/24?"
    )
    assert ssh_world.returncode == 3
    assert "--ssh-cidr[0] = '0.0.0.0/0': opens SSH to the whole internet" in ssh_world.stderr
    assert rules_in(ec2, group_id) == set()


def test_no_region_and_no_credentials_give_one_clear_line(aws_env, group_id):
    no_credentials = {key: value for key, value in AWS_TEST_ENV.items() if "ACCESS_KEY" not in key}

    no_region = wsready_sg("plan", "--group-id", group_id, "--endpoint-url", aws_env)
    no_creds = wsready_sg(
        "plan",
        "--group-id",
        group_id,
        "--region",
        REGION,
        "--endpoint-url",
        aws_env,
        env=no_credentials,
    )

    assert no_region.returncode == 3
    assert no_region.stderr.startswith("wsready sg: creating the EC2 client: no AWS region")
    assert no_creds.returncode == 3
    assert "no AWS credentials found" in no_creds.stderr
    for result in (no_region, no_creds):
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
