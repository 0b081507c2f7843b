"""`wsready rollout` over 3 sandbox hosts: the two fleet hosts plus one spare, spare first.

A good release rolls out in batches of 2; a release broken on purpose (Socket.IO on the
wrong path) stops at the first batch: its host is rolled back by the deploy itself, and
the hosts after it were never touched, so all three serve the release they had (same
version in /api/health, 101 on /ws). The fleet is put back on the bundled
release at the end; the spare host is removed.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Fleet, redeploy, run_deploy
from tests.e2e.variants import (
    app_variant,
    served_version,
    upgrade_status,
    write_inventory,
    wrong_socketio_path,
)
from wsready import sandbox
from wsready.inventory import host_data

pytestmark = pytest.mark.e2e

ROLLOUT_TIMEOUT_S = 600


@dataclass
class ThreeHosts:
    inventory: Path  # spare first, then the fleet hosts
    names: list[str]
    addresses: dict[str, str]


@pytest.fixture(scope="module")
def three_hosts(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreeHosts]:
    directory = tmp_path_factory.mktemp("rollout")
    spare_inventory = directory / "spare.py"
    try:
        (spare,) = sandbox.up(1, spare_inventory)
        first = run_deploy(spare_inventory)
        assert first.returncode == 0, str(first)
        print(f"\nspare host {spare.name} deployed in {first.seconds:.1f} s")
        hosts = {**host_data(spare_inventory), **host_data(fleet.inventory)}
        names = [spare.name, *(host.name for host in fleet.hosts)]
        addresses = {spare.name: spare.address} | {h.name: h.address for h in fleet.hosts}
        inventory = write_inventory(directory / "three.py", {name: hosts[name] for name in names})
        yield ThreeHosts(inventory, names, addresses)
    finally:
        try:
            restored = redeploy(fleet)
            assert restored.returncode == 0, str(restored)
        finally:
            sandbox.down(spare_inventory)


def rollout(three: ThreeHosts, *args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    completed = subprocess.run(
        ["wsready", "rollout", str(three.inventory), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=ROLLOUT_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    output = completed.stdout + completed.stderr
    return completed.returncode, output, time.monotonic() - started


def transcript(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("rollout: ")]


def versions(three: ThreeHosts) -> dict[str, str | None]:
    return {name: served_version(three.addresses[name]) for name in three.names}


def test_good_release_rolls_out_batch_by_batch(three_hosts: ThreeHosts, tmp_path: Path):
    before = versions(three_hosts)
    assert len(set(before.values())) == 1 and None not in before.values(), before
    source = app_variant(tmp_path / "app", "good release for the rollout test")
    status, output, seconds = rollout(
        three_hosts, "--batch", "2", "--", "--data", f"app_source={source}"
    )
    lines = transcript(output)
    print(f"\ngood rollout, exit {status} in {seconds:.1f} s:\n" + "\n".join(lines))
    assert status == 0, output
    after = versions(three_hosts)
    assert len(set(after.values())) == 1 and set(after.values()) != set(before.values()), after
    spare, first, second = three_hosts.names
    assert f"rollout: batch 1/2 [{spare}, {first}]: ok in" in output
    assert any(line.startswith(f"rollout: batch 2/2 [{second}]: ok in") for line in lines)
    assert lines[-1].startswith("rollout: rollout ok: 3 hosts in ")


def test_broken_release_stops_at_the_first_batch(three_hosts: ThreeHosts, tmp_path: Path):
    old = versions(three_hosts)
    assert None not in old.values(), old
    source = app_variant(tmp_path / "app", "socket.io on the wrong path", wrong_socketio_path)
    status, output, seconds = rollout(
        three_hosts, "--batch", "1", "--probe-retries", "1", "--", "--data", f"app_source={source}"
    )
    lines = transcript(output)
    spare, *rest = three_hosts.names
    now = versions(three_hosts)
    upgrades = {name: upgrade_status(three_hosts.addresses[name]) for name in three_hosts.names}
    print(f"\nbroken rollout, exit {status} in {seconds:.1f} s:\n" + "\n".join(lines))
    print(f"versions before {old}\nversions after  {now}\n/ws upgrade     {upgrades}")

    assert status == 2, output
    assert "rollout: rollout STOPPED at batch 1 after" in output
    failed = [line for line in lines if line.startswith(f"rollout: failed: {spare}: ")]
    assert failed, lines
    # The closing summary itself says what the verify step found and did: the new release
    # never served (app_restart "generations", the default: its generation failed its
    # proof, so nginx was never switched to it).
    assert "the new generation was refused" in failed[0], failed
    assert f"rolled back to release {old[spare]}" in failed[0], failed
    # The failed host's deploy names the probes that failed on the new generation (404 on
    # the wrong path) and the rollback; afterwards its probes pass again on the old release.
    proof = [line for line in output.splitlines() if "GenerationError: slot " in line]
    print("new generation of the failed host: " + (proof[0].strip() if proof else "?"))
    assert proof and "failed its probes" in proof[0] and "404" in proof[0], output
    assert "keeps serving" in proof[0], proof
    verify_error = [line for line in output.splitlines() if f"{spare}: " in line and
                    "the new generation was refused" in line]  # fmt: skip
    print("deploy of the failed host: " + (verify_error[0].strip() if verify_error else "?"))
    assert verify_error, output
    assert f"rolled back to release {old[spare]}: it passes the probes again" in verify_error[0]
    assert f"rollout: not touched (still on their previous release): {', '.join(rest)}" in lines
    assert not any(f"[{name}]: deploying" in line for line in lines for name in rest)
    # Every host, the rolled-back one included, serves the old release, WebSocket included.
    for name in three_hosts.names:
        assert now[name] == old[name]
        assert upgrades[name] == 101
