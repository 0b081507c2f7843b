"""Inventory files are loaded by pyinfra itself (`debug-inventory --json` in a child process)."""

from __future__ import annotations

import textwrap

import pytest

from wsready import inventory
from wsready.validate import ConfigError

INVENTORY = """
    _private = ["not-a-host"]
    web = (
        [("web1", {"port": "web1-host"}), "web2"],
        {"port": "web-inline", "tier": "web-inline", "only_web": 1},
    )
    canary = ["web2", "db1"]
    settings = {"not": "a group"}
"""
GROUP_DATA = {
    "all.py": "import os\nport = 'all-file'\ntier = 'all-file'\nregion = 'all-file'\n",
    "web.py": "tier = 'web-file'\n",
    "canary.py": "region = 'canary-file'\n",
    "fleet.py": "from_file_group = True\n",
}


@pytest.fixture
def fleet(tmp_path):
    path = tmp_path / "fleet.py"
    path.write_text(textwrap.dedent(INVENTORY))
    (tmp_path / "group_data").mkdir()
    for name, text in GROUP_DATA.items():
        (tmp_path / "group_data" / name).write_text(text)
    return path


def test_precedence_host_then_groups_then_all(fleet):
    hosts = inventory.host_data(fleet)
    assert list(hosts) == ["web1", "web2", "db1"]
    assert hosts["web1"]["port"] == "web1-host"
    assert hosts["web2"]["port"] == "web-inline"
    assert hosts["db1"]["port"] == "all-file"
    assert hosts["web1"]["tier"] == "web-file"
    assert hosts["web2"]["region"] == "canary-file"
    assert hosts["web1"]["region"] == "all-file"
    assert hosts["web1"]["only_web"] == 1 and "only_web" not in hosts["db1"]
    assert "os" not in hosts["db1"] and "settings" not in hosts["db1"]


def test_groups_include_the_group_named_after_the_file(fleet):
    groups = {host.name: host.groups for host in inventory.load(fleet)}
    assert groups == {
        "web1": ("web", "fleet"),
        "web2": ("web", "canary", "fleet"),
        "db1": ("canary", "fleet"),
    }
    assert inventory.host_data(fleet)["db1"]["from_file_group"] is True


def test_group_data_of_the_working_directory_is_not_read(fleet, tmp_path, monkeypatch):
    """Only `group_data/` next to the inventory counts, wherever the command runs from."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "group_data").mkdir(parents=True)
    (elsewhere / "group_data" / "all.py").write_text("port = 'from-cwd'\n")
    monkeypatch.chdir(elsewhere)
    assert inventory.host_data(fleet)["db1"]["port"] == "all-file"
    assert not (elsewhere / "pyinfra-debug.log").exists()


@pytest.mark.parametrize(
    ("limit", "names"),
    [("web2", ["web2"]), ("canary", ["web2", "db1"]), ("web*", ["web1", "web2"])],
)
def test_limit_is_a_host_group_or_glob(fleet, limit, names):
    assert [host.name for host in inventory.load(fleet, limit)] == names


def test_limit_matching_nothing_is_a_config_error(fleet):
    with pytest.raises(ConfigError, match="matches no host or group") as error:
        inventory.load(fleet, "db*x")
    assert error.value.key == "--limit"


def test_missing_file_and_empty_inventory_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file") as error:
        inventory.load(tmp_path / "absent.py")
    assert error.value.key == "--inventory"
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(ConfigError, match="defines no hosts"):
        inventory.load(empty)
    assert inventory.load(empty, require_hosts=False) == []


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ("hosts = ['a']\nraise RuntimeError('secret-value-123')\n", "RuntimeError"),
        ("raise ValueError('line one\\nsecret-value-123\\n  secret-value-123')\n", "ValueError"),
        ("hosts = [('a', {'token': 'secret-value-123', 'bad': object()})]\n", "TypeError"),
        ("hosts = ['secret-value-123'\n", "SyntaxError"),
    ],
)
def test_broken_inventory_names_the_error_type_only(tmp_path, content, kind):
    """pyinfra prints the traceback with the values; only the exception type is passed on."""
    broken = tmp_path / "broken.py"
    broken.write_text(content)
    with pytest.raises(ConfigError) as error:
        inventory.load(broken)
    message = str(error.value)
    assert f"cannot be loaded: {kind}" in message
    assert "secret-value-123" not in message
    assert "\n" not in message
    assert not (tmp_path / "pyinfra-debug.log").exists()


def test_inventory_exit_message_is_passed_on(tmp_path):
    """A dynamic inventory stops with its own message, as inventory/ec2.py does."""
    stopped = tmp_path / "cloud.py"
    stopped.write_text("raise SystemExit('cloud.py: no AWS region configured')\n")
    with pytest.raises(ConfigError, match="cannot be loaded: cloud.py: no AWS region configured"):
        inventory.load(stopped)


def test_slow_inventory_is_stopped(tmp_path):
    slow = tmp_path / "slow.py"
    slow.write_text("import time\ntime.sleep(30)\nhosts = ['a']\n")
    with pytest.raises(ConfigError, match="did not load within 2 s"):
        inventory.load(slow, timeout_s=2)
