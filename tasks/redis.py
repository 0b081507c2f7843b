"""Redis for the Socket.IO Redis adapter: Debian's `redis-server` with a config of our own.

Two shapes (see wsready/deploy/redis_plan.py for which one an app host uses):
- a host of the `redis` group (`configure_redis_host`): Redis listens on `redis_address`
  (the private address) and loopback only, port `redis_port`, with `redis_password`
  required; the host firewall lets in only the app hosts' private addresses (tasks/
  firewall.py) and the security group likewise;
- an app host with several workers and no `redis` group (`install_local_redis`): Redis
  listens on no TCP port at all, only on a unix socket of group `redis`, which the app's
  workers join (SupplementaryGroups in their unit).

Pub/sub only: nothing is persisted. The config is wsready's own file, given to Debian's
unit through a drop-in; the password file is uploaded without diff, 0600 redis:redis (only
Redis reads it).
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from wsready.deploy import hostfacts, redis_plan
from wsready.deploy.operations.files import managed_file
from wsready.deploy.shapes import apt_install, put_text
from wsready.hostdata import host_config

LOCAL_REDIS_UNIT = "redis-server.service"
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


def _drop_in() -> str:
    return (
        "# Managed by wsready (tasks/redis.py): Redis runs wsready's own config.\n"
        "[Service]\nExecStart=\n"
        f"ExecStart=/usr/bin/redis-server {CONFIG}\n"
    )


def _install_and_configure(config: str, password: str | None = None) -> None:
    apt_install("Install redis-server without recommended packages.", ["redis-server"])
    written = put_text(
        f"Write the Redis config {CONFIG}.", config, CONFIG, mode="0640", group="redis"
    )
    changes = [written]
    if password is not None:
        changes.append(
            managed_file(
                name=f"Write the Redis password file {PASSWORD_CONFIG} (0600 redis:redis).",
                content=password_config(password),
                dest=PASSWORD_CONFIG,
                user="redis",
                group="redis",
                mode="600",
            )
        )
    drop_in = files.put(
        name="Make Debian's redis-server unit run wsready's config.",
        src=StringIO(_drop_in()),
        dest=DROP_IN,
        user="root",
        group="root",
        mode="0644",
        create_remote_dir=True,
    )
    systemd.daemon_reload(
        name="Reload systemd (the Redis drop-in changed).", _if=drop_in.did_change
    )
    systemd.service(
        name="Restart Redis (its config changed).",
        service=LOCAL_REDIS_UNIT,
        running=True,
        restarted=True,
        _if=any_changed(drop_in, *changes),
    )
    systemd.service(
        name="Keep Redis running and enabled at boot.",
        service=LOCAL_REDIS_UNIT,
        running=True,
        enabled=True,
    )


@deploy("Install a Redis for this host's workers (unix socket only)")
def install_local_redis() -> None:
    if hostfacts.family().packages["redis"] is None:
        # Refused at plan time: apt-get failing at execute time would stop the deploy after
        # the release switch.
        raise DeployError(
            f"{host.name}: several app workers need Redis, and a local one is installed only "
            "with apt-get (Debian/Ubuntu): set app_workers = 1, app_redis_url, or add a "
            "`redis` group"
        )
    _install_and_configure(local_config())


@deploy("Configure Redis for the fleet's Socket.IO adapter")
def configure_redis_host() -> None:
    data = host_config(host)
    if not data.redis_password:
        raise DeployError(
            f"{host.name}: redis_password = None: a host of the `redis` group needs a password "
            "(at least 32 characters, in secret group data)"
        )
    _install_and_configure(
        network_config(data.redis_server_address, data.redis_port), data.redis_password
    )


def is_redis_host() -> bool:
    """The current host is in the `redis` group: it runs Redis for the fleet, no app."""
    return redis_plan.REDIS_GROUP in host.groups
