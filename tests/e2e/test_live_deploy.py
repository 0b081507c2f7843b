"""A release deploy under load, as the clients see it (issue 21; bench/live_deploy.py at CI
size): 200 official socket.io-client clients with the default options stay connected through
nginx while sequence-numbered broadcasts go out every 250 ms and an `app_env` change restarts
every worker one at a time. Each stopping worker drains (paced) and each client's session is
recovered from Redis on the worker it reconnects to: no connect error, every reconnect
recovered, and (almost) no broadcast missed. Before recovery and draining, every client of a
restarted worker missed the broadcasts of its time away.

Not proven yet: zero missed broadcasts, and one move per client. A recovering client can
still miss a broadcast that arrives while its session is being restored (1 to 5 deliveries in
~10,000 on this machine, docs/benchmarks.md): the bound below fails on the old behaviour, not
on that race. With the one-at-a-time restart, the clients of worker 0 move to worker 1, which
restarts next (docs/deploy.md: "a new generation beside the old" is the design that ends it).
"""

from __future__ import annotations

import pytest

from bench import live_deploy
from tests.e2e.conftest import Fleet, redeploy

pytestmark = pytest.mark.e2e

CLIENTS = 200


def test_a_release_deploy_loses_no_broadcast_and_every_client_recovers(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    try:
        row = live_deploy.measure(
            fleet.inventory, host.name, host.address, "one-at-a-time", CLIENTS, 2, "e2e"
        )
    finally:
        restored = redeploy(fleet, "--limit", host.name)
    print(row)
    assert restored.returncode == 0, restored.output[-3000:]
    assert row["clients"] == CLIENTS
    assert row["broadcasts"] >= 8, row  # the deploy took seconds: broadcasts went out meanwhile
    assert row["disconnects_per_client"]["max"] >= 1, f"the workers did not restart: {row}"
    assert row["connect_errors"] == {}, row
    assert row["still_disconnected"] == 0, row
    # The restore race costs a few clients one broadcast (1-5 of 200 in our runs); without
    # recovery every client of a restarted worker has a gap.
    assert row["clients_with_gap"] <= CLIENTS // 20, row
    assert row["duplicates"] == 0, row
    assert row["recovered_fraction"] == 1.0, row
    # Paced and bounded: each client moved at most once per worker of the host.
    assert row["disconnects_per_client"]["max"] <= 2, row
