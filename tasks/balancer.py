"""The sandbox's front door: Debian's HAProxy on the host of the `balancer` group, in front
of every app host of the inventory, with the ALB's semantics from the same lb_* keys
(wsready/deploy/haproxy.py: why HAProxy, and the config). The config is checked by
`haproxy -c` before HAProxy reloads; a reload keeps established connections.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import server, systemd

from wsready.deploy import haproxy
from wsready.deploy.plan import host_plan
from wsready.deploy.shapes import apt_install, put_text
from wsready.fleet.front_door import NOT_APP
from wsready.hostdata import host_config

CANDIDATE = "/etc/haproxy/haproxy.cfg.wsready-new"


def is_balancer_host() -> bool:
    """The current host is in the `balancer` group: HAProxy for the fleet, no app."""
    return host_plan().balancer_host


def app_configs() -> dict:
    """Every app host of the inventory (in none of the redis, balancer groups)."""
    return {
        each.name: host_config(each)
        for each in host.state.inventory
        if not set(each.groups) & set(NOT_APP)
    }


@deploy("Configure the balancer host (HAProxy)")
def configure_balancer() -> None:
    data = host_plan().data
    servers = haproxy.servers_of(app_configs())
    apt_install(
        "Install HAProxy and socat (its runtime API) without recommends.", ["haproxy", "socat"]
    )
    candidate = put_text(
        "Write HAProxy's config from the lb_* keys (candidate).",
        haproxy.render(data, servers),
        CANDIDATE,
    )
    server.shell(
        name="Check the candidate with haproxy -c, then make it HAProxy's config.",
        commands=[f"haproxy -c -q -f {CANDIDATE} && cp {CANDIDATE} {haproxy.CONFIG}"],
        _if=candidate.did_change,
    )
    systemd.service(
        name="Run HAProxy (reloaded when its config changed).",
        service="haproxy",
        running=True,
        enabled=True,
        reloaded=True,
        _if=candidate.did_change,
    )
    systemd.service(name="Keep HAProxy running.", service="haproxy", running=True, enabled=True)
