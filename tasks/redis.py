"""Redis for the Socket.IO Redis adapter: Debian's `redis-server` with a config of our own.

Two shapes (see wsready/deploy/redis_plan.py for which one an app host uses):
- a host of the `redis` group (`configure_redis_host`): Redis listens on `redis_address`
  (the private address) and loopback only, port `redis_port`, with `redis_password`
  required; the host firewall lets in only the app hosts' private addresses (tasks/
  firewall.py) and the security group likewise;
- an app host with several workers and no `redis` group (`install_local_redis` in
  tasks/app.py): Redis listens on no TCP port at all, only on a unix socket of group
  `redis`, which the app's workers join (SupplementaryGroups in their unit).

Pub/sub only: nothing is persisted. The config is wsready's own file, given to Debian's
unit through a drop-in; the password file is uploaded without diff, 0600 redis:redis (only
Redis reads it). The files are wsready/deploy/redis_conf.py's, installed the same way on
both shapes (`shapes.redis_server`).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError

from wsready.deploy import redis_conf
from wsready.deploy.plan import host_plan
from wsready.deploy.shapes import redis_server


@deploy("Configure Redis for the fleet's Socket.IO adapter")
def configure_redis_host() -> None:
    data = host_plan().data
    if not data.redis_password:
        raise DeployError(
            f"{host.name}: redis_password = None: a host of the `redis` group needs a password "
            "(at least 32 characters, in secret group data)"
        )
    redis_server(
        redis_conf.network_config(data.redis_server_address, data.redis_port), data.redis_password
    )


def is_redis_host() -> bool:
    """The current host is in the `redis` group: it runs Redis for the fleet, no app."""
    return host_plan().redis_host
