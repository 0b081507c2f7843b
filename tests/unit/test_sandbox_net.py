"""Address allocation for sandbox hosts (pure parts of wsready.sandbox.net)."""

from __future__ import annotations

import pytest

from wsready.sandbox import net as sandbox_net


def test_allocate_takes_lowest_free_indexes():
    assert sandbox_net.allocate({1, 2, 4}, 3) == [3, 5, 6]


def test_allocate_starts_at_one_on_an_empty_machine():
    assert sandbox_net.allocate(set(), 2) == [1, 2]


def test_allocate_refuses_when_the_range_is_full():
    with pytest.raises(sandbox_net.NoFreeAddress, match="only 1 of .* free, 2 needed"):
        sandbox_net.allocate(set(range(1, 250)), 2)


def test_allocate_never_goes_past_the_limit():
    assert sandbox_net.allocate(set(range(1, 250)), 1) == [250]


@pytest.mark.parametrize("count", [0, -1])
def test_allocate_refuses_non_positive_counts(count):
    with pytest.raises(ValueError, match=f"hosts = {count}"):
        sandbox_net.allocate(set(), count)


def test_used_indexes_come_from_netns_links_and_addresses():
    addresses = (
        "2: eth0    inet 192.168.1.5/24 brd 192.168.1.255 scope global eth0\n"
        "9: vwsr-7    inet 10.200.7.1/30 scope global vwsr-7\n"
        "12: other0    inet 10.200.42.9/24 scope global other0\n"
    )
    used = sandbox_net.indexes_in(
        netns=["wsr-3", "unrelated", "wsr-x"], links=["lo", "eth0", "vwsr-5"], addresses=addresses
    )
    assert used == {3, 5, 7, 42}


def test_names_with_leading_zeros_are_not_sandbox_hosts():
    assert sandbox_net.indexes_in(netns=["wsr-03"], links=[], addresses="") == set()


@pytest.mark.parametrize(
    ("namespaces", "deleted"),
    [
        (["wsr-lan"], True),  # the last sandbox host is gone: so is the LAN
        (["wsr-lan", "wsr-3"], False),  # another host is still plugged into it
        (["wsr-lan", "unrelated", "wsr-03"], True),  # someone else's namespaces are no hosts
        (["wsr-3"], False),  # no LAN to remove
    ],
)
def test_the_lan_goes_with_the_last_sandbox_host(
    monkeypatch: pytest.MonkeyPatch, namespaces: list[str], deleted: bool
) -> None:
    """The branch e2e cannot take while the session's fleet is up (tests/e2e/test_sandbox.py
    checks the other one on real namespaces)."""
    assert sandbox_net.LAN_NETNS == "wsr-lan"
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(sandbox_net, "netns_names", lambda: namespaces)
    monkeypatch.setattr(sandbox_net, "_ip", lambda *args: calls.append(args) or "")
    sandbox_net.remove_lan_if_unused()
    assert calls == ([("netns", "del", "wsr-lan")] if deleted else [])
