"""Target, the probe plan and ProbeResult text."""

from __future__ import annotations

import pytest

from wsready.probes import ProbeResult, Target, plan_probes, run_probes
from wsready.validate import ConfigError

SECRET = "s3cr3t-token-value"


def test_target_addresses() -> None:
    target = Target("ws://example.test/", socketio_path="/socket")
    assert (target.host, target.port, target.secure) == ("example.test", 80, False)
    assert target.http_url("/api/health") == "http://example.test:80/api/health"
    assert target.ws_url(target.engineio_path("websocket")) == (
        "ws://example.test:80/socket/?EIO=4&transport=websocket"
    )
    secure = Target("https://[::1]:8443")
    assert (secure.host, secure.port, secure.secure) == ("::1", 8443, True)
    assert secure.ws_url("/ws") == "wss://[::1]:8443/ws"


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"url": "ftp://host"}, "url"),
        ({"url": "http://"}, "url"),
        ({"url": "http://host:99999"}, "url"),
        ({"url": "http://host", "socketio_path": "ws"}, "socketio_path"),
        ({"url": "http://host", "origin": "not a url"}, "origin"),
    ],
)
def test_bad_target_names_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Target(**kwargs)
    assert caught.value.key == key


def test_token_is_not_in_repr() -> None:
    target = Target("http://127.0.0.1", token=SECRET)
    assert SECRET not in repr(target)
    assert SECRET not in str(target)
    assert target.redact(f"echo {SECRET}!") == "echo [token redacted]!"


CLIENT_PROBES = ("session", "session-upgrade", "websocket-only", "workers", "broadcast")


def test_plan_in_layer_order_with_optional_probes() -> None:
    plain = [probe.name for probe in plan_probes(Target("http://h"))]
    assert plain == [
        "dns",
        "tcp",
        "server",
        "health",
        "polling",
        "upgrade",
        "open",
        "connect",
        "ping",
        *CLIENT_PROBES,
    ]
    full = Target("https://h", token="t", origin="http://app.example")
    names = [probe.name for probe in plan_probes(full, idle=True)]
    assert names == [
        "dns",
        "tcp",
        "tls",
        "server",
        "health",
        "polling",
        "upgrade",
        "open",
        "connect",
        "ping",
        *CLIENT_PROBES,
        "idle",
        "cors",
        "rest-auth",
        "auth-match",
    ]
    upgrade = next(probe for probe in plan_probes(full) if probe.name == "upgrade")
    assert upgrade.target == "wss://h:443/ws/?EIO=4&transport=websocket"
    assert upgrade.needs == ("tcp", "tls")


def test_result_reads_like_a_gatus_condition() -> None:
    result = ProbeResult("upgrade", "websocket", False, "== 101", "404", 0.01, subject="status")
    assert str(result) == "upgrade status (404) == 101"
    assert result.state == "FAIL"
    skipped = ProbeResult("open", "engine.io", False, "x", "upgrade failed", 0.0, skipped=True)
    assert str(skipped) == "open skipped: upgrade failed"
    assert skipped.state == "skipped"
    data = result.to_dict()
    assert data["text"] == "upgrade status (404) == 101"
    assert data["state"] == "FAIL"


@pytest.mark.parametrize("timeout", [0, -1, True, "5"])
def test_run_probes_refuses_a_bad_timeout(timeout) -> None:
    with pytest.raises(ConfigError, match="timeout_s"):
        run_probes(Target("http://127.0.0.1"), timeout_s=timeout)


def test_a_probe_that_raises_is_reported_without_the_token(monkeypatch) -> None:
    from wsready.probes import runner

    def explode(probe, ctx):
        raise RuntimeError(f"server said Bearer {ctx.target.token}")

    monkeypatch.setitem(runner.RUNNERS, "dns", explode)
    results = run_probes(Target("http://127.0.0.1", token=SECRET), timeout_s=1)
    dns = results[0]
    assert not dns.ok and not dns.skipped
    assert dns.actual == "probe error: RuntimeError: server said Bearer [token redacted]"
    assert all(result.skipped for result in results[1:])
    assert SECRET not in repr(results)
