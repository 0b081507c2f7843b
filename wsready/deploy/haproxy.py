"""The sandbox's front door as data: HAProxy's config from the same lb_* keys as the ALB.

Why HAProxy (Debian's `haproxy`): it has what an ALB does and open-source nginx lacks —
cookie stickiness (`cookie … insert`), active health checks (`option httpchk` on
/api/health, rise/fall like healthy/unhealthy thresholds), and a runtime API to take one
server out while its connections drain (`set server … state maint`, like deregistration) and
to put it back. Idle timeout = `timeout client/server/tunnel` (a WebSocket is a tunnel once
upgraded). Pure: tasks/balancer.py uploads the text, `haproxy -c` judges it before reload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wsready.hostdata import HostConfig

BALANCER_GROUP = "balancer"  # the inventory group of the balancer host (tasks/balancer.py)
CONFIG = "/etc/haproxy/haproxy.cfg"
ADMIN_SOCKET = "/run/haproxy/admin.sock"
BACKEND = "app"
COOKIE = "WSREADY_HOST"
HEALTH_PATH = "/api/health"
MAXCONN = 9000  # each proxied client holds two sockets; a process here has 20,000 files


@dataclass(frozen=True)
class Server:
    """One app host behind the balancer: its inventory name, address and nginx port."""

    name: str
    address: str
    port: int


def servers_of(apps: dict[str, HostConfig]) -> list[Server]:
    """The app hosts, reached over the private network (private_address, else SSH address)."""
    return [
        Server(server_name(name), config.network_address, config.nginx_listen_port)
        for name, config in apps.items()
    ]


def server_name(host_name: str) -> str:
    """An inventory name as an HAProxy server name (letters, digits, `.`, `-`, `_`)."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in host_name)


def render(data: HostConfig, servers: Sequence[Server]) -> str:
    """haproxy.cfg for the balancer host `data` in front of `servers`."""
    idle = f"{data.lb_idle_timeout_s}s"
    cookie = (
        [f"    cookie {COOKIE} insert indirect nocache maxlife {data.lb_stickiness_s}s"]
        if data.lb_stickiness
        else []
    )
    lines = [
        "# Managed by wsready (tasks/balancer.py, wsready/deploy/haproxy.py): the lb_* keys.",
        "global",
        "    log /dev/log local0",
        "    chroot /var/lib/haproxy",
        f"    stats socket {ADMIN_SOCKET} mode 660 level admin",
        "    stats timeout 30s",
        "    user haproxy",
        "    group haproxy",
        "    daemon",
        f"    maxconn {MAXCONN}",
        "",
        "defaults",
        "    log global",
        "    mode http",
        "    option dontlognull",
        "    timeout connect 5s",
        "    timeout http-request 10s",
        f"    timeout client {idle}",
        f"    timeout server {idle}",
        f"    timeout tunnel {idle}",
        "",
        "frontend wsready",
        f"    bind :{data.lb_listen_port}",
        "    option forwardfor",
        f"    default_backend {BACKEND}",
        "",
        f"backend {BACKEND}",
        "    balance leastconn",
        "    option httpchk",
        f"    http-check send meth GET uri {HEALTH_PATH}",
        "    http-check expect status 200",
        f"    timeout check {data.lb_health_timeout_s}s",
        f"    default-server inter {data.lb_health_interval_s}s "
        f"rise {data.lb_healthy_threshold} fall {data.lb_unhealthy_threshold}",
        *cookie,
    ]
    for server in servers:
        sticky = f" cookie {server.name}" if data.lb_stickiness else ""
        lines.append(f"    server {server.name} {server.address}:{server.port} check{sticky}")
    return "\n".join(lines) + "\n"
