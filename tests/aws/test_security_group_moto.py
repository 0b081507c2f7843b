"""Security-group plan/apply against a real moto_server process."""

from __future__ import annotations

import boto3
import pytest

from tests.aws.moto_server import REGION, rules_in, run_instance
from wsready import aws
from wsready.aws.sg_plan import Port, Rule, desired_rules, plan
from wsready.validate import ConfigError

HTTP = [Port(80, "nginx http")]
HTTP_FROM_WORLD_UNDESCRIBED = {
    "IpProtocol": "tcp",
    "FromPort": 80,
    "ToPort": 80,
    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
}


def sync(ec2, group_id: str, desired: list[Rule], **options) -> aws.ApplyResult:
    dry_run = options.pop("dry_run", False)
    return aws.apply(ec2, group_id, aws.plan_group(ec2, group_id, desired, **options), dry_run)


def test_apply_twice_second_run_makes_no_changing_call(ec2, group_id, changing_calls):
    desired = desired_rules(HTTP, ["0.0.0.0/0", "::/0"], ["203.0.113.0/24"])

    first = sync(ec2, group_id, desired)
    calls_after_first = list(changing_calls)
    second_plan = aws.plan_group(ec2, group_id, desired)
    second = aws.apply(ec2, group_id, second_plan)

    assert len(first.added) == 3 and first.changed
    assert calls_after_first == ["AuthorizeSecurityGroupIngress"] * 3
    assert rules_in(ec2, group_id) == {
        ("tcp", 80, "0.0.0.0/0", "wsready: nginx http"),
        ("tcp", 80, "::/0", "wsready: nginx http"),
        ("tcp", 22, "203.0.113.0/24", "wsready: ssh"),
    }
    assert not second_plan.has_changes and len(second_plan.keep) == 3
    assert changing_calls == calls_after_first  # no authorize/revoke the second time
    assert not second.changed
    assert second.summary() == f"{group_id}: no changes"


def test_rule_added_out_of_band_before_planning_is_kept(ec2, group_id, changing_calls):
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[HTTP_FROM_WORLD_UNDESCRIBED],
    )
    changing_calls.clear()

    current = aws.current_rules(ec2, group_id)
    result = plan(desired_rules(HTTP, ["0.0.0.0/0"]), current)

    assert [str(rule) for rule in result.keep] == ["tcp 80 from 0.0.0.0/0"]
    assert result.add == [] and not result.has_changes
    assert changing_calls == []


def test_duplicate_between_plan_and_apply_counts_as_already_done(aws_env, ec2, group_id):
    desired = desired_rules(HTTP, ["0.0.0.0/0", "::/0"])
    pending = aws.plan_group(ec2, group_id, desired)
    other = boto3.client("ec2", region_name=REGION, endpoint_url=aws_env)
    other.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[HTTP_FROM_WORLD_UNDESCRIBED],
    )

    result = aws.apply(ec2, group_id, pending)

    assert [rule.cidr for rule in result.already_done] == ["0.0.0.0/0"]
    assert [rule.cidr for rule in result.added] == ["::/0"]
    assert ("tcp", 80, "::/0", "wsready: nginx http") in rules_in(ec2, group_id)


def test_revoke_of_a_rule_already_gone_counts_as_already_done(ec2, group_id):
    gone = Rule("tcp", 8443, 8443, "198.51.100.0/24", "wsready: old")
    pending = plan([], [gone], purge=True)

    result = aws.apply(ec2, group_id, pending)

    assert result.already_done == [gone] and result.revoked == []


def test_non_canonical_cidr_is_refused_naming_the_canonical_one():
    # desired_rules is pure: refused while planning, before any client exists.
    with pytest.raises(ConfigError) as caught:
        desired_rules(HTTP, ["10.0.0.5/24"])

    assert caught.value.key == "sg_allow_cidrs[0]"
    assert "did you mean 10.0.0.0/24" in str(caught.value)


def test_ssh_to_world_is_refused_unless_overridden(ec2, group_id):
    with pytest.raises(ConfigError) as caught:
        desired_rules(HTTP, ["0.0.0.0/0"], ["0.0.0.0/0"])
    assert caught.value.key == "sg_ssh_cidrs[0]"
    assert "sg_allow_ssh_from_world" in str(caught.value)

    allowed = desired_rules(HTTP, ["0.0.0.0/0"], ["::/0"], allow_ssh_from_world=True)
    sync(ec2, group_id, allowed)
    assert ("tcp", 22, "::/0", "wsready: ssh") in rules_in(ec2, group_id)


def test_purge_revokes_only_wsready_rules(ec2, group_id, changing_calls):
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8080,
                "ToPort": 8080,
                "IpRanges": [{"CidrIp": "10.1.0.0/16", "Description": "ops dashboard"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "wsready: nginx https"}],
            },
        ],
    )
    desired = desired_rules(HTTP, ["0.0.0.0/0"])

    without_purge = aws.plan_group(ec2, group_id, desired)
    purged = sync(ec2, group_id, desired, purge=True)

    assert without_purge.revoke == []
    assert [str(rule) for rule in purged.revoked] == [
        'tcp 443 from 0.0.0.0/0  "wsready: nginx https"'
    ]
    assert rules_in(ec2, group_id) == {
        ("tcp", 8080, "10.1.0.0/16", "ops dashboard"),
        ("tcp", 80, "0.0.0.0/0", "wsready: nginx http"),
    }
    assert changing_calls.count("RevokeSecurityGroupIngress") == 1

    everything = sync(ec2, group_id, desired, purge_all=True)
    assert [rule.cidr for rule in everything.revoked] == ["10.1.0.0/16"]
    assert rules_in(ec2, group_id) == {("tcp", 80, "0.0.0.0/0", "wsready: nginx http")}


def test_dry_run_changes_nothing(ec2, group_id, changing_calls):
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "wsready: nginx https"}],
            }
        ],
    )
    before = rules_in(ec2, group_id)
    changing_calls.clear()

    result = sync(ec2, group_id, desired_rules(HTTP, ["0.0.0.0/0"]), purge=True, dry_run=True)

    assert rules_in(ec2, group_id) == before
    assert len(result.added) == 1 and len(result.revoked) == 1
    assert result.dry_run and not result.changed
    assert result.summary() == f"{group_id}: would add 1, would revoke 1"
    assert changing_calls == ["AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"]


def test_group_found_from_instance_id_and_from_ips(ec2, group_id):
    run_instance(ec2)  # another instance in the default group, must not be picked
    instance = run_instance(ec2, group_id)
    public_ip = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0][
        "Instances"
    ][0]["PublicIpAddress"]

    assert aws.find_group_id(ec2, instance_id=instance["InstanceId"]) == group_id
    assert aws.find_group_id(ec2, address=instance["PrivateIpAddress"]) == group_id
    assert aws.find_group_id(ec2, address=public_ip) == group_id
    assert aws.find_group_id(ec2, sg_id="sg-0123456789abcdef0") == "sg-0123456789abcdef0"


def test_group_lookup_failures_are_explained(ec2, group_id):
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    second = ec2.create_security_group(GroupName="ops", Description="ops", VpcId=vpc_id)
    instance = run_instance(ec2, group_id, second["GroupId"])

    with pytest.raises(aws.AwsError, match="set sg_id to the one to manage"):
        aws.find_group_id(ec2, instance_id=instance["InstanceId"])
    with pytest.raises(aws.AwsError, match="no EC2 instance found for address '192.0.2.99'"):
        aws.find_group_id(ec2, address="192.0.2.99")
    with pytest.raises(aws.AwsError, match="InvalidGroup.NotFound"):
        aws.current_rules(ec2, "sg-0123456789abcdef0")


def test_behind_a_balancer_group_nginx_admits_that_group_only(aws_env, ec2, group_id):
    from wsready.aws.sg_plan import desired_from_data
    from wsready.hostdata import HostConfig

    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    balancer_group = ec2.create_security_group(
        GroupName="lb", Description="the balancer", VpcId=vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id, IpPermissions=[HTTP_FROM_WORLD_UNDESCRIBED]
    )
    data = HostConfig.from_data(
        "app1",
        {
            "lb_enabled": True,
            "lb_subnet_ids": ["subnet-0123abcd", "subnet-0123abce"],
            "lb_security_group_id": balancer_group,
            "nginx_tls": True,
            "sg_purge_all": True,
        },
    )

    first = sync(ec2, group_id, desired_from_data(data), purge_all=True)
    second_plan = aws.plan_group(ec2, group_id, desired_from_data(data), purge_all=True)
    permissions = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0][
        "IpPermissions"
    ]

    assert [str(rule) for rule in first.added] == [
        f'tcp 80 from {balancer_group}  "wsready: nginx http from lb"',
        f'tcp 443 from {balancer_group}  "wsready: nginx https from lb"',
    ]
    assert [str(rule) for rule in first.revoked] == ["tcp 80 from 0.0.0.0/0"]
    assert sorted(
        (perm["FromPort"], pair["GroupId"])
        for perm in permissions
        for pair in perm.get("UserIdGroupPairs", [])
    ) == [(80, balancer_group), (443, balancer_group)]
    assert rules_in(ec2, group_id) == set()  # no CIDR left: nothing reaches nginx but the ALB
    assert not second_plan.has_changes and len(second_plan.keep) == 2
