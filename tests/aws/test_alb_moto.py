"""The fleet's ALB (wsready/aws/alb.py) against a real moto_server: created, unchanged on a
re-run, changed only where the data changed; targets registered, deregistered and drained."""

from __future__ import annotations

import boto3
import pytest

from tests.aws.moto_server import REGION, run_instance
from wsready.aws import alb
from wsready.aws.alb_plan import BalancerSpec, fleet_spec, plan
from wsready.hostdata import HostConfig
from wsready.validate import ConfigError


@pytest.fixture
def elbv2(aws_env):
    return boto3.client("elbv2", region_name=REGION, endpoint_url=aws_env)


@pytest.fixture
def lb_data(aws_env, ec2) -> dict:
    subnets = sorted(item["SubnetId"] for item in ec2.describe_subnets()["Subnets"])[:2]
    return {
        "lb_enabled": True,
        "lb_subnet_ids": subnets,
        "aws_region": REGION,
        "aws_endpoint_url": aws_env,
    }


@pytest.fixture
def changing_calls(elbv2) -> list[str]:
    """Names of every call through `elbv2` that changes something."""
    calls: list[str] = []

    def record(model, **_) -> None:
        if not model.name.startswith("Describe"):
            calls.append(model.name)

    elbv2.meta.events.register("before-call.elastic-load-balancing-v2", record)
    return calls


def sync(elbv2, ec2, data: dict, targets: dict[str, str] | None = None):
    spec = BalancerSpec.from_data(HostConfig.from_data("app1", data))
    the_plan = plan(spec, alb.current(elbv2, spec), targets or {})
    return the_plan, alb.apply(elbv2, ec2, spec, the_plan)


def attributes(elbv2, group_arn: str) -> dict[str, str]:
    answer = elbv2.describe_target_group_attributes(TargetGroupArn=group_arn)
    return {item["Key"]: item["Value"] for item in answer["Attributes"]}


def test_created_then_unchanged_then_changed_only_where_the_data_changed(
    elbv2, ec2, lb_data, changing_calls
):
    instance = run_instance(ec2)["InstanceId"]

    first_plan, first = sync(elbv2, ec2, lb_data, {"app1": instance})
    calls_first = list(changing_calls)
    balancer = elbv2.describe_load_balancers(Names=["wsready"])["LoadBalancers"][0]
    group = elbv2.describe_target_groups(Names=["wsready-app"])["TargetGroups"][0]
    lb_attrs = elbv2.describe_load_balancer_attributes(LoadBalancerArn=balancer["LoadBalancerArn"])
    listeners = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])

    assert "CreateLoadBalancer" in calls_first and "CreateTargetGroup" in calls_first
    assert "CreateListener" in calls_first and "RegisterTargets" in calls_first
    assert first_plan.has_changes and first.done
    assert balancer["Type"] == "application" and balancer["Scheme"] == "internet-facing"
    assert group["HealthCheckPath"] == "/api/health" and group["Port"] == 80
    assert (group["HealthCheckIntervalSeconds"], group["HealthCheckTimeoutSeconds"]) == (10, 5)
    assert {item["Key"]: item["Value"] for item in lb_attrs["Attributes"]}[
        "idle_timeout.timeout_seconds"
    ] == "120"
    assert (
        attributes(elbv2, group["TargetGroupArn"]).items()
        >= {
            "stickiness.enabled": "true",
            "stickiness.type": "lb_cookie",
            "stickiness.lb_cookie.duration_seconds": "86400",
            "deregistration_delay.timeout_seconds": "60",
        }.items()
    )
    assert [(item["Port"], item["Protocol"]) for item in listeners] == [(80, "HTTP")]
    assert listeners[0]["DefaultActions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
    assert [item["Target"]["Id"] for item in health["TargetHealthDescriptions"]] == [instance]

    changing_calls.clear()
    second_plan, second = sync(elbv2, ec2, lb_data, {"app1": instance})

    assert not second_plan.has_changes, second_plan.lines()
    assert second_plan.summary().startswith("no changes")
    assert changing_calls == [] and second.done == []

    acm = boto3.client("acm", region_name=REGION, endpoint_url=lb_data["aws_endpoint_url"])
    cert = acm.request_certificate(DomainName="ws.example.com")["CertificateArn"]
    changed = {**lb_data, "lb_idle_timeout_s": 300, "lb_certificate_arn": cert}
    third_plan, _third = sync(elbv2, ec2, changed, {"app1": instance})
    listeners = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    lb_attrs = elbv2.describe_load_balancer_attributes(LoadBalancerArn=balancer["LoadBalancerArn"])

    assert [str(step) for step in third_plan.changes] == [
        "~ change   load balancer wsready: idle_timeout.timeout_seconds 120 → 300",
        "+ create   listener 443: HTTPS → wsready-app",
    ]
    assert changing_calls == ["ModifyLoadBalancerAttributes", "CreateListener"]
    https = [item for item in listeners if item["Port"] == 443][0]
    assert https["Certificates"][0]["CertificateArn"] == cert
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert {item["Key"]: item["Value"] for item in lb_attrs["Attributes"]}[
        "idle_timeout.timeout_seconds"
    ] == "300"


def test_stickiness_and_health_change_touch_only_the_target_group(
    elbv2, ec2, lb_data, changing_calls
):
    sync(elbv2, ec2, lb_data)
    changing_calls.clear()
    changed = {
        **lb_data,
        "lb_stickiness": False,
        "lb_websocket_only": True,
        "lb_deregistration_delay_s": 15,
        "lb_health_interval_s": 20,
    }

    the_plan, _result = sync(elbv2, ec2, changed)
    group = elbv2.describe_target_groups(Names=["wsready-app"])["TargetGroups"][0]

    assert [str(step) for step in the_plan.changes] == [
        "~ change   target group wsready-app: HealthCheckIntervalSeconds 10 → 20",
        "~ change   target group wsready-app: deregistration_delay.timeout_seconds 60 → 15",
        "~ change   target group wsready-app: stickiness.enabled true → false",
    ]
    assert sorted(set(changing_calls)) == ["ModifyTargetGroup", "ModifyTargetGroupAttributes"]
    assert group["HealthCheckIntervalSeconds"] == 20
    assert attributes(elbv2, group["TargetGroupArn"])["stickiness.enabled"] == "false"


def test_deregister_waits_for_draining_then_register_again(elbv2, ec2, lb_data, changing_calls):
    instance = run_instance(ec2)["InstanceId"]
    sync(elbv2, ec2, lb_data, {"app1": instance})
    spec = BalancerSpec.from_data(HostConfig.from_data("app1", lb_data))
    arn = alb.target_group_arn(elbv2, spec)
    said: list[str] = []
    changing_calls.clear()

    alb.deregister(elbv2, arn, instance, 80)
    state = alb.wait_drained(elbv2, arn, instance, 80, spec.deregistration_delay_s, said.append)
    alb.register(elbv2, arn, instance, 80)

    assert changing_calls == ["DeregisterTargets", "RegisterTargets"]
    assert state == "unused" and said == [f"draining {instance}: unused"]
    assert alb.target_state(elbv2, arn, instance, 80) != "unused"


def test_wait_state_gives_up_naming_the_last_state():
    now = [0.0]
    states = iter(["draining"] * 100)

    def tick(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(alb.AwsError, match="draining i-1: still draining after 5 s"):
        alb.wait_state(
            lambda: next(states), lambda s: s != "draining", 5, "draining i-1", lambda _l: None,
            clock=lambda: now[0], sleep=tick,
        )  # fmt: skip


def test_hosts_that_disagree_on_lb_keys_are_refused_naming_them(lb_data):
    configs = {
        "app1": HostConfig.from_data("app1", lb_data),
        "app2": HostConfig.from_data("app2", {**lb_data, "lb_idle_timeout_s": 90}),
    }

    with pytest.raises(ConfigError) as caught:
        fleet_spec(configs)

    assert caught.value.key == "app2.lb_*" and caught.value.value == ["idle_timeout_s"]


def test_rollout_deploys_each_host_out_of_the_target_group_and_puts_it_back(
    elbv2, ec2, lb_data, changing_calls
):
    from wsready.commands.rollout import door_steps
    from wsready.fleet import rollout
    from wsready.fleet.front_door import AlbDoor

    instances = {name: run_instance(ec2)["InstanceId"] for name in ("app1", "app2")}
    sync(elbv2, ec2, lb_data, instances)
    # Hosts that restart their workers in place are taken out; under app_restart
    # "generations" a host keeps serving through its deploy and stays in (tests/unit).
    restart = {"app_restart": "one-at-a-time"}
    hosts = {
        name: HostConfig.from_data(name, {**lb_data, **restart, "instance_id": instance})
        for name, instance in instances.items()
    }
    door = AlbDoor.from_hosts(hosts)
    arn = alb.target_group_arn(elbv2, door.spec)
    seen_at_deploy: dict[str, dict[str, str]] = {}

    def deploy(batch: list[str]) -> rollout.DeployRun:
        seen_at_deploy[batch[0]] = {
            name: alb.target_state(elbv2, arn, instance, 80) for name, instance in instances.items()
        }
        return rollout.DeployRun(0)

    said: list[str] = []
    changing_calls.clear()
    door.client = elbv2  # the test's client, whose calls are recorded
    report = rollout.run(
        rollout.plan(list(hosts), 1),
        deploy,
        lambda name: rollout.HostVerdict(name, True),
        say=said.append,
        **door_steps(door, hosts, said.append),
    )

    assert report.ok, rollout.summary(report)
    assert seen_at_deploy == {
        "app1": {"app1": "unused", "app2": "healthy"},
        "app2": {"app1": "healthy", "app2": "unused"},
    }
    assert changing_calls == ["DeregisterTargets", "RegisterTargets"] * 2
    assert f"app1: deregistering {instances['app1']} from wsready-app" in said
    assert f"app1: draining {instances['app1']}: unused" in said
    assert f"app1: health of {instances['app1']} on /api/health: healthy" in said
