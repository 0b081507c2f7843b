"""What the deploy writes for the app's service, and where (moved from tasks/app.py, which
installs it): the environment file, the template unit `<app_name>@.service` (one instance
per worker) and `<app_name>.target`, their fingerprint (APP_CONFIG_FINGERPRINT, reported
by /api/health as `config`), and the rolling restart of the workers.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

from pyinfra.api.util import get_template

from wsready.deploy import app_env, app_release, redis_conf, redis_plan
from wsready.hostdata import HostConfig

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_APP = ROOT / "files" / "app"
UNIT_TEMPLATE = ROOT / "files" / "systemd" / "app@.service.j2"
TARGET_TEMPLATE = ROOT / "files" / "systemd" / "app.target.j2"


def _q(value: str) -> str:
    return shlex.quote(value)


@dataclass(frozen=True)
class AppPaths:
    """Where the app's pieces live on the host, from host data."""

    name: str
    app_dir: str
    etc: str = "/etc"

    @property
    def env_dir(self) -> str:
        return f"{self.etc}/{self.name}"

    @property
    def env_file(self) -> str:
        return f"{self.env_dir}/env"

    @property
    def unit_file(self) -> str:
        """The template unit: instance `name@i` is worker i."""
        return f"{self.etc}/systemd/system/{self.name}@.service"

    @property
    def target_file(self) -> str:
        return f"{self.etc}/systemd/system/{self.name}.target"

    @property
    def legacy_unit_file(self) -> str:
        """The single-process unit of releases before workers (removed by the deploy)."""
        return f"{self.etc}/systemd/system/{self.name}.service"

    def worker_units(self, count: int) -> list[str]:
        return [f"{self.name}@{index}.service" for index in range(count)]

    @classmethod
    def from_data(cls, data: HostConfig) -> AppPaths:
        return cls(data.app_name, data.app_dir.rstrip("/"))


RESTART_WAIT_TENTHS = 100  # how long a restarted worker may take to listen (tenths of a second)


def rolling_restart_command(units: list[str], first_port: int) -> str:
    """Shell: restart the workers one after another, each time waiting (bounded) until the
    restarted one listens again, so the others keep serving and nginx never runs out of
    workers. A worker that does not come up (its unit is no longer active) is not waited
    for: the verify step judges the result."""
    steps = []
    for index, unit in enumerate(units):
        port = first_port + index
        steps.append(
            f"systemctl restart {_q(unit)}; for _ in $(seq {RESTART_WAIT_TENTHS}); do "
            f"ss -Hltn 'sport = :{port}' | grep -q . && break; "
            f"systemctl is-active --quiet {_q(unit)} || break; sleep 0.1; done"
        )
    return "; ".join(steps) + "; true"


def restart_all_command(units: list[str]) -> str:
    """Shell: restart every worker at once (systemctl runs the jobs in parallel); the verify
    step judges the result."""
    return f"systemctl restart {' '.join(_q(unit) for unit in units)}; true"


@dataclass(frozen=True)
class AppConfig:
    """What the deploy writes for the app's service, and its fingerprint."""

    env_file: str
    unit: str
    target: str
    fingerprint: str


def app_config(data: HostConfig, release: app_release.Release, workers: int, redis) -> AppConfig:
    """The environment file and units for `data`; the fingerprint covers all three (the
    environment without its own fingerprint line) and is the 16 first hex digits of their
    sha256, reported by /api/health as `config`."""
    paths = AppPaths.from_data(data)
    local_redis = bool(redis and redis.local)
    unit = get_template(str(UNIT_TEMPLATE)).render(
        app_name=paths.name,
        app_user=data.app_user,
        app_dir=paths.app_dir,
        app_bind=data.app_bind,
        app_port=data.app_port,
        socketio_path=data.app_socketio_path,
        env_file=paths.env_file,
        entry=release.entry,
        limit_nofile=data.app_limit_nofile,
        drain_deadline_s=data.drain_deadline_s,
        redis_unit=redis_conf.LOCAL_UNIT if local_redis else None,
        redis_group=redis_plan.LOCAL_GROUP if local_redis else None,
    )
    # With two generations, the serving one's instances are enabled one by one (WantedBy=
    # the target): the target itself names none.
    listed = [] if data.app_restart == "generations" else list(range(workers))
    target = get_template(str(TARGET_TEMPLATE)).render(
        app_name=paths.name, workers=listed, count=workers
    )
    environment = app_env.app_environment(data, release.hash, workers, redis)
    digest = hashlib.sha256()
    for part in (app_env.render_env_file(environment), unit, target):
        digest.update(part.encode())
    fingerprint = digest.hexdigest()[:16]
    environment["APP_CONFIG_FINGERPRINT"] = fingerprint
    return AppConfig(app_env.render_env_file(environment), unit, target, fingerprint)
