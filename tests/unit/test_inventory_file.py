"""Inventory files resolve host data with pyinfra's precedence (checked against pyinfra)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from wsready import inventory_file
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
def inventory(tmp_path):
    path = tmp_path / "fleet.py"
    path.write_text(textwrap.dedent(INVENTORY))
    (tmp_path / "group_data").mkdir()
    for name, text in GROUP_DATA.items():
        (tmp_path / "group_data" / name).write_text(text)
    return path


def test_precedence_host_then_groups_then_all(inventory):
    hosts = inventory_file.load(inventory)
    assert list(hosts) == ["web1", "web2", "db1"]
    assert hosts["web1"]["port"] == "web1-host"
    assert hosts["web2"]["port"] == "web-inline"
    assert hosts["db1"]["port"] == "all-file"
    assert hosts["web1"]["tier"] == "web-file"
    assert hosts["web2"]["region"] == "canary-file"
    assert hosts["web1"]["region"] == "all-file"
    assert hosts["db1"]["from_file_group"] is True
    assert "os" not in hosts["db1"] and "settings" not in hosts["db1"]


def test_same_data_as_pyinfra_itself(inventory):
    """pyinfra's own loader, in a child process (it monkey-patches the process it runs in)."""
    script = textwrap.dedent(
        f"""
        import json, os
        from pyinfra.api import State
        from pyinfra.context import ctx_state
        from pyinfra_cli.inventory import make_inventory_from_files
        os.chdir({str(inventory.parent)!r})
        with ctx_state.use(State()):
            inventory = make_inventory_from_files({str(inventory)!r})
        print(json.dumps({{host.name: host.data.dict() for host in inventory}}))
        """
    )
    output = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True, check=True
    ).stdout
    theirs = json.loads(output)
    ours = inventory_file.load(inventory)
    for name, data in ours.items():
        for key, value in data.items():
            assert theirs[name][key] == value, (name, key)


def test_missing_file_and_empty_inventory_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such inventory file"):
        inventory_file.load(tmp_path / "absent.py")
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(ConfigError, match="defines no hosts"):
        inventory_file.load(empty)


def test_broken_inventory_names_the_error_type_only(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("hosts = ['a']\nraise RuntimeError('secret-value-123')\n")
    with pytest.raises(ConfigError) as error:
        inventory_file.load(broken)
    assert "RuntimeError" in str(error.value)
    assert "secret-value-123" not in str(error.value)
