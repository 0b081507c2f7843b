"""One host's plan: every decision the deploy makes for a host, computed once per run.

pyinfra plans one host after another at plan time; each task of deploy.py reads what it
needs from `host_plan()` instead of working it out again: the host's data (HostConfig),
its OS release and family (families.py: read once, judged once by the preflight), its size
(capacity), the app's release (a hash of its source), which Redis its workers use, the
configs this run writes with their fingerprints (the app's environment file and units,
nginx.conf and the site), and, on a Redis host, which clients may reach it. Each value is
worked out the first time a task asks and kept on the host object for the run; the verify
step reads the fingerprints from here, so it judges exactly what the other tasks wrote.
"""

from __future__ import annotations

from functools import cached_property

from pyinfra import host

from wsready.deploy import (
    app_config,
    app_release,
    capacity,
    families,
    haproxy,
    hostfacts,
    redis_plan,
)
from wsready.deploy import nginx_config as nginx_files
from wsready.hostdata import HostConfig, host_config

_MEMO = "_wsready_host_plan"


class HostPlan:
    """The current host's decisions, each computed on first use and then kept."""

    def __init__(self, current) -> None:
        self._host = current
        self.data: HostConfig = host_config(current)

    @cached_property
    def release(self) -> families.Release:
        """The OS release's row (UnsupportedRelease without one: the preflight says so)."""
        return hostfacts.release()

    @property
    def family(self) -> families.Family:
        return self.release.family

    @cached_property
    def cpus(self) -> int:
        return hostfacts.cpus() or 1

    @cached_property
    def sized(self) -> capacity.Plan:
        """App and nginx workers for this host's CPUs."""
        return capacity.plan(self.data, self.cpus)

    @property
    def redis_host(self) -> bool:
        """A host of the `redis` group: it runs Redis for the fleet, no app."""
        return redis_plan.REDIS_GROUP in self._host.groups

    @property
    def balancer_host(self) -> bool:
        """The host of the `balancer` group: HAProxy in front of the app hosts, no app."""
        return haproxy.BALANCER_GROUP in self._host.groups

    @cached_property
    def paths(self) -> app_config.AppPaths:
        return app_config.AppPaths.from_data(self.data)

    @cached_property
    def app_release(self) -> app_release.Release:
        """The release of `app_source` (or the bundled app): its files and hashes."""
        return app_release.scan(self.data.app_source or app_config.BUNDLED_APP)

    @cached_property
    def redis(self) -> redis_plan.RedisEndpoint | None:
        """The adapter's Redis for this host (see wsready.deploy.redis_plan)."""
        group = self._host.state.inventory.get_group(redis_plan.REDIS_GROUP, None) or []
        redis_hosts = [host_config(each) for each in group]
        return redis_plan.endpoint(self.data, redis_hosts, self.sized.app_workers)

    @cached_property
    def app(self) -> app_config.AppConfig:
        """The app's environment file and units, and their fingerprint."""
        return app_config.app_config(
            self.data, self.app_release, self.sized.app_workers, self.redis
        )

    @cached_property
    def nginx(self) -> nginx_files.NginxConfig:
        """nginx.conf and the site for this host's family, release and size."""
        return nginx_files.nginx_config(
            self.data,
            self.sized,
            self.family.name,
            nginx_files.status_include(self.data, self._host.groups),
            http2=self.release.nginx_http2,
        )

    @cached_property
    def redis_clients(self) -> list[str] | None:
        """On a Redis host: the CIDRs that may reach it (every app host's private address,
        then `redis_allow_cidrs`); None on any other host."""
        if not self.redis_host:
            return None
        app_hosts = [
            host_config(each)
            for each in self._host.state.inventory
            if not {redis_plan.REDIS_GROUP, haproxy.BALANCER_GROUP} & set(each.groups)
        ]
        return redis_plan.client_cidrs(app_hosts, self.data.redis_allow_cidrs)


def host_plan() -> HostPlan:
    """The current host's plan, made once per host per run."""
    current = host._get_module() if hasattr(host, "_get_module") else host
    plan = current.__dict__.get(_MEMO)
    if plan is None:
        plan = HostPlan(current)
        setattr(current, _MEMO, plan)
    return plan
