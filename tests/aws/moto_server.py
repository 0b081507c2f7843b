"""A real `moto_server` process on a free loopback port, for tests that talk to EC2."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator

import requests

from tests.waiting import wait_for
from wsready.processes import stop_processes

# Dummy credentials and no instance-metadata lookups: boto3 must never leave loopback.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}
REGION = "eu-north-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_moto_server(timeout_s: float = 20.0) -> Iterator[str]:
    """Start `moto_server -H 127.0.0.1 -p PORT`, wait until it answers, yield its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answering() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        return requests.get(f"{url}/moto-api/", timeout=1).ok

    try:
        wait_for(answering, timeout_s, f"moto_server answering on {url}", interval_s=0.1)
        yield url
    finally:
        stop_processes(process)


def reset(url: str) -> None:
    """Forget every resource moto holds."""
    requests.post(f"{url}/moto-api/reset", timeout=5).raise_for_status()


def rules_in(ec2, group_id: str) -> set[tuple[str, int, str, str]]:
    """(protocol, port, cidr, description) of every CIDR rule in the group, as moto holds it."""
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    found = set()
    for perm in group["IpPermissions"]:
        for item in perm.get("IpRanges", []) + perm.get("Ipv6Ranges", []):
            cidr = item.get("CidrIp") or item["CidrIpv6"]
            found.add((perm["IpProtocol"], perm["FromPort"], cidr, item.get("Description", "")))
    return found


def run_instance(ec2, *group_ids: str, tags: dict[str, str] | None = None) -> dict:
    options = {}
    if group_ids:
        options["SecurityGroupIds"] = list(group_ids)
    if tags:
        options["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro", **options
    )["Instances"][0]
