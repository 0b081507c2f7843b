"""The sandbox's front door from rollout and the probes: HAProxy's runtime API on the
balancer host, over SSH (`socat` to its admin socket), with the ALB's verbs.

deregister = `set server app/NAME state maint` (no new request reaches it, sticky or not;
open connections stay), drained = none left or the deregistration delay has passed (then
`shutdown sessions`), register = `state ready`, healthy = HAProxy's check says UP.
"""

from __future__ import annotations

import csv
import io
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import paramiko

from wsready.deploy import haproxy
from wsready.errors import Unreachable
from wsready.fleet.onboard import SshRunner, connect
from wsready.hostdata import HostConfig

Log = Callable[[str], None]


class BalancerError(Unreachable, RuntimeError):
    """The balancer host or its runtime API did not answer."""


@dataclass(frozen=True)
class ServerState:
    """One app host as HAProxy sees it: UP, DOWN, MAINT, …; open sessions; its check."""

    name: str
    status: str
    sessions: int
    check: str

    @property
    def healthy(self) -> bool:
        return self.status.startswith("UP")


def parse_stat(text: str) -> dict[str, ServerState]:
    """`show stat` CSV → the app backend's servers by name."""
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {
        row["svname"]: ServerState(
            row["svname"], row["status"], int(row["scur"] or 0), row.get("check_status", "")
        )
        for row in rows
        if row.get("pxname") == haproxy.BACKEND and row["svname"] not in ("FRONTEND", "BACKEND")
    }


class HaproxyDoor:
    """The balancer host of the inventory, in front of `apps`."""

    def __init__(self, balancer: HostConfig, apps: Mapping[str, HostConfig]) -> None:
        self.balancer = balancer
        self.apps = apps
        self.delay_s = balancer.lb_deregistration_delay_s

    @property
    def description(self) -> str:
        return f"HAProxy on {self.balancer.name} (balancer host)"

    def command(self, line: str) -> str:
        """One runtime API command; its answer."""
        shell = f"echo {shlex.quote(line)} | socat stdio {shlex.quote(haproxy.ADMIN_SOCKET)}"
        try:
            client = connect(self.balancer)
        except (OSError, paramiko.SSHException) as error:
            raise BalancerError(f"{self.balancer.name}: SSH: {error}") from None
        try:
            status, out, err = SshRunner(client)(shell)
        finally:
            client.close()
        if status != 0:
            raise BalancerError(f"{self.balancer.name}: `{line}` exited {status}: {err.strip()}")
        return out

    def servers(self) -> dict[str, ServerState]:
        return parse_stat(self.command("show stat"))

    def _server(self, name: str) -> str:
        return f"{haproxy.BACKEND}/{haproxy.server_name(name)}"

    def drain(self, name: str, log: Log) -> None:
        self.command(f"set server {self._server(name)} state maint")
        log(f"{name}: out of {self.description} (maint); draining up to {self.delay_s} s")
        deadline = time.monotonic() + self.delay_s
        while True:
            state = self.servers()[haproxy.server_name(name)]
            if state.sessions == 0:
                log(f"{name}: drained (0 connections)")
                return
            if time.monotonic() >= deadline:
                self.command(f"shutdown sessions server {self._server(name)}")
                log(f"{name}: deregistration delay over: closed {state.sessions} connections")
                return
            time.sleep(1.0)

    def restore(self, name: str, log: Log) -> None:
        self.command(f"set server {self._server(name)} state ready")
        budget = self.balancer.lb_health_interval_s * (self.balancer.lb_healthy_threshold + 2)
        deadline = time.monotonic() + budget + 10
        while True:
            state = self.servers()[haproxy.server_name(name)]
            if state.healthy:
                log(f"{name}: back in {self.description}: {state.status}")
                return
            if time.monotonic() >= deadline:
                raise BalancerError(
                    f"{name}: still {state.status} ({state.check}) after {budget} s"
                )
            time.sleep(1.0)
