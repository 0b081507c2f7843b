"""tinyproxy configuration for sandbox hosts: registry hosts only, sandbox client only."""

from __future__ import annotations

import re
from pathlib import Path

from wsready.sandbox import proxy as sandbox_proxy


def _directives(config: str) -> list[tuple[str, str]]:
    lines = [line.split(None, 1) for line in config.splitlines() if line and line[0] != "#"]
    return [(words[0], words[1] if len(words) > 1 else "") for words in lines]


def test_config_listens_on_gateway_and_allows_only_the_sandbox():
    config = sandbox_proxy.render_config(
        "10.200.4.1", "10.200.4.2", Path("/x/tinyproxy.filter"), Path("/x/tinyproxy.log")
    )
    directives = _directives(config)
    assert ("Listen", "10.200.4.1") in directives
    assert ("Port", str(sandbox_proxy.PORT)) in directives
    assert [value for key, value in directives if key == "Allow"] == ["10.200.4.2"]


def test_config_denies_everything_not_in_the_filter():
    config = sandbox_proxy.render_config("10.200.4.1", "10.200.4.2", Path("/x/f"), Path("/x/log"))
    directives = dict(_directives(config))
    assert directives["FilterDefaultDeny"] == "Yes"
    assert directives["Filter"] == '"/x/f"'
    assert directives["FilterType"] == "ere"
    assert sorted(v for k, v in _directives(config) if k == "ConnectPort") == ["443", "80"]


def test_filter_matches_exactly_the_registry_hosts():
    text = sandbox_proxy.render_filter(["deb.debian.org", "registry.npmjs.org", "deb.debian.org"])
    rules = [re.compile(line) for line in text.splitlines() if not line.startswith("#")]
    assert len(rules) == 2

    def allowed(host: str) -> bool:
        return any(rule.search(host) for rule in rules)

    assert allowed("deb.debian.org")
    assert allowed("registry.npmjs.org")
    assert not allowed("evil-deb.debian.org.example.com")
    assert not allowed("debXdebianXorg")
    assert not allowed("registry.npmjs.org.attacker.test")
    assert not allowed("example.com")


def test_proxy_url_uses_the_gateway():
    from wsready.sandbox.state import HostState

    assert sandbox_proxy.proxy_url(HostState("wsr-9", 9, "/i.py")) == "http://10.200.9.1:8888"
    moved = HostState("wsr-9", 9, "/i.py", proxy_port=8889)
    assert sandbox_proxy.proxy_url(moved) == "http://10.200.9.1:8889"


SS_OUTPUT = """\
LISTEN 0      1024   10.200.5.1:8888 0.0.0.0:*
LISTEN 0      128       0.0.0.0:22   0.0.0.0:*
LISTEN 0      511     127.0.0.1:8889 0.0.0.0:*
"""


def test_port_8888_is_used_when_only_other_gateways_hold_it():
    assert sandbox_proxy.free_port(SS_OUTPUT, "10.200.6.1") == 8888


def test_a_wildcard_listener_pushes_the_proxy_to_the_next_port():
    # the tinyproxy.service started by Debian's package listens on *:8888
    for wildcard in ("0.0.0.0:8888", "*:8888", "[::]:8888"):
        listening = SS_OUTPUT + f"LISTEN 0 1024 {wildcard} 0.0.0.0:*\n"
        assert sandbox_proxy.free_port(listening, "10.200.6.1") == 8889


def test_the_same_address_and_port_is_taken():
    assert sandbox_proxy.free_port(SS_OUTPUT, "10.200.5.1") == 8889


def test_config_uses_the_chosen_port():
    config = sandbox_proxy.render_config("10.200.4.1", "10.200.4.2", Path("/f"), Path("/l"), 8890)
    assert ("Port", "8890") in _directives(config)
