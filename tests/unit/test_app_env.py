"""wsready.deploy.app_env: the EnvironmentFile the app reads, proxy variables, quoting."""

from __future__ import annotations

import pytest

from wsready.deploy import app_env
from wsready.hostdata import HostConfig
from wsready.hostdata.owned_env import OWNED
from wsready.validate import ConfigError


def test_every_server_variable_from_host_data() -> None:
    data = HostConfig.from_data(
        "wsr-1",
        {
            "app_cors_origins": ["https://a.example", "https://b.example"],
            "app_auth": "static",
            "app_static_token_hashes": ["a" * 64, "b" * 64],
            "proxy_url": "http://10.0.0.1:3128",
            "app_env": {"LOG_LEVEL": "debug", "PORT_HINT": "1"},
        },
    )
    env = app_env.app_environment(data, "abc123")
    assert env["APP_PORT"] == "3000" and env["APP_BIND"] == "127.0.0.1"
    assert env["WS_PATH"] == "/ws"
    assert env["CORS_ORIGINS"] == "https://a.example,https://b.example"
    assert env["PING_INTERVAL_MS"] == "25000" and env["PING_TIMEOUT_MS"] == "20000"
    assert env["APP_VERSION"] == "abc123"
    assert env["STATIC_TOKEN_SHA256"] == f"{'a' * 64},{'b' * 64}"
    assert env["HTTP_PROXY"] == env["https_proxy"] == "http://10.0.0.1:3128"
    assert env["NO_PROXY"] == "localhost,127.0.0.1,::1"
    assert env["LOG_LEVEL"] == "debug" and env["PORT_HINT"] == "1"


def test_no_proxy_variables_without_proxy_url() -> None:
    env = app_env.app_environment(HostConfig.from_data("wsr-1", {}), "v")
    assert not any("proxy" in name.lower() for name in env)


def test_quoting_keeps_values_literal() -> None:
    text = app_env.render_env_file({"A": 'quote " and \\ back', "B": "$HOME stays"})
    assert 'A="quote \\" and \\\\ back"' in text.splitlines()
    assert 'B="$HOME stays"' in text.splitlines()


def test_line_breaks_are_refused_without_echoing_the_value() -> None:
    with pytest.raises(ConfigError) as error:
        app_env.render_env_file({"JWT_SECRET": "top-secret\nINJECTED=1"})
    assert "top-secret" not in str(error.value)
    assert "JWT_SECRET" in str(error.value)


def test_bad_variable_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="app_env = '1BAD'"):
        app_env.render_env_file({"1BAD": "x"})


def test_owned_lists_exactly_what_wsready_writes() -> None:
    """OWNED (what app_env may not set) is every variable app_environment writes,
    the unit's APP_WORKER and the fingerprint: a new variable must be added there."""
    data = HostConfig.from_data(
        "wsr-1", {"proxy_url": "http://10.0.0.1:3128", "lb_websocket_only": True}
    )
    written = {name.upper() for name in app_env.app_environment(data, "v")}
    assert written | {"APP_CONFIG_FINGERPRINT", "APP_WORKER"} == set(OWNED)
