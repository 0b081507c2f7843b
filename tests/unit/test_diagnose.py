"""diagnose() on synthetic probe results: each runbook case gets its own layer and fix."""

from __future__ import annotations

import pytest

from wsready.exitstatus import ExitStatus
from wsready.probes import ProbeResult, Target, network
from wsready.probes.diagnosis import RUNBOOK_SYMPTOM, diagnose

TARGET = Target("http://10.200.1.2", token="t0ken", origin="http://app.example")
LAYERS = {
    "dns": "dns",
    "tcp": "tcp",
    "tls": "tls",
    "health": "http",
    "upgrade": "websocket",
    "open": "engine.io",
    "connect": "socket.io",
    "ping": "heartbeat",
    "idle": "proxy idle",
    "polling": "polling",
    "cors": "cors",
    "rest-auth": "auth",
    "auth-match": "auth",
}
OPEN_DETAIL = {"ping_interval_ms": 5000, "ping_timeout_ms": 3000}


def ok(name: str, actual: str = "fine", **detail) -> ProbeResult:
    return ProbeResult(name, LAYERS[name], True, "expected", actual, 0.01, detail=detail)


def fail(name: str, actual: str, **detail) -> ProbeResult:
    return ProbeResult(name, LAYERS[name], False, "expected", actual, 0.01, detail=detail)


def skipped(name: str, why: str = "upgrade failed") -> ProbeResult:
    return ProbeResult(name, LAYERS[name], False, "expected", why, 0.0, skipped=True)


def healthy(**replace: ProbeResult) -> list[ProbeResult]:
    results = {
        "dns": ok("dns", "10.200.1.2"),
        "tcp": ok("tcp"),
        "health": ok("health", "200", status=200),
        "upgrade": ok("upgrade", "101", status=101),
        "open": ok("open", **OPEN_DETAIL),
        "connect": ok("connect", "40 accepted", accepted=True, token_sent=True),
        "ping": ok("ping"),
        "idle": ok("idle"),
        "polling": ok("polling", "200, 0{...}", status=200),
        "cors": ok("cors"),
        "rest-auth": ok("rest-auth", "200", status=200, accepted=True),
        "auth-match": ok("auth-match"),
    }
    results.update(replace)
    return list(results.values())


SOCKET_SKIPPED = {name: skipped(name) for name in ("open", "connect", "ping", "idle")}


def everything_after(name: str) -> dict[str, ProbeResult]:
    names = list(LAYERS)
    return {later: skipped(later, f"{name} failed") for later in names[names.index(name) + 1 :]}


CASES = {
    "a name does not resolve": (
        {
            "dns": fail("dns", "wsr-nope.invalid: Name or service not known"),
            **everything_after("dns"),
        },
        "dns",
        "name-unresolved",
    ),
    "b connection refused": (
        {"tcp": fail("tcp", "refused", error="refused"), **everything_after("tcp")},
        "tcp",
        "connection-refused",
    ),
    "c timeout: firewall or security group": (
        {"tcp": fail("tcp", "no answer in 5 s", error="timeout"), **everything_after("tcp")},
        "tcp",
        "connection-timeout",
    ),
    "d nginx up, app down": (
        {
            "health": fail("health", "502", status=502),
            "upgrade": fail("upgrade", "502", status=502),
            "polling": fail("polling", "502", status=502),
            **SOCKET_SKIPPED,
        },
        "app",
        "app-down",
    ),
    "e Socket.IO on another path (404)": (
        {
            "upgrade": fail("upgrade", "404", status=404),
            "polling": fail("polling", "404", status=404),
            **SOCKET_SKIPPED,
        },
        "websocket path",
        "socketio-path",
    ),
    "e Socket.IO on another path, behind nginx (502 upgrade, 404 polling)": (
        {
            "upgrade": fail("upgrade", "502", status=502),
            "polling": fail("polling", "404", status=404),
            **SOCKET_SKIPPED,
        },
        "websocket path",
        "socketio-path",
    ),
    "e a WebSocket server that is not Socket.IO": (
        {
            "open": fail("open", "'hello' (not an Engine.IO open packet)"),
            "polling": fail("polling", "200, body 'hello'", status=200),
            "connect": skipped("connect", "open failed"),
            "ping": skipped("ping", "connect skipped"),
            "idle": skipped("idle", "connect skipped"),
        },
        "websocket path",
        "socketio-path",
    ),
    "f proxy without upgrade headers (400, code 3)": (
        {
            "upgrade": fail(
                "upgrade",
                "400",
                status=400,
                engineio_error={"code": 3, "message": "Bad request"},
            ),
            **SOCKET_SKIPPED,
        },
        "proxy upgrade",
        "upgrade-headers",
    ),
    "f proxy answering a plain 200": (
        {"upgrade": fail("upgrade", "200", status=200), **SOCKET_SKIPPED},
        "proxy upgrade",
        "upgrade-headers",
    ),
    "g idle connection dropped by the proxy": (
        {"idle": fail("idle", "dropped after 2.0 s idle", error="closed")},
        "proxy idle",
        "idle-drop",
    ),
    "g dropped before the first ping": (
        {
            "ping": fail("ping", "connection closed 2.0 s after open", error="closed"),
            "idle": skipped("idle", "ping failed"),
        },
        "proxy idle",
        "idle-drop",
    ),
    "h token refused: 44": (
        {
            "connect": fail(
                "connect",
                '44 {"message":"unauthorized"}',
                accepted=False,
                message="unauthorized",
                token_sent=True,
            ),
            "rest-auth": fail("rest-auth", "401", status=401, accepted=False),
            "ping": skipped("ping", "connect failed"),
            "idle": skipped("idle", "connect failed"),
        },
        "auth",
        "auth-refused",
    ),
    "i Origin not allowed by CORS": (
        {"cors": fail("cors", "Access-Control-Allow-Origin missing", allow_origin=None)},
        "cors",
        "cors-origin",
    ),
    "i Origin refused on the upgrade (403)": (
        {"upgrade": fail("upgrade", "403", status=403), **SOCKET_SKIPPED},
        "cors",
        "cors-origin",
    ),
    "j REST healthy, /ws broken": (
        {
            "upgrade": fail("upgrade", "502", status=502),
            "polling": fail("polling", "502", status=502),
            **SOCKET_SKIPPED,
        },
        "websocket",
        "rest-ok-websocket-broken",
    ),
    # An app whose health says nothing about workers or clients: a hang on /ws fits an
    # overloaded host and a WebSocket server that is not running alike (issue 12, part 4).
    "j REST healthy, /ws hangs, health without figures: undecided": (
        {
            "upgrade": fail("upgrade", "no response in 5 s", error="timeout"),
            "polling": fail("polling", "no response in 5 s", error="timeout"),
            **SOCKET_SKIPPED,
        },
        "undecided",
        "overload-or-websocket",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_case_names_its_layer(case: str) -> None:
    replace, layer, code = CASES[case]
    diagnosis = diagnose(TARGET, healthy(**replace))
    assert (diagnosis.layer, diagnosis.code) == (layer, code), diagnosis.title
    assert diagnosis.status == ExitStatus.CRITICAL
    assert diagnosis.evidence, "evidence must show the actual values"
    assert diagnosis.fix


def test_healthy_is_ok() -> None:
    diagnosis = diagnose(TARGET, healthy())
    assert diagnosis.status == ExitStatus.OK
    assert diagnosis.layer == "none"


def test_runbook_situation_is_named_as_such() -> None:
    replace, _, _ = CASES["j REST healthy, /ws broken"]
    diagnosis = diagnose(TARGET, healthy(**replace))
    assert diagnosis.title.startswith(RUNBOOK_SYMPTOM)
    assert "WebSocket server not running" in diagnosis.fix
    evidence = "\n".join(diagnosis.evidence)
    assert "[ok] health (200)" in evidence and "[FAIL] upgrade (502)" in evidence
    assert "[skipped] open: upgrade failed" in evidence


def test_path_mismatch_while_rest_works_quotes_the_runbook() -> None:
    replace, _, _ = CASES["e Socket.IO on another path (404)"]
    diagnosis = diagnose(TARGET, healthy(**replace))
    assert diagnosis.evidence[0].startswith(RUNBOOK_SYMPTOM)
    assert "'Wrong path configuration'" in diagnosis.fix


def test_missing_upgrade_headers_quote_engineio_error() -> None:
    replace, _, _ = CASES["f proxy without upgrade headers (400, code 3)"]
    diagnosis = diagnose(TARGET, healthy(**replace))
    assert 'Engine.IO error 3 "Bad request"' in diagnosis.title
    assert 'proxy_set_header Connection "upgrade"' in diagnosis.fix


def test_idle_drop_names_the_timeout_to_exceed() -> None:
    replace, _, _ = CASES["g idle connection dropped by the proxy"]
    diagnosis = diagnose(TARGET, healthy(**replace))
    assert "(8 s)" in diagnosis.title  # pingInterval 5 s + pingTimeout 3 s
    assert "proxy_read_timeout" in diagnosis.fix


def test_rest_valid_token_refused_on_the_socket_is_critical() -> None:
    refused = fail("connect", "44 {}", accepted=False, message="unauthorized", token_sent=True)
    diagnosis = diagnose(
        TARGET,
        healthy(
            connect=refused,
            **{"auth-match": fail("auth-match", "REST accepts, socket refuses")},
        ),
    )
    assert (diagnosis.code, diagnosis.status) == ("auth-mismatch", ExitStatus.CRITICAL)
    assert "REST accepts this token but the socket refuses it" in diagnosis.title
    assert "same function as the REST middleware" in diagnosis.fix


def test_socket_accepting_a_token_rest_refuses_is_critical() -> None:
    diagnosis = diagnose(
        TARGET,
        healthy(
            **{
                "rest-auth": fail("rest-auth", "401", status=401, accepted=False),
                "auth-match": fail("auth-match", "REST refuses, socket accepts"),
            }
        ),
    )
    assert (diagnosis.code, diagnosis.status) == ("auth-mismatch", ExitStatus.CRITICAL)


def test_tls_expiring_soon_is_a_warning() -> None:
    tls = ProbeResult("tls", "tls", True, ">= 21", "12.0", 0.01, detail={"days_left": 12.0})
    tls.warning = True
    results = healthy()
    results.insert(2, tls)
    diagnosis = diagnose(Target("https://h"), results)
    assert diagnosis.status == ExitStatus.WARNING
    assert "tls 12.0" in diagnosis.title


def test_tls_expired_is_critical() -> None:
    tls = fail("tls", "-2.0", days_left=-2.0, blocks_later=False)
    results = healthy()
    results.insert(2, tls)
    diagnosis = diagnose(Target("https://h"), results)
    assert (diagnosis.layer, diagnosis.status) == ("tls", ExitStatus.CRITICAL)


# What Python's ssl module reports for each certificate verification failure.
VERIFY_FAILURES = {
    "certificate verify failed: certificate has expired (_ssl.c:1006)": (
        "tls-expired",
        "redeploy",
    ),
    "certificate verify failed: certificate is not yet valid (_ssl.c:1006)": (
        "tls-not-yet-valid",
        "timedatectl",
    ),
    "certificate verify failed: Hostname mismatch, certificate is not valid for 'h'.": (
        "tls-name",
        "subjectAltName covers h",
    ),
    "certificate verify failed: self-signed certificate (_ssl.c:1006)": (
        "tls-untrusted",
        'nginx_tls = "acme"',
    ),
}


@pytest.mark.parametrize("reason", list(VERIFY_FAILURES))
def test_each_certificate_failure_is_named_in_the_tls_layer_with_its_fix(reason: str) -> None:
    kind = network.verify_kind(reason)
    tls = fail("tls", reason, error="verify", verify=kind, reason=reason)
    results = healthy()
    results.insert(2, tls)
    diagnosis = diagnose(Target("https://h"), results)
    code, fix_words = VERIFY_FAILURES[reason]
    assert (diagnosis.layer, diagnosis.code, diagnosis.status) == ("tls", code, ExitStatus.CRITICAL)
    assert fix_words in diagnosis.fix


def test_slow_health_is_a_warning() -> None:
    slow = ok("health", "200, 1500 ms", status=200)
    slow.warning = True
    diagnosis = diagnose(TARGET, healthy(health=slow))
    assert diagnosis.status == ExitStatus.WARNING


def test_polling_only_broken_is_critical_since_default_clients_fail() -> None:
    diagnosis = diagnose(TARGET, healthy(polling=fail("polling", "400", status=400)))
    assert (diagnosis.code, diagnosis.status) == ("polling-broken", ExitStatus.CRITICAL)


def test_rest_broken_socket_fine() -> None:
    diagnosis = diagnose(TARGET, healthy(health=fail("health", "500", status=500)))
    assert (diagnosis.layer, diagnosis.status) == ("http", ExitStatus.CRITICAL)


def test_budget_notes_are_passed_on() -> None:
    note = ProbeResult(
        "ping", "heartbeat", False, "x", "pingInterval 25 s over budget", 0.0, skipped=True
    )
    note.detail["note"] = note.actual
    diagnosis = diagnose(TARGET, healthy(ping=note))
    assert diagnosis.status == ExitStatus.OK
    assert diagnosis.notes == ["ping skipped: pingInterval 25 s over budget"]


def test_to_dict_is_json_ready() -> None:
    data = diagnose(TARGET, healthy()).to_dict()
    assert data["status"] == "OK"
    assert data["exit_code"] == 0


def test_a_certificate_about_to_expire_is_critical_but_a_forecast_clients_still_work() -> None:
    tls = fail("tls", "3.0", days_left=3.0, blocks_later=False)
    results = healthy()
    results.insert(2, tls)
    diagnosis = diagnose(Target("https://h"), results)
    assert (diagnosis.code, diagnosis.status) == ("tls-expiring", ExitStatus.CRITICAL)
    assert diagnosis.forecast and diagnosis.clients_work
    assert diagnosis.to_dict()["clients_work"] is True
    expired = fail("tls", "-2.0", days_left=-2.0, blocks_later=False)
    gone = diagnose(Target("https://h"), [*healthy()[:2], expired, *healthy()[2:]])
    assert not gone.forecast and not gone.clients_work
