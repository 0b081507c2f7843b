"""The sandbox balancer's HAProxy config follows the ALB's lb_* keys (wsready/deploy/haproxy)."""

from __future__ import annotations

from wsready.deploy import haproxy
from wsready.hostdata import HostConfig

APPS = {
    "wsr-1": HostConfig.from_data("wsr-1", {"private_address": "10.201.0.11"}),
    "wsr-2": HostConfig.from_data("wsr-2", {"private_address": "10.201.0.12"}),
}


def lines(**data) -> list[str]:
    config = HostConfig.from_data("wsr-3", data)
    return haproxy.render(config, haproxy.servers_of(APPS)).splitlines()


def test_defaults_give_cookie_stickiness_health_checks_and_the_idle_timeout():
    found = lines()

    assert "    cookie WSREADY_HOST insert indirect nocache maxlife 86400s" in found
    assert "    server wsr-1 10.201.0.11:80 check cookie wsr-1" in found
    assert "    server wsr-2 10.201.0.12:80 check cookie wsr-2" in found
    assert "    http-check send meth GET uri /api/health" in found
    assert "    default-server inter 10s rise 2 fall 2" in found
    assert "    timeout check 5s" in found
    for name in ("client", "server", "tunnel"):
        assert f"    timeout {name} 120s" in found
    assert "    bind :80" in found


def test_websocket_only_mode_has_no_cookie_and_keys_change_their_lines():
    found = lines(
        lb_stickiness=False,
        lb_websocket_only=True,
        lb_idle_timeout_s=300,
        lb_listen_port=8080,
        lb_health_interval_s=7,
        lb_healthy_threshold=3,
    )

    assert not [line for line in found if "cookie" in line]
    assert "    server wsr-1 10.201.0.11:80 check" in found
    assert "    timeout tunnel 300s" in found and "    bind :8080" in found
    assert "    default-server inter 7s rise 3 fall 2" in found
