"""The EC2 client's settings and error wording (no network: nothing here reaches AWS)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from wsready import aws


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("no_aws_config")
def test_client_retries_throttling_in_standard_mode():
    client = aws.ec2_client("eu-north-1", "http://127.0.0.1:9")
    # botocore counts max_attempts=8 as 8 retries: 9 attempts in all
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 9}
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "eu-north-1"


@pytest.mark.usefixtures("no_aws_config")
def test_no_region_is_one_sentence():
    with pytest.raises(aws.AwsError) as caught:
        aws.ec2_client(None)
    assert str(caught.value).startswith("creating the EC2 client: no AWS region configured")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_botocore_errors_become_aws_errors():
    with (
        pytest.raises(aws.AwsError, match="^reading: no AWS credentials found"),
        aws.aws_errors("reading"),
    ):
        raise NoCredentialsError()
    denied = ClientError(
        {"Error": {"Code": "UnauthorizedOperation", "Message": "not allowed"}}, "Describe"
    )
    with (
        pytest.raises(aws.AwsError, match="^adding: UnauthorizedOperation: not allowed$"),
        aws.aws_errors("adding"),
    ):
        raise denied


def test_lookup_needs_something_to_look_up():
    with pytest.raises(aws.AwsError, match="set sg_id, instance_id, or the host address"):
        aws.find_group_id(client=None)
