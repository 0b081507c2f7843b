"""`wsready lb` as a user runs it, on an inventory file, against moto_server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.aws.moto_server import AWS_TEST_ENV, REGION, run_instance


def wsready_lb(*args: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment.update(AWS_TEST_ENV)
    return subprocess.run(
        ["wsready", "lb", *args], env=environment, capture_output=True, text=True, timeout=120
    )


def test_plan_apply_apply_again_then_drain_and_register(tmp_path: Path, aws_env, ec2):
    subnets = sorted(item["SubnetId"] for item in ec2.describe_subnets()["Subnets"])[:2]
    web = {name: run_instance(ec2)["InstanceId"] for name in ("web1", "web2")}
    redis = run_instance(ec2)["InstanceId"]
    shared = {
        "lb_enabled": True,
        "lb_subnet_ids": subnets,
        "aws_region": REGION,
        "aws_endpoint_url": aws_env,
    }
    inventory = tmp_path / "inventory.py"
    inventory.write_text(
        f"shared = {shared!r}\n"
        f"app = [(name, {{**shared, 'instance_id': i}}) for name, i in {web!r}.items()]\n"
        f"redis = [('cache1', {{'instance_id': {redis!r}}})]\n"
    )

    planned = wsready_lb("plan", str(inventory))
    dry = wsready_lb("apply", str(inventory), "--dry-run")
    applied = wsready_lb("apply", str(inventory))
    again = wsready_lb("apply", str(inventory))
    drained = wsready_lb("deregister", str(inventory), "web2")
    back = wsready_lb("register", str(inventory), "web2")
    not_app = wsready_lb("deregister", str(inventory), "cache1")

    assert planned.returncode == 0, planned.stderr
    lines = planned.stdout.splitlines()
    assert lines[0].startswith("load balancer wsready: ") and "to change" in lines[0]
    assert "  + create   load balancer wsready: internet-facing, subnets " + str(subnets) in lines
    assert "  + create   listener 80: HTTP → wsready-app" in lines
    assert f"  + register target {web['web1']}: web1" in lines
    assert not any(redis in line for line in lines)  # the redis host is no target
    assert dry.returncode == 0 and dry.stdout.endswith("dry run, nothing changed\n")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines()[-1].endswith(" changed")  # the dry run created nothing
    assert again.returncode == 0 and "load balancer wsready: no changes" in again.stdout
    assert drained.returncode == 0, drained.stderr
    assert f"web2: draining {web['web2']}: unused" in drained.stdout
    assert back.returncode == 0 and "on /api/health: healthy" in back.stdout
    assert not_app.returncode == 3
    assert "host = 'cache1': is not an app host" in not_app.stderr
