"""Fixtures for tests against a real moto_server process (started once per session)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from tests.aws.moto_server import AWS_TEST_ENV, REGION, reset, running_moto_server


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with running_moto_server() as url:
        yield url


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Dummy credentials in the environment, an empty moto; returns the endpoint URL."""
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    reset(moto_url)
    return moto_url


@pytest.fixture
def ec2(aws_env: str):
    return boto3.client("ec2", region_name=REGION, endpoint_url=aws_env)


@pytest.fixture
def group_id(ec2) -> str:
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    return ec2.create_security_group(GroupName="web", Description="web hosts", VpcId=vpc_id)[
        "GroupId"
    ]


@pytest.fixture
def changing_calls(ec2) -> list[str]:
    """Names of the authorize/revoke calls made through `ec2` (botocore event hook)."""
    calls: list[str] = []

    def record(model, **_) -> None:
        if model.name.startswith(("Authorize", "Revoke")):
            calls.append(model.name)

    ec2.meta.events.register("before-call.ec2.*", record)
    return calls
