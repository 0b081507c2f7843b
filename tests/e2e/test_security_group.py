"""The deploy syncs a sandbox host's EC2 security group, held by a real moto_server process.

The host's data points at a moto instance (instance_id, aws_endpoint_url) and credentials
are dummies in the environment, as an operator's shell would hold real ones.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from tests.aws.moto_server import AWS_TEST_ENV, REGION, rules_in, run_instance, running_moto_server
from tests.e2e.conftest import Fleet, redeploy

pytestmark = pytest.mark.e2e

HTTP_RULES = {
    ("tcp", 80, "0.0.0.0/0", "wsready: nginx http"),
    ("tcp", 80, "::/0", "wsready: nginx http"),
}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with running_moto_server() as url:
        yield url


def test_deploy_opens_port_80_in_the_group_then_leaves_it_unchanged(
    fleet: Fleet, moto_url: str, monkeypatch: pytest.MonkeyPatch
):
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url)
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    group_id = ec2.create_security_group(GroupName="e2e-web", Description="e2e", VpcId=vpc_id)[
        "GroupId"
    ]
    instance_id = run_instance(ec2, group_id)["InstanceId"]
    host = fleet.hosts[0]
    data = [
        "--limit", host.name,
        "--data", "sg_enabled=true",
        "--data", f"aws_region={REGION}",
        "--data", f"aws_endpoint_url={moto_url}",
        "--data", f"instance_id={instance_id}",
    ]  # fmt: skip

    first = redeploy(fleet, *data)
    after_first = rules_in(ec2, group_id)
    second = redeploy(fleet, *data)

    assert first.returncode == 0, first
    assert f"[{host.name}] security group {group_id}: 2 to add, 0 to keep" in first.output
    assert after_first == HTTP_RULES
    assert second.returncode == 0, second
    assert f"[{host.name}] security group {group_id}: no changes (2 to keep)" in second.output
    assert f"{group_id}: added" not in second.output
    assert rules_in(ec2, group_id) == HTTP_RULES
    print(f"\nsg deploy: first {first.seconds:.1f}s, second {second.seconds:.1f}s")
