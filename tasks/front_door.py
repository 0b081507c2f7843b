"""The fleet's EC2 load balancer in the deploy: the ALB, listeners and target group synced
once per fleet before the app hosts change, and each app host registered once its own
probes passed (the deploy of a host brought in by `wsready onboard` registers it).

boto3 runs at execute time (`python.call`); under `pyinfra --dry` the plan is printed while
the deploy is planned and nothing changes. The sandbox's balancer host is tasks/balancer.py.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import python

from wsready.aws import alb
from wsready.aws.alb_plan import fleet_spec, plan
from wsready.aws.ec2 import ec2_client
from wsready.deploy import haproxy
from wsready.deploy.callbacks import is_dry_run, logger_for
from wsready.deploy.haproxy import BALANCER_GROUP
from wsready.deploy.plan import host_plan
from wsready.errors import WsreadyError
from wsready.fleet import balancer_check
from wsready.fleet.front_door import NOT_APP, AlbDoor
from wsready.fleet.haproxy_door import HaproxyDoor
from wsready.hostdata import host_config


def _app_configs() -> dict:
    return {
        each.name: host_config(each)
        for each in host.state.inventory
        if not set(each.groups) & set(NOT_APP)
    }


@deploy("Sync the EC2 load balancer")
def sync_load_balancer() -> None:
    if not host_plan().data.lb_enabled:
        host.noop("no EC2 load balancer (lb_enabled = False)")
        return
    spec = fleet_spec(_app_configs())
    if is_dry_run():
        _sync(host.state, host, spec, dry_run=True)
        return
    python.call(
        name=f"Create or update load balancer {spec.name}, its listeners and target group",
        function=_sync,
        spec=spec,
        _run_once=True,
    )


def _sync(state, host, spec, dry_run: bool = False) -> bool:  # noqa: ARG001 - pyinfra's
    log = logger_for(host)
    try:
        client = alb.elbv2_client(spec.region, spec.endpoint_url)
        the_plan = plan(spec, alb.current(client, spec), {})
        log(f"load balancer {spec.name}: {the_plan.summary()}")
        for line in the_plan.lines():
            log(f"  {line}")
        if dry_run:
            log(f"load balancer {spec.name}: dry run, nothing changed")
        elif the_plan.has_changes:
            ec2 = ec2_client(spec.region, spec.endpoint_url)
            log(alb.apply(client, ec2, spec, the_plan).summary())
    except WsreadyError as error:
        log(f"error: {error}")
        return False
    return True


@deploy("Register the host with the EC2 load balancer")
def join_load_balancer() -> None:
    data = host_plan().data
    if not data.lb_enabled:
        host.noop("no EC2 load balancer (lb_enabled = False)")
        return
    if is_dry_run():
        return
    python.call(
        name="Register this host in the target group and wait until it is healthy",
        function=_join,
        apps=_app_configs(),
    )


def _join(state, host, apps) -> bool:  # noqa: ARG001 - pyinfra passes state, host
    log = logger_for(host)
    try:
        AlbDoor.from_hosts(apps).restore(host.name, log)
    except WsreadyError as error:
        log(f"error: {error}")
        return False
    return True


@deploy("Register the host with the sandbox's balancer host and check it through it")
def join_balancer_host() -> None:
    """Once its own probes passed, the host is put (back) in the balancer host's rotation
    (HAProxy's runtime API: `state ready`, then its health check passes) and must answer
    through it: HAProxy routes a request carrying the host's stickiness cookie to it."""
    balancers = [each for each in host.state.inventory if BALANCER_GROUP in each.groups]
    data = host_plan().data
    if not balancers:
        host.noop("no balancer host in the inventory (group balancer)")
        return
    if not data.verify_enabled:
        host.noop("verify_enabled is False: not checked through the balancer")
        return
    front = host_config(balancers[0])
    python.call(
        name=f"Put this host behind the balancer host {front.name} and probe it through it",
        function=_join_balancer_host,
        front=front,
        front_url=f"http://{front.probe_address}:{front.lb_listen_port}",
        direct_url=data.url,
    )


def _join_balancer_host(state, host, front, front_url, direct_url) -> bool:  # noqa: ARG001
    log = logger_for(host)
    budget_s = front.lb_health_interval_s * (front.lb_healthy_threshold + 2) + 10
    try:
        HaproxyDoor(front, {}).restore(host.name, log)
        answered = balancer_check.through_balancer(
            front_url, direct_url, haproxy.server_name(host.name), budget_s
        )
    except WsreadyError as error:
        log(f"error: {error}")
        return False
    log(f"{front_url} → this host ({answered}): /api/health 200 through the balancer")
    return True
