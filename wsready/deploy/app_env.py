"""The app's environment file (systemd `EnvironmentFile`), built from host data.

It carries the app's secrets (JWT secret), so it is rendered in memory and uploaded as file
content (never on a command line), 0600, readable only by the service's user and root.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from wsready.deploy.redis_plan import RedisEndpoint
from wsready.hostdata import HostConfig
from wsready.validate import ConfigError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NO_PROXY = "localhost,127.0.0.1,::1"


def proxy_environment(proxy_url: str | None) -> dict[str, str]:
    """HTTP(S)_PROXY and NO_PROXY (upper and lower case: libraries read either)."""
    if not proxy_url:
        return {}
    env = {"HTTP_PROXY": proxy_url, "HTTPS_PROXY": proxy_url, "NO_PROXY": NO_PROXY}
    env.update({name.lower(): value for name, value in list(env.items())})
    return env


def app_environment(
    data: HostConfig,
    version: str,
    workers: int = 1,
    redis: RedisEndpoint | None = None,
) -> dict[str, str]:
    """Every variable server.js reads, then proxy variables, then `app_env` extras.
    Each worker adds its own APP_WORKER (the systemd instance)."""
    env = {
        "NODE_ENV": "production",
        "APP_PORT": str(data.app_port),
        "APP_BIND": data.app_bind,
        "WS_PATH": data.app_socketio_path,
        "CORS_ORIGINS": ",".join(data.app_cors_origins),
        "PING_INTERVAL_MS": str(data.app_ping_interval_ms),
        "PING_TIMEOUT_MS": str(data.app_ping_timeout_ms),
        "APP_VERSION": version,
        "APP_AUTH": data.app_auth,
        "JWT_SECRET": data.app_jwt_secret or "",
        "JWT_AUDIENCE": data.app_jwt_audience or "",
        "JWT_ISSUER": data.app_jwt_issuer or "",
        "STATIC_TOKEN_SHA256": ",".join(data.app_static_token_hashes),
        "APP_WORKERS": str(workers),
        "APP_MAX_CLIENTS": str(data.app_max_clients),
        "APP_LOG_CONNECTIONS": "1" if data.app_log_connections else "0",
        "MAX_HTTP_BUFFER_SIZE": str(data.app_max_http_buffer_size),
        "LISTEN_BACKLOG": str(data.app_listen_backlog),
        "RECOVERY_MAX_DISCONNECTION_MS": str(data.app_recovery_max_disconnection_ms),
        # The host's rate, shared by its workers (each drains its own clients).
        "DRAIN_RATE": str(max(1, -(-data.app_drain_rate // workers))),
        "DRAIN_DEADLINE_MS": str(data.drain_deadline_s * 1000),
        "REDIS_URL": redis.url if redis else "",
        "REDIS_PASSWORD": (redis.password or "") if redis else "",
    }
    if data.lb_websocket_only:  # the app offers only what every client uses (no polling)
        env["APP_TRANSPORTS"] = "websocket"
    env.update(proxy_environment(data.proxy_url))
    for name, value in (data.app_env or {}).items():
        env[name] = str(value)
    return env


def _quote(name: str, value: str) -> str:
    if "\n" in value or "\r" in value or "\0" in value:
        # Name only: the value may be a secret.
        raise ConfigError(f"app_env[{name!r}]", "<hidden>", "must not contain line breaks")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render_env_file(env: Mapping[str, str]) -> str:
    """`NAME="value"` lines in systemd's EnvironmentFile syntax."""
    lines = ["# Written by wsready deploy (tasks/app.py); edits are overwritten."]
    for name, value in env.items():
        if not _NAME.match(name):
            raise ConfigError("app_env", name, "variable names must match [A-Za-z_][A-Za-z0-9_]*")
        lines.append(f"{name}={_quote(name, value)}")
    return "\n".join(lines) + "\n"
