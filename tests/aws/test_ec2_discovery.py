"""EC2 discovery by tag (wsready.aws.discovery and inventory/ec2.py) against moto_server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.aws.moto_server import AWS_TEST_ENV, REGION, run_instance
from wsready import aws
from wsready.aws.discovery import DiscoverySettings, discover, group_name

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet(ec2, group_id) -> dict[str, dict]:
    """web ×2 (one in our group), worker ×1, one untagged, one stopped web."""
    instances = {
        "web1": run_instance(ec2, group_id, tags={"wsready:role": "web", "Name": "web1"}),
        "web2": run_instance(ec2, tags={"wsready:role": "web"}),
        "worker": run_instance(ec2, tags={"wsready:role": "queue-worker"}),
        "untagged": run_instance(ec2),
        "stopped": run_instance(ec2, tags={"wsready:role": "web"}),
    }
    ec2.stop_instances(InstanceIds=[instances["stopped"]["InstanceId"]])
    described = ec2.describe_instances()["Reservations"]
    by_id = {item["InstanceId"]: item for res in described for item in res["Instances"]}
    return {name: by_id[item["InstanceId"]] for name, item in instances.items()}


def test_running_tagged_instances_become_one_group_per_role(ec2, fleet, group_id):
    found = discover(ec2, DiscoverySettings())

    web1, web2, worker = fleet["web1"], fleet["web2"], fleet["worker"]
    assert sorted(found.groups) == ["queue_worker", "web"]
    assert [name for name, _ in found.groups["web"]] == sorted(
        [web1["InstanceId"], web2["InstanceId"]]
    )
    assert [name for name, _ in found.groups["queue_worker"]] == [worker["InstanceId"]]
    data = dict(found.groups["web"])[web1["InstanceId"]]
    assert data == {
        "ssh_hostname": web1["PublicDnsName"],
        "instance_id": web1["InstanceId"],
        "aws_region": REGION,
        "ec2_security_group_ids": [group_id],
        "sg_id": group_id,
        "private_address": web1["PrivateIpAddress"],  # the Redis firewall and adapter use it
    }
    assert found.skipped == []


def test_private_ip_switch_and_another_tag_key(ec2, fleet):
    settings = DiscoverySettings(tag_key="Name", use_private_ip=True)

    found = discover(ec2, settings)

    assert list(found.groups) == ["web1"]
    ((name, data),) = found.groups["web1"]
    assert name == fleet["web1"]["InstanceId"]
    assert data["ssh_hostname"] == fleet["web1"]["PrivateIpAddress"]


def test_group_names_are_safe_pyinfra_group_names():
    assert group_name("web") == "web"
    assert group_name("web-api.v2") == "web_api_v2"
    assert group_name("all") == "role_all"
    assert group_name("1st") == "role_1st"
    assert group_name("") == "role_"


def test_settings_from_environment():
    settings = DiscoverySettings.from_env(
        {
            "WSREADY_EC2_REGION": "eu-west-1",
            "WSREADY_EC2_ENDPOINT_URL": "http://127.0.0.1:1",
            "WSREADY_EC2_TAG": "team",
            "WSREADY_EC2_USE_PRIVATE_IP": "true",
        }
    )
    assert settings == DiscoverySettings("eu-west-1", "http://127.0.0.1:1", "team", True)
    assert DiscoverySettings.from_env({}) == DiscoverySettings()
    with pytest.raises(aws.AwsError, match="WSREADY_EC2_USE_PRIVATE_IP = 'maybe'"):
        DiscoverySettings.from_env({"WSREADY_EC2_USE_PRIVATE_IP": "maybe"})


def load_inventory(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment.update(AWS_TEST_ENV)
    environment.update(env_extra)
    return subprocess.run(
        ["pyinfra", "inventory/ec2.py", "debug-inventory", "--json"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_pyinfra_loads_inventory_ec2_py(aws_env, fleet, group_id):
    result = load_inventory({"WSREADY_EC2_REGION": REGION, "WSREADY_EC2_ENDPOINT_URL": aws_env})

    assert result.returncode == 0, result.stderr
    hosts = {host["name"]: host for host in json.loads(result.stdout)}
    web1, web2, worker = (fleet[name]["InstanceId"] for name in ("web1", "web2", "worker"))
    assert sorted(hosts) == sorted([web1, web2, worker])
    assert "web" in hosts[web1]["groups"] and "web" in hosts[web2]["groups"]
    assert "queue_worker" in hosts[worker]["groups"]
    data = hosts[web1]["data"]
    assert data["ssh_hostname"] == fleet["web1"]["PublicDnsName"]
    assert data["sg_id"] == group_id and data["aws_endpoint_url"] == aws_env
    assert data["nginx_listen_port"] == 80  # group_data/all.py applies too


def test_inventory_without_region_exits_with_one_clear_line(aws_env):
    result = load_inventory({"WSREADY_EC2_ENDPOINT_URL": aws_env})

    assert result.returncode != 0
    assert "inventory/ec2.py: creating the EC2 client: no AWS region configured" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_secret_role_needs_the_id_list_or_the_separate_tag(ec2):
    """The `redis` role receives redis_password: a `wsready:role=redis` tag on any instance
    must not make it the fleet's Redis (issue 22)."""
    rogue = run_instance(ec2, tags={"wsready:role": "redis"})["InstanceId"]
    listed = run_instance(ec2, tags={"wsready:role": "redis"})["InstanceId"]
    tagged = run_instance(ec2, tags={"wsready:role": "redis", "owner:role": "redis"})["InstanceId"]
    wrong = run_instance(ec2, tags={"wsready:role": "redis", "owner:role": "web"})["InstanceId"]

    alone = discover(ec2, DiscoverySettings())
    assert "redis" not in alone.groups
    assert len(alone.skipped) == 4 and all("SECRET_ROLE_IDS" in why for why in alone.skipped)

    settings = DiscoverySettings.from_env(
        {"WSREADY_EC2_SECRET_ROLE_IDS": f" {listed} ", "WSREADY_EC2_SECRET_ROLE_TAG": "owner:role"}
    )
    found = discover(ec2, settings)
    assert sorted(name for name, _ in found.groups["redis"]) == sorted([listed, tagged])
    assert sorted(why.split(":")[0] for why in found.skipped) == sorted([rogue, wrong])


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WSREADY_EC2_SECRET_ROLE_IDS": "i-123;id"}, "WSREADY_EC2_SECRET_ROLE_IDS"),
        ({"WSREADY_EC2_SECRET_ROLE_TAG": "wsready:role"}, "WSREADY_EC2_SECRET_ROLE_TAG"),
    ],
)
def test_secret_role_settings_are_checked(env, named):
    with pytest.raises(aws.AwsError, match=named):
        DiscoverySettings.from_env(env)
