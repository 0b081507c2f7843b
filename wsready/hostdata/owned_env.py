"""The environment variables wsready writes into the app's environment file itself
(wsready/deploy/app_env.py builds the file), for the rule of `app_env` (contract.py)."""

from __future__ import annotations

# Every variable wsready writes itself, and the data key (or part of wsready) that sets it:
# `app_env` may not set them (contract.py refuses), or it would go around that key's rule
# (APP_BIND=0.0.0.0, CORS_ORIGINS=*, APP_AUTH=off, JWT_SECRET=x). Names are compared in
# upper case. `app_env.app_environment` writes exactly these (tests/unit/test_app_env.py).
OWNED = {
    "NODE_ENV": "wsready (always production)",
    "APP_PORT": "app_port",
    "APP_BIND": "app_bind",
    "WS_PATH": "app_socketio_path",
    "CORS_ORIGINS": "app_cors_origins",
    "PING_INTERVAL_MS": "app_ping_interval_ms",
    "PING_TIMEOUT_MS": "app_ping_timeout_ms",
    "APP_VERSION": "the release hash",
    "APP_AUTH": "app_auth",
    "JWT_SECRET": "app_jwt_secret",
    "JWT_AUDIENCE": "app_jwt_audience",
    "JWT_ISSUER": "app_jwt_issuer",
    "STATIC_TOKEN_SHA256": "app_static_token_hashes",
    "APP_WORKERS": "app_workers",
    "APP_MAX_CLIENTS": "app_max_clients",
    "APP_LOG_CONNECTIONS": "app_log_connections",
    "MAX_HTTP_BUFFER_SIZE": "app_max_http_buffer_size",
    "LISTEN_BACKLOG": "app_listen_backlog",
    "REDIS_URL": "app_redis_url (or the redis group)",
    "RECOVERY_MAX_DISCONNECTION_MS": "app_recovery_max_disconnection_ms",
    "DRAIN_RATE": "app_drain_rate",
    "DRAIN_DEADLINE_MS": "app_drain_deadline_s",
    "REDIS_PASSWORD": "redis_password",
    "HTTP_PROXY": "proxy_url",
    "HTTPS_PROXY": "proxy_url",
    "NO_PROXY": "proxy_url",
    "APP_CONFIG_FINGERPRINT": "wsready (the config's fingerprint)",
    "APP_WORKER": "the unit (the worker's instance number)",
    "APP_TRANSPORTS": "lb_websocket_only",
}
