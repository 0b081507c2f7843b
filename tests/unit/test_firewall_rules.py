"""ufw state parsing and the add/delete difference; the nftables table."""

from __future__ import annotations

from wsready.deploy.facts.firewall import parse_ufw_state
from wsready.deploy.firewall_rules import nftables_ruleset, ufw_changes, wanted_rules
from wsready.hostdata import HostConfig

UFW_FILES = [
    "ENABLED=yes",
    'DEFAULT_INPUT_POLICY="DROP"',
    "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
    "### tuple ### allow tcp 22 ::/0 any ::/0 in",
    "### tuple ### allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in",
    "### tuple ### allow tcp 80 ::/0 any ::/0 in",
    "### tuple ### allow tcp 443 0.0.0.0/0 any 198.51.100.0/24 in",
    "### tuple ### allow udp 53 0.0.0.0/0 any 0.0.0.0/0 in",
    "### tuple ### deny tcp 25 0.0.0.0/0 any 0.0.0.0/0 in",
]


def _data(**overrides):
    return HostConfig.from_data("wsr-1", overrides)


def test_parse_reads_enabled_policy_and_allow_rules() -> None:
    state = parse_ufw_state(UFW_FILES)
    assert state["enabled"] is True
    assert state["input_policy"] == "DROP"
    assert ("tcp", 22, "0.0.0.0/0") in state["rules"]
    assert ("tcp", 443, "198.51.100.0/24") in state["rules"]
    assert ("tcp", 25, "0.0.0.0/0") not in state["rules"]  # deny rules are not ours


def test_defaults_on_matching_host_change_nothing() -> None:
    assert ufw_changes(_data(), parse_ufw_state(UFW_FILES)) == (
        [],
        [("tcp", 443, "198.51.100.0/24")],
    )


def test_ssh_rules_come_first() -> None:
    rules = wanted_rules(_data(firewall_ssh_cidrs=["203.0.113.0/24"], nginx_tls=True))
    assert rules[0] == ("tcp", 22, "203.0.113.0/24")
    assert ("tcp", 443, "::/0") in rules


def test_removed_rule_is_added_back_and_stale_ones_deleted() -> None:
    files = [line for line in UFW_FILES if "tcp 80 0.0.0.0/0" not in line]
    add, delete = ufw_changes(_data(firewall_ssh_cidrs=["203.0.113.0/24"]), parse_ufw_state(files))
    assert add == [("tcp", 22, "203.0.113.0/24"), ("tcp", 80, "0.0.0.0/0")]
    assert ("tcp", 22, "0.0.0.0/0") in delete and ("tcp", 53, "0.0.0.0/0") not in delete


def test_nftables_table_is_our_own_with_default_drop() -> None:
    ruleset = nftables_ruleset(_data(firewall_allow_cidrs=["10.0.0.0/8", "fd00::/8"]))
    assert "table inet wsready {" in ruleset and "delete table inet wsready" in ruleset
    assert "policy drop;" in ruleset
    assert "ip saddr 10.0.0.0/8 tcp dport 80 accept" in ruleset
    assert "ip6 saddr fd00::/8 tcp dport 80 accept" in ruleset
    assert ruleset.index("dport 22") < ruleset.index("dport 80")


APP_HOSTS = ["10.0.1.5/32", "10.0.1.6/32"]


def test_a_redis_host_opens_ssh_then_redis_to_its_clients_only() -> None:
    data = _data(firewall_ssh_cidrs=["203.0.113.0/24"], nginx_tls=True, redis_port=6390)
    assert wanted_rules(data, APP_HOSTS) == [
        ("tcp", 22, "203.0.113.0/24"),
        ("tcp", 6390, "10.0.1.5/32"),
        ("tcp", 6390, "10.0.1.6/32"),
    ]  # no port 80 or 443: a Redis host serves no web traffic
    assert wanted_rules(_data(), []) == [("tcp", 22, "0.0.0.0/0"), ("tcp", 22, "::/0")]


def test_a_redis_host_deletes_web_rules_and_redis_rules_of_former_clients() -> None:
    state = parse_ufw_state(
        UFW_FILES + ["### tuple ### allow tcp 6379 0.0.0.0/0 any 10.0.1.99/32 in"]
    )
    add, delete = ufw_changes(_data(), state, APP_HOSTS)
    assert add == [("tcp", 6379, "10.0.1.5/32"), ("tcp", 6379, "10.0.1.6/32")]
    assert delete == [
        ("tcp", 80, "0.0.0.0/0"),
        ("tcp", 80, "::/0"),
        ("tcp", 443, "198.51.100.0/24"),
        ("tcp", 6379, "10.0.1.99/32"),
    ]


def test_an_app_host_never_opens_the_redis_port() -> None:
    state = parse_ufw_state(["### tuple ### allow tcp 6379 0.0.0.0/0 any 0.0.0.0/0 in"])
    add, delete = ufw_changes(_data(), state)
    assert not any(rule[1] == 6379 for rule in add)
    assert delete == [("tcp", 6379, "0.0.0.0/0")]


def test_nftables_for_a_redis_host() -> None:
    ruleset = nftables_ruleset(_data(), ["10.0.1.5/32", "fd00::5/128"])
    assert "ip saddr 10.0.1.5/32 tcp dport 6379 accept" in ruleset
    assert "ip6 saddr fd00::5/128 tcp dport 6379 accept" in ruleset
    assert "dport 80" not in ruleset


def test_a_redis_hosts_rules_as_ufw_writes_them_are_kept_not_deleted() -> None:
    """ufw writes `ufw allow … from 10.0.1.5/32` as `10.0.1.5`: the same rule, kept (deleting
    it made every second deploy shut the app hosts out of Redis)."""
    state = parse_ufw_state(
        [
            "ENABLED=yes",
            'DEFAULT_INPUT_POLICY="DROP"',
            "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
            "### tuple ### allow tcp 22 ::/0 any ::/0 in",
            "### tuple ### allow tcp 6379 0.0.0.0/0 any 10.0.1.5 in",
            "### tuple ### allow tcp 6379 0.0.0.0/0 any 10.0.1.6 in",
        ]
    )

    assert ufw_changes(_data(), state, APP_HOSTS) == ([], [])
