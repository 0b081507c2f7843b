"""tasks/front_door.py through the real pyinfra CLI (local connector) against moto_server:
the ALB synced once, then the host registered after its (here absent) verify."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import boto3

from tests.aws.moto_server import AWS_TEST_ENV, REGION, run_instance

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = (
    "from tasks.front_door import join_load_balancer, sync_load_balancer\n\n"
    "sync_load_balancer()\njoin_load_balancer()\n"
)


def pyinfra(tmp_path: Path, data: dict, *extra: str):
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"hosts = [('@local', {data!r})]\n")
    deploy = tmp_path / "lb_deploy.py"
    deploy.write_text(DEPLOY)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment.update(AWS_TEST_ENV)
    return subprocess.run(
        ["pyinfra", "-y", str(inventory), str(deploy), *extra],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_deploy_creates_the_alb_registers_the_host_then_changes_nothing(tmp_path, aws_env, ec2):
    elbv2 = boto3.client("elbv2", region_name=REGION, endpoint_url=aws_env)
    instance = run_instance(ec2)["InstanceId"]
    data = {
        "lb_enabled": True,
        "lb_subnet_ids": sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"])[:2],
        "aws_region": REGION,
        "aws_endpoint_url": aws_env,
        "instance_id": instance,
    }

    dry = pyinfra(tmp_path, data, "--dry")
    after_dry = elbv2.describe_load_balancers()["LoadBalancers"]
    first = pyinfra(tmp_path, data)
    group = elbv2.describe_target_groups(Names=["wsready-app"])["TargetGroups"][0]
    health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
    second = pyinfra(tmp_path, data)

    assert dry.returncode == 0, dry.stderr
    assert "load balancer wsready: dry run, nothing changed" in dry.stderr and after_dry == []
    assert first.returncode == 0, first.stderr
    assert "+ create   load balancer wsready" in first.stderr
    assert f"@local: registering {instance} in wsready-app" in first.stderr
    assert [
        (item["Target"]["Id"], item["TargetHealth"]["State"])
        for item in health["TargetHealthDescriptions"]
    ] == [(instance, "healthy")]
    assert second.returncode == 0, second.stderr
    assert "load balancer wsready: no changes" in second.stderr
    assert "+ create" not in second.stderr


def test_bad_lb_data_fails_the_deploy_before_anything_is_created(tmp_path, aws_env, ec2):
    elbv2 = boto3.client("elbv2", region_name=REGION, endpoint_url=aws_env)
    data = {
        "lb_enabled": True,
        "lb_subnet_ids": sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"])[:2],
        "lb_idle_timeout_s": 40,
        "aws_region": REGION,
        "aws_endpoint_url": aws_env,
    }

    result = pyinfra(tmp_path, data)

    assert result.returncode != 0
    assert "lb_idle_timeout_s = 40: must exceed (app_ping_interval_ms + app_ping_timeout_ms)" in (
        result.stderr + result.stdout
    )
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
