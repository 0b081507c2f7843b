"""Redis's files for the Socket.IO adapter (moved from tasks/redis.py): wsready's own config
for Debian's `redis-server`, given to its unit through a drop-in, and the password file.
Pub/sub only: nothing is persisted. Which Redis an app host uses is redis_plan.py's.
"""

from __future__ import annotations

from pyinfra.api.exceptions import DeployError

from wsready.deploy import redis_plan

LOCAL_UNIT = "redis-server.service"
CONFIG = "/etc/redis/wsready.conf"
PASSWORD_CONFIG = "/etc/redis/wsready-auth.conf"  # holds the secret: 0600 redis:redis
DROP_IN = "/etc/systemd/system/redis-server.service.d/wsready.conf"
COMMON = [
    "# Managed by wsready (tasks/redis.py); edits are replaced by the next deploy.",
    "# Pub/sub for the Socket.IO adapter: nothing is persisted.",
    'save ""',
    "appendonly no",
    "protected-mode yes",
    "supervised systemd",
    "daemonize no",
    'logfile ""',
    "pidfile /run/redis/redis-server.pid",
    "maxclients 10000",
]


def local_config() -> str:
    """No TCP at all: a unix socket the `redis` group may use."""
    lines = COMMON + [
        "port 0",
        f"unixsocket {redis_plan.LOCAL_SOCKET}",
        "unixsocketperm 770",
    ]
    return "\n".join(lines) + "\n"


def network_config(address: str, port: int) -> str:
    """Listening on the private address and loopback, password required (included file)."""
    binds = " ".join(dict.fromkeys([address, "127.0.0.1"]))
    lines = COMMON + [f"bind {binds}", f"port {port}", f"include {PASSWORD_CONFIG}"]
    return "\n".join(lines) + "\n"


def password_config(password: str) -> str:
    if any(char in password for char in " \t\r\n\"'\\"):
        # Refused by the preflight already; never render one that could break the file.
        raise DeployError("redis_password: must not contain spaces, quotes or backslashes")
    return f"requirepass {password}\n"


def drop_in() -> str:
    return (
        "# Managed by wsready (tasks/redis.py): Redis runs wsready's own config.\n"
        "[Service]\nExecStart=\n"
        f"ExecStart=/usr/bin/redis-server {CONFIG}\n"
    )
