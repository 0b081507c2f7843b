"""Shared end-to-end fixtures: one sandbox fleet for the whole session, deployed once.

    def test_something(fleet):
        host = fleet.hosts[0]                       # wsready.sandbox.SandboxHost
        assert fleet.deploy.returncode == 0, fleet.deploy.output
        host_ssh(host, "systemctl is-active nginx")  # -> stdout, raises on failure
        result = redeploy(fleet, "--data", "verify_retries=0")

Tests that change a host must put it back (or redeploy) before they end: the fleet is
shared by every e2e test file in the session. test_deploy.py runs first among them: it
checks the fresh deploy and that a second run changes nothing.

`fleet` runs Debian 12 (bookworm). A module whose tests touch what differs between
releases (families.RELEASES) runs them on a Debian 13 (trixie) fleet too, booted once per
session on first use, by overriding `fleet` with one parametrized by release:

    @pytest.fixture(scope="module", params=RELEASES)
    def fleet(request: pytest.FixtureRequest) -> Fleet:
        return fleet_of(request)
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e import acme_server
from tests.e2e.acme_server import AcmeServer
from wsready import sandbox
from wsready.sandbox import image as sandbox_image

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_FILE = ROOT / "deploy.py"
FLEET_SIZE = 2
DEPLOY_TIMEOUT_S = 900
RELEASES = sandbox_image.RELEASES  # bookworm (the `fleet`), trixie (`trixie_fleet`)


@dataclass
class DeployResult:
    """One `pyinfra -y INVENTORY deploy.py` run: exit status, all output, wall seconds."""

    args: list[str]
    returncode: int
    output: str
    seconds: float

    def __str__(self) -> str:
        return f"{' '.join(self.args)} -> {self.returncode} in {self.seconds:.1f}s\n{self.output}"


@dataclass
class Fleet:
    hosts: list[sandbox.SandboxHost]
    inventory: Path
    deploy: DeployResult
    history: list[DeployResult] = field(default_factory=list)
    release: str = sandbox_image.SUITE


def run_deploy(inventory: Path, *extra_args: str, deploy_file: Path = DEPLOY_FILE) -> DeployResult:
    """Run pyinfra from the project root (as ops would), capturing stdout+stderr."""
    args = ["pyinfra", "-y", str(inventory), str(deploy_file), *extra_args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    started = time.monotonic()
    completed = subprocess.run(
        args,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=DEPLOY_TIMEOUT_S,
    )
    return DeployResult(args, completed.returncode, completed.stdout, time.monotonic() - started)


def redeploy(fleet: Fleet, *extra_args: str, deploy_file: Path = DEPLOY_FILE) -> DeployResult:
    """Deploy the fleet again (e.g. `"--data", "key=value"`, `"--limit", "wsr-1"`)."""
    result = run_deploy(fleet.inventory, *extra_args, deploy_file=deploy_file)
    fleet.history.append(result)
    return result


def changed_rows(output: str) -> list[str]:
    """Rows of pyinfra's results table with a Success count (a change) other than `-`."""
    rows = []
    in_table = False
    for line in output.splitlines():
        if line.strip().startswith("--> Results"):
            in_table = True
            continue
        if in_table and re.search(r"\s(\d+|-)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s*$", line):
            hosts, success, _error, _no_change = line.split()[-4:]
            if success != "-" and "Grand total" not in line and "Probe the service" not in line:
                rows.append(line.strip())
    return rows


def host_ssh(host: sandbox.SandboxHost, command: str, check: bool = True) -> str:
    """stdout of `command` run as root on `host`; raises when it fails and `check`."""
    result = sandbox.ssh(host, command)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{host.name}: `{command}` exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result.stdout


_EXPOSURE = re.compile(r"Overall exposure level for (\S+): (\d+(?:\.\d+)?) ")


def exposure(host: sandbox.SandboxHost, unit: str) -> float:
    """`systemd-analyze security`'s overall exposure of `unit` on `host` (0 safest, 10)."""
    output = host_ssh(host, f"systemd-analyze security --no-pager {unit}")
    found = _EXPOSURE.search(output)
    assert found and found.group(1) == unit, output[-500:]
    return float(found.group(2))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run test_deploy.py before the other e2e files (they change and restore the fleet)."""
    here = Path(__file__).resolve().parent
    first = [item for item in items if item.path == here / "test_deploy.py"]
    chosen = {id(item) for item in first}
    rest = [item for item in items if id(item) not in chosen]
    at = next((k for k, item in enumerate(rest) if here in item.path.parents), len(rest))
    items[:] = rest[:at] + first + rest[at:]


def _deployed_fleet(
    tmp_path_factory: pytest.TempPathFactory, release: str = sandbox_image.SUITE
) -> Iterator[Fleet]:
    """`FLEET_SIZE` sandbox hosts of `release` with one fresh deploy; torn down at the end,
    also on failure or ^C."""
    name = "fleet" if release == sandbox_image.SUITE else f"fleet-{release}"
    inventory = tmp_path_factory.mktemp(name) / "sandbox.py"
    try:
        hosts = sandbox.up(FLEET_SIZE, inventory, release=release)
        first = run_deploy(inventory)
        fleet = Fleet(
            hosts=hosts, inventory=inventory, deploy=first, history=[first], release=release
        )
        print(
            f"\nfresh deploy of {FLEET_SIZE} {release} hosts: {first.seconds:.1f}s "
            f"(exit {first.returncode})"
        )
        yield fleet
    finally:
        sandbox.down(inventory)


@pytest.fixture(scope="session")
def bookworm_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two Debian 12 (bookworm) sandbox hosts with one fresh deploy."""
    yield from _deployed_fleet(tmp_path_factory)


@pytest.fixture(scope="session")
def fleet(bookworm_fleet: Fleet) -> Fleet:
    """The session's fleet: the bookworm one."""
    return bookworm_fleet


@pytest.fixture(scope="session")
def trixie_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two Debian 13 (trixie) sandbox hosts with one fresh deploy, booted on first use."""
    yield from _deployed_fleet(tmp_path_factory, "trixie")


def fleet_of(request: pytest.FixtureRequest) -> Fleet:
    """The session's fleet of the release `request.param` (for a module's `fleet` override)."""
    return request.getfixturevalue(f"{request.param}_fleet")


# --- several hosts: two app hosts, a Redis host, the front door ---------------------------

REDIS_PASSWORD = "e2e-redis-password-0123456789abcdef"  # a throwaway host's, not a secret


@dataclass
class MultiHostFleet:
    """`app` (two app hosts), `redis` (the fleet's Redis) and `balancer` (HAProxy in front of
    the app hosts), deployed together by one `pyinfra -y INVENTORY deploy.py`."""

    app: list[sandbox.SandboxHost]
    redis: sandbox.SandboxHost
    balancer: sandbox.SandboxHost
    inventory: Path
    deploy: DeployResult


def _multi_host_inventory(hosts: list[sandbox.SandboxHost], source: Path, path: Path) -> None:
    """The sandbox's own inventory, regrouped: `app` (the first two), `redis` (the third),
    `balancer` (the fourth, as `sandbox up --balancer` made it)."""
    namespace: dict = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)  # noqa: S102
    entries = {name: data for name, data in namespace["sandbox"] + namespace["balancer"]}
    for name in entries:
        entries[name]["redis_password"] = REDIS_PASSWORD
    groups = {
        "app": [(h.name, entries[h.name]) for h in hosts[:2]],
        "redis": [(hosts[2].name, entries[hosts[2].name])],
        "balancer": [(hosts[3].name, entries[hosts[3].name])],
    }
    path.write_text("".join(f"{group} = {members!r}\n" for group, members in groups.items()))


@pytest.fixture(scope="session")
def multi_host_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiHostFleet]:
    """Two app hosts, a Redis host and a balancer host, booted and deployed once a session
    (test_scaleout's Redis tests and test_front_door share it)."""
    directory = tmp_path_factory.mktemp("multi-host-fleet")
    own = directory / "sandbox.py"
    try:
        hosts = sandbox.up(3, own, balancer=True)
        inventory = directory / "fleet.py"
        _multi_host_inventory(hosts, own, inventory)
        result = run_deploy(inventory)
        print(f"\nfresh deploy of 2 app hosts + redis + balancer: {result.seconds:.1f}s")
        assert result.returncode == 0, result
        yield MultiHostFleet(hosts[:2], hosts[2], hosts[3], inventory, result)
    finally:
        sandbox.down(own)


@pytest.fixture(scope="session")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AcmeServer]:
    """One real ACME server (pebble + its challenge DNS) for the whole session."""
    server = acme_server.start(tmp_path_factory.mktemp("acme"))
    try:
        yield server
    finally:
        server.stop()
