"""ufw state parsing and the add/delete difference; the nftables table."""

from __future__ import annotations

from tasks.firewall import nftables_ruleset, parse_ufw_state, ufw_changes, wanted_rules
from wsready import hostdata

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
    return hostdata.with_defaults(overrides)


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
