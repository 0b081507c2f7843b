"""Shared value checks: each bad value is refused with its key and value in the message."""

from __future__ import annotations

import pytest

from wsready import validate
from wsready.validate import ConfigError


@pytest.mark.parametrize("value", [0, 70000, -1, True, "80", 80.0, None])
def test_port_refuses_non_ports(value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        validate.port("app_port", value)
    assert str(caught.value).startswith(f"app_port = {value!r}: ")


def test_port_accepts_bounds() -> None:
    assert validate.port("p", 1) == 1
    assert validate.port("p", 65535) == 65535


@pytest.mark.parametrize("value", ["yes", 1, 0, "False", None])
def test_boolean_is_strict(value: object) -> None:
    with pytest.raises(ConfigError, match="must be True or False"):
        validate.boolean("nginx_tls", value)


def test_cidr_non_canonical_suggests_network() -> None:
    with pytest.raises(ConfigError) as caught:
        validate.cidr("sg_allow_cidrs[0]", "10.0.0.5/24")
    assert "did you mean 10.0.0.0/24" in str(caught.value)
    assert "sg_allow_cidrs[0] = '10.0.0.5/24'" in str(caught.value)


@pytest.mark.parametrize("value", ["10.0.0.0/33", "not-a-cidr", "", 10])
def test_cidr_refuses_junk(value: object) -> None:
    with pytest.raises(ConfigError):
        validate.cidr("firewall_allow_cidrs[0]", value)


def test_cidr_list_names_the_index() -> None:
    with pytest.raises(ConfigError, match=r"firewall_allow_cidrs\[1\] = 'junk'"):
        validate.cidr_list("firewall_allow_cidrs", ["0.0.0.0/0", "junk"])
    with pytest.raises(ConfigError, match="must be a list"):
        validate.cidr_list("firewall_allow_cidrs", "0.0.0.0/0")
    assert [str(n) for n in validate.cidr_list("k", ["::/0", "192.0.2.0/24"])] == [
        "::/0",
        "192.0.2.0/24",
    ]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("ftp://proxy:8888", "scheme"),
        ("http://", "no host"),
        ("http://proxy:99999", "invalid port"),
        ("http://[::1", "not a valid URL"),
        ("proxy:8888", "scheme"),
        (None, "must be a URL"),
    ],
)
def test_url_refusals(value: object, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        validate.url("proxy_url", value)


@pytest.mark.parametrize("value", ["ws", "/ws x", "/ws?x=1", "", None, "/ws;"])
def test_url_path_refusals(value: object) -> None:
    with pytest.raises(ConfigError):
        validate.url_path("app_socketio_path", value)


def test_choice_lists_allowed() -> None:
    with pytest.raises(ConfigError, match="must be one of: nodesource, distro, binary"):
        validate.choice("nodejs_source", "brew", ("nodesource", "distro", "binary"))
