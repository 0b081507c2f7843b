"""How many app workers and nginx workers a host runs, and whether its limits hold the load.

Every proxied WebSocket holds two nginx connections (client and upstream) and one open file
in the app worker that serves it. `plan(data, cpus)` resolves the data keys that default to
the host's size (`app_workers`, `nginx_worker_processes`) with the host's CPU count;
`errors(data, sized)` names the keys whose combination cannot hold `app_max_clients`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wsready.hostdata import HostConfig
from wsready.validate import ConfigError

# nginx spreads connections over its workers unevenly even with `reuseport`: size for 25 %
# above an even share.
NGINX_HEADROOM = 1.25
FILES_PER_WORKER_BESIDES_CLIENTS = 64  # logs, the listening socket, Redis, siblings


@dataclass(frozen=True)
class Plan:
    """The resolved sizes for one host."""

    app_workers: int
    nginx_worker_processes: int | str  # a number, or "auto" (nginx: one per CPU)
    nginx_workers_effective: int  # "auto" as the number nginx will start

    def app_ports(self, first_port: int) -> list[int]:
        return [first_port + index for index in range(self.app_workers)]


def plan(data: HostConfig, cpus: int) -> Plan:
    """Sizes for a host with `cpus` CPUs ."""
    cpus = max(1, cpus)
    app_workers = data.app_workers or cpus
    processes = data.nginx_worker_processes
    if processes is None:
        connections_needed = 2 * data.app_max_clients * NGINX_HEADROOM
        processes = max(cpus, math.ceil(connections_needed / data.nginx_worker_connections))
    effective = cpus if processes == "auto" else processes
    return Plan(app_workers, processes, effective)


def errors(data: HostConfig, sized: Plan) -> list[ConfigError]:
    """The combinations of limits that cannot hold app_max_clients on a host sized `sized`
    (`plan(data, cpus)`)."""
    clients = data.app_max_clients
    found = []
    nginx_capacity = sized.nginx_workers_effective * data.nginx_worker_connections
    if nginx_capacity < 2 * clients:
        found.append(
            ConfigError(
                "nginx_worker_connections",
                data.nginx_worker_connections,
                f"x {sized.nginx_workers_effective} nginx workers (nginx_worker_processes = "
                f"{data.nginx_worker_processes!r}) = {nginx_capacity} connections, below the "
                f"{2 * clients} that app_max_clients = {clients} WebSockets need (two each)",
            )
        )
    per_worker = data.app_limit_nofile - FILES_PER_WORKER_BESIDES_CLIENTS
    if sized.app_workers * per_worker < clients:
        found.append(
            ConfigError(
                "app_limit_nofile",
                data.app_limit_nofile,
                f"x {sized.app_workers} app workers (app_workers = {data.app_workers!r}) "
                f"holds about {sized.app_workers * per_worker} sockets, below "
                f"app_max_clients = {clients}",
            )
        )
    somaxconn = data.kernel_sysctls.get("net.core.somaxconn")
    backlogs = {
        "nginx_listen_backlog": data.nginx_listen_backlog,
        "app_listen_backlog": data.app_listen_backlog,
    }
    for key, backlog in backlogs.items():
        if backlog is not None and somaxconn is not None and backlog > int(somaxconn):
            found.append(
                ConfigError(
                    key,
                    backlog,
                    f"exceeds kernel_sysctls['net.core.somaxconn'] = {somaxconn}: the kernel "
                    "would cut the queue to that",
                )
            )
    return found
