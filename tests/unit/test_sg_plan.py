"""Pure security-group logic: desired rules from data, and the add/keep/revoke plan."""

from __future__ import annotations

import pytest

from wsready.aws.sg_plan import (
    Port,
    Rule,
    desired_rules,
    permission,
    plan,
    rules_from_permissions,
)
from wsready.aws.sg_plan import desired_from_data as _desired
from wsready.hostdata import HostConfig
from wsready.validate import ConfigError


def desired_from_data(data: dict) -> list[Rule]:
    """The rules for a host with `data` (its HostConfig: defaults, the data contract)."""
    return _desired(HostConfig.from_data("web1", data))


def http(cidr: str, description: str = "wsready: nginx http") -> Rule:
    return Rule("tcp", 80, 80, cidr, description)


def test_defaults_open_port_80_to_ipv4_and_ipv6_world():
    assert desired_from_data({}) == [http("0.0.0.0/0"), http("::/0")]


def test_tls_adds_its_port_and_ssh_cidrs_add_ssh_rules():
    rules = desired_from_data(
        {
            "nginx_tls": True,
            "nginx_tls_port": 8443,
            "sg_allow_cidrs": ["198.51.100.0/24"],
            "sg_ssh_cidrs": ["203.0.113.0/28", "2001:db8::/48"],
            "firewall_ssh_port": 2222,
        }
    )
    assert [str(rule) for rule in rules] == [
        'tcp 80 from 198.51.100.0/24  "wsready: nginx http"',
        'tcp 8443 from 198.51.100.0/24  "wsready: nginx https"',
        'tcp 2222 from 203.0.113.0/28  "wsready: ssh"',
        'tcp 2222 from 2001:db8::/48  "wsready: ssh"',
    ]


def test_duplicate_cidrs_give_one_rule():
    rules = desired_rules([Port(80, "x"), Port(80, "y")], ["10.0.0.0/8", "10.0.0.0/8"])
    assert rules == [Rule("tcp", 80, 80, "10.0.0.0/8", "wsready: x")]


@pytest.mark.parametrize(
    ("data", "key", "why"),
    [
        ({"sg_allow_cidrs": ["10.0.0.5/24"]}, "sg_allow_cidrs[0]", "did you mean 10.0.0.0/24?"),
        ({"sg_allow_cidrs": ["2001:db8::1/64"]}, "sg_allow_cidrs[0]", "did you mean 2001:db8::/64"),
        ({"sg_allow_cidrs": "0.0.0.0/0"}, "sg_allow_cidrs", "must be a list"),
        ({"sg_ssh_cidrs": ["10.0.0.0/8", "::/0"]}, "sg_ssh_cidrs[1]", "sg_allow_ssh_from_world"),
        ({"sg_ssh_cidrs": ["0.0.0.0/0"]}, "sg_ssh_cidrs[0]", "whole internet"),
        ({"nginx_listen_port": 0}, "nginx_listen_port", "TCP port"),
        ({"sg_allow_ssh_from_world": "yes"}, "sg_allow_ssh_from_world", "True or False"),
    ],
)
def test_bad_data_is_refused_naming_key_and_value(data, key, why):
    with pytest.raises(ConfigError) as caught:
        desired_from_data(data)
    assert caught.value.key == key
    assert why in str(caught.value)


def test_ssh_from_world_with_the_override():
    rules = desired_from_data({"sg_ssh_cidrs": ["0.0.0.0/0"], "sg_allow_ssh_from_world": True})
    assert Rule("tcp", 22, 22, "0.0.0.0/0", "wsready: ssh") in rules


def test_plan_adds_missing_keeps_present_whatever_the_description():
    current = [http("0.0.0.0/0", "added by hand")]
    result = plan([http("0.0.0.0/0"), http("::/0")], current)
    assert result.add == [http("::/0")]
    assert result.keep == current
    assert result.revoke == []
    assert result.summary() == "1 to add, 1 to keep, 0 to revoke"


def test_plan_without_purge_never_revokes():
    current = [http("10.0.0.0/8"), Rule("tcp", 22, 22, "0.0.0.0/0", "ops")]
    result = plan([], current)
    assert result.revoke == [] and not result.has_changes
    assert result.summary() == "no changes (0 to keep)"


def test_purge_revokes_only_owned_rules_and_purge_all_everything_unwanted():
    ours, theirs = http("10.0.0.0/8"), Rule("tcp", 22, 22, "192.0.2.0/24", "bastion")
    assert plan([], [ours, theirs], purge=True).revoke == [ours]
    # No SSH rule desired: the SSH rule the deploy needs stays, even with purge_all.
    assert plan([], [ours, theirs], purge_all=True).revoke == [ours]
    assert plan([ours], [ours, theirs], purge=True).revoke == []
    # Given SSH CIDRs replace it.
    ssh = Rule("tcp", 22, 22, "198.51.100.0/24", "wsready: ssh")
    assert plan([ssh], [ours, theirs], purge_all=True).revoke == [ours, theirs]


def test_plan_lines_and_dict():
    result = plan([http("::/0")], [http("0.0.0.0/0")], purge=True)
    assert result.lines() == [
        '+ add    tcp 80 from ::/0  "wsready: nginx http"',
        '- revoke tcp 80 from 0.0.0.0/0  "wsready: nginx http"',
    ]
    assert result.to_dict()["changes"] is True
    assert result.to_dict()["revoke"][0]["cidr"] == "0.0.0.0/0"


def test_permissions_are_flattened_and_group_references_left_out():
    rules = rules_from_permissions(
        [
            {
                "IpProtocol": "6",
                "FromPort": 80,
                "ToPort": 81,
                "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "wsready: a"}],
                "Ipv6Ranges": [{"CidrIpv6": "2001:DB8::/32"}],
                "UserIdGroupPairs": [{"GroupId": "sg-0123456789abcdef0"}],
            },
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "192.0.2.0/24"}]},
        ]
    )
    assert rules == [
        Rule("tcp", 80, 81, "10.0.0.0/8", "wsready: a"),
        Rule("tcp", 80, 81, "2001:db8::/32", ""),
        Rule("-1", -1, -1, "192.0.2.0/24", ""),
    ]
    assert str(rules[2]) == "all traffic from 192.0.2.0/24"
    assert rules[0].owned and not rules[1].owned


def test_permission_entries_for_ipv4_ipv6_and_revoke():
    assert permission(http("0.0.0.0/0")) == {
        "IpProtocol": "tcp",
        "FromPort": 80,
        "ToPort": 80,
        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "wsready: nginx http"}],
    }
    assert permission(http("::/0"), with_description=False)["Ipv6Ranges"] == [{"CidrIpv6": "::/0"}]


# --- issue 13, part 7 -----------------------------------------------------------------------------


def test_purge_never_removes_ssh_without_ssh_cidrs_even_all_traffic_or_other_ports():
    all_traffic = Rule("-1", -1, -1, "192.0.2.0/24", "admin")
    ssh_2222 = Rule("tcp", 2222, 2222, "192.0.2.0/24", "wsready: ssh")
    assert plan([], [all_traffic], purge_all=True).revoke == []
    assert plan([], [ssh_2222], purge=True, ssh_port=2222).revoke == []
    assert plan([], [ssh_2222], purge=True).revoke == [ssh_2222]  # not the SSH port


@pytest.mark.parametrize(
    "cidrs",
    [
        ["0.0.0.0/1", "128.0.0.0/1"],
        ["8.0.0.0/15"],
        ["8.0.0.0/16", "9.0.0.0/16"],
        ["2000::/3"],
        ["2001:4860::/32"],
    ],
)
def test_ssh_cidrs_that_together_cover_a_wide_public_range_are_refused(cidrs):
    with pytest.raises(ConfigError, match="public IPv"):
        desired_rules([Port(80, "http")], ["0.0.0.0/0"], cidrs)
    assert desired_rules([Port(80, "http")], ["0.0.0.0/0"], cidrs, allow_ssh_from_world=True)


@pytest.mark.parametrize(
    "cidrs",
    [["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"], ["8.8.0.0/16"], ["2001:4860:1::/48"]],
)
def test_private_ranges_and_one_slash_16_are_fine(cidrs):
    assert desired_rules([Port(80, "http")], ["0.0.0.0/0"], cidrs)


def test_the_guard_holds_for_the_ssh_port_opened_as_a_plain_port():
    with pytest.raises(ConfigError, match=r"--allow-cidr\[0\] = '0.0.0.0/0': opens SSH"):
        desired_rules([Port(22, "port 22")], ["0.0.0.0/0"], allow_key="--allow-cidr")
    with pytest.raises(ConfigError, match="public IPv4"):
        desired_rules([Port(2222, "p")], ["0.0.0.0/1", "128.0.0.0/1"], ssh_port=2222)


def test_the_maximum_comes_from_host_data():
    data = {"sg_ssh_cidrs": ["8.8.0.0/16"], "sg_ssh_max_public_prefix_v4": 24}
    with pytest.raises(ConfigError, match="/24"):
        desired_from_data(data)
