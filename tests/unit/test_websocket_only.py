"""lb_websocket_only enforced and judged in its mode: the deploy writes APP_TRANSPORTS=websocket,
the bundled app (for real, on loopback) then refuses long-polling, and the probes judge the
clients that mode has (WebSocket-only). The official socket.io-client agrees with each
verdict: wsready says the clients work iff the official clients of the configured mode do."""

from __future__ import annotations

from dataclasses import replace

from tests.oracle_run import broadcast_trigger, run_oracle
from tests.unit.test_oracle import FAST, N, app, on_this_machine
from wsready.deploy.app_env import app_environment
from wsready.exitstatus import ExitStatus
from wsready.fleet import targets
from wsready.hostdata import HostConfig
from wsready.probes import Target, run_probes
from wsready.probes.diagnosis import diagnose

ONLY = HostConfig.from_data("wsr-1", {"lb_websocket_only": True, "lb_stickiness": False})


def _verdict(target: Target):
    results = run_probes(target, timeout_s=3)
    return {result.probe: result for result in results}, diagnose(target, results)


def _oracle(port: int, mode: str):
    trigger = broadcast_trigger(on_this_machine, [port])
    return run_oracle(f"http://127.0.0.1:{port}", trigger=trigger, clients=N, mode=mode, **FAST)


def test_the_deploy_makes_the_app_offer_only_websocket_in_that_mode() -> None:
    assert app_environment(ONLY, "v")["APP_TRANSPORTS"] == "websocket"
    assert "APP_TRANSPORTS" not in app_environment(HostConfig.from_data("wsr-1", {}), "v")
    assert (
        ONLY.target().websocket_only
        and not HostConfig.from_data("wsr-1", {}).target().websocket_only
    )


def test_websocket_only_app_is_ok_in_its_mode_and_the_official_websocket_client_agrees() -> None:
    env = {"APP_TRANSPORTS": app_environment(ONLY, "v")["APP_TRANSPORTS"]}
    with app(**env) as port:
        target = Target(f"http://127.0.0.1:{port}", websocket_only=True)
        seen, diagnosis = _verdict(target)
        default_diagnosis = diagnose(Target(target.url), run_probes(Target(target.url), 3))
        websocket, default = _oracle(port, "websocket"), _oracle(port, "default")

    assert diagnosis.status == ExitStatus.OK and diagnosis.clients_work, diagnosis
    assert seen["polling"].ok and seen["polling"].detail["engineio_code"] == 0
    assert "session" not in seen and "session-upgrade" not in seen
    assert seen["websocket-only"].ok and seen["workers"].ok, seen["workers"].actual
    assert websocket.ok, websocket.describe()
    # The default client is expected to fail there: its mode is not the one configured.
    assert not default.ok and "xhr poll error" in default.describe(), default.describe()
    assert default_diagnosis.code == "server-transports" and not default_diagnosis.clients_work


def test_an_app_still_offering_polling_in_websocket_only_mode_is_a_warning_clients_work() -> None:
    with app() as port:
        target = Target(f"http://127.0.0.1:{port}", websocket_only=True)
        seen, diagnosis = _verdict(target)
        websocket = _oracle(port, "websocket")

    assert not seen["polling"].ok and seen["polling"].detail["offered"] is True
    assert (diagnosis.code, diagnosis.status) == ("websocket-only-not-enforced", ExitStatus.WARNING)
    assert "APP_TRANSPORTS=websocket" in diagnosis.fix
    assert websocket.ok and diagnosis.clients_work, websocket.describe()


def test_a_front_door_of_websocket_only_hosts_is_probed_in_that_mode(tmp_path) -> None:
    inventory = tmp_path / "fleet.py"
    inventory.write_text(
        'app = [("app-1", {"ssh_hostname": "10.200.1.2", "lb_websocket_only": True})]\n'
        'balancer = [("lb-1", {"ssh_hostname": "10.200.4.2"})]\n',
        encoding="utf-8",
    )
    found = {t.name: t.websocket_only for t in targets.from_inventory(str(inventory))}
    assert found == {"app-1": True, "lb-1": True}
    entry = targets.monitor_entry(ONLY, {})
    assert entry["lb_websocket_only"] is True
    assert replace(ONLY.target(), name=None).websocket_only
