"""The front door's own faults, on synthetic results (the e2e test_front_door injects each on
a real balancer host and holds the verdict against the official client)."""

from __future__ import annotations

from tests.unit.test_client_sessions import TARGET, failure, result, run_of
from wsready.probes.diagnosis import diagnose

UNKNOWN = {"code": 1, "message": "Session ID unknown"}
SAID = '400 Engine.IO 1 "Session ID unknown"'


def test_session_unknown_from_another_host_is_the_front_doors_stickiness() -> None:
    lost = failure(
        "connect", SAID, "1", "0", engineio_error=UNKNOWN, status=400,
        host="wsr-6", session_host="wsr-5",
    )  # fmt: skip
    diagnosis = diagnose(
        TARGET, run_of(session=result("session", False, failed=1, failures=[lost], sessions=3))
    )

    assert (diagnosis.layer, diagnosis.code) == ("front door", "front-door-stickiness")
    assert "session made by host wsr-5, request answered by host wsr-6" in diagnosis.evidence[0]
    assert "lb_stickiness = True" in diagnosis.fix and "withCredentials" in diagnosis.fix


def test_session_unknown_on_the_same_host_stays_worker_routing() -> None:
    lost = failure(
        "connect", SAID, "1", "0", engineio_error=UNKNOWN, status=400,
        host="wsr-5", session_host="wsr-5",
    )  # fmt: skip
    diagnosis = diagnose(
        TARGET, run_of(session=result("session", False, failed=1, failures=[lost], sessions=3))
    )

    assert (diagnosis.layer, diagnosis.code) == ("routing", "session-routing")


def test_a_gateway_error_no_hosts_nginx_sent_is_the_front_door_without_healthy_hosts() -> None:
    gone = {"status": 503, "server": "", "fingerprint": None, "worker": None}
    diagnosis = diagnose(
        TARGET,
        run_of(
            health=result("health", False, "503", **gone),
            polling=result("polling", False, "503", **gone),
            upgrade=result("upgrade", False, "503", **gone),
        ),
    )

    assert (diagnosis.layer, diagnosis.code) == ("front door", "front-door-no-healthy-host")
    assert "answers 503 (no Server header) itself" in diagnosis.title


def test_the_same_gateway_error_from_a_hosts_nginx_is_not_the_front_door() -> None:
    ours = {"status": 502, "server": "nginx", "fingerprint": "ab12", "host": "wsr-5"}
    diagnosis = diagnose(
        TARGET,
        run_of(
            health=result("health", False, "502", **ours),
            upgrade=result("upgrade", False, "502", **ours),
            polling=result("polling", False, "502", **ours),
        ),
    )

    assert diagnosis.layer != "front door"


def _sessions_on(*hosts: str) -> list[dict]:
    return [{"mode": "polling", "steps": [{"step": "handshake", "host": h}]} for h in hosts]


def test_idle_drop_in_front_of_several_hosts_names_the_front_doors_idle_timeout() -> None:
    opened = result("open", True, ping_interval_ms=25000, ping_timeout_ms=20000)
    cut = result("ping", False, "closed 8.0 s after open", error="closed", after_s=8.0)
    session = result(
        "session", True, failed=0, failures=[], sessions=2,
        session_steps=_sessions_on("wsr-5", "wsr-6"),
    )  # fmt: skip

    diagnosis = diagnose(TARGET, run_of(open=opened, ping=cut, session=session))

    assert (diagnosis.layer, diagnosis.code) == ("front door", "front-door-idle")
    assert "hosts wsr-5, wsr-6" in diagnosis.title and "(45 s)" in diagnosis.title
    assert "lb_idle_timeout_s" in diagnosis.fix


def test_idle_drop_on_one_host_stays_the_proxys() -> None:
    opened = result("open", True, ping_interval_ms=25000, ping_timeout_ms=20000)
    cut = result("ping", False, "closed 8.0 s after open", error="closed", after_s=8.0)
    session = result(
        "session", True, failed=0, failures=[], sessions=2,
        session_steps=_sessions_on("wsr-5", "wsr-5"),
    )  # fmt: skip

    diagnosis = diagnose(TARGET, run_of(open=opened, ping=cut, session=session))

    assert diagnosis.code == "idle-drop"


def test_an_albs_own_503_is_the_front_door_another_servers_502_is_the_app() -> None:
    alb = {"status": 503, "server": "awselb/2.0", "fingerprint": None, "worker": None}
    other = {"status": 502, "server": "BaseHTTP/0.6 Python/3.11", "fingerprint": None}

    by_alb = diagnose(TARGET, run_of(health=result("health", False, "503", **alb)))
    by_other = diagnose(
        TARGET,
        run_of(
            health=result("health", False, "502", **other),
            upgrade=result("upgrade", False, "502", **other),
            polling=result("polling", False, "502", **other),
        ),
    )

    assert by_alb.code == "front-door-no-healthy-host"
    assert by_other.code != "front-door-no-healthy-host"
