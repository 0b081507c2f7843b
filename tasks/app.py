"""The Node app as a systemd service, deployed as immutable releases.

Layout on the host (`app_dir`):
    releases/<release-hash>/      the app's files, read-only for the service user
        node_modules -> ../../deps/<deps-hash>/node_modules
    deps/<deps-hash>/             package.json + package-lock.json + node_modules (npm ci)
    current -> releases/<hash>    what systemd runs (WorkingDirectory)

A release is uploaded once, as one archive. `npm ci --omit=dev` runs only for a lock file
not seen before, into a temporary directory renamed into place on success, under a lock
(`app_dir/.install.lock`): an `npm ci` left running by a killed deploy is waited for, and
its leftovers removed, before the next one starts. Releases that differ only in code share
node_modules. `current` is switched atomically (ln -sfn + mv -T) only after both steps
succeeded, so a failed step leaves the previous release serving. The newest releases are
kept (KEEP_RELEASES). These steps are the operations of wsready/deploy/operations/release.py
(unpack, dependencies, current, prune), each deciding from the host's state when it runs.

Every live change (the `current` link, the environment file, the units, retired units) is
recorded first in the run's transaction (tasks/transaction.py), with the app's active
units: when the probes then fail, tasks/verify.py puts all of it back.

The app runs as `app_workers` systemd instances `<app_name>@<i>` of one template unit,
grouped by `<app_name>.target`. The workers restart only when the release, the units, the
environment file or the Node.js runtime (binary path and version) changed; daemon-reload
runs only when a unit changed. `config_fingerprint` (environment file and units) lands in
the environment as APP_CONFIG_FINGERPRINT; /api/health reports it, so the verify step knows
when the host answers with this run's config. Secrets travel only inside the environment
file's content (0600), never in a command line or an operation name.
"""

from __future__ import annotations

import atexit
import hashlib
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.util import get_template
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from tasks import transaction
from tasks.proxy import NPMRC
from tasks.redis import LOCAL_REDIS_UNIT, install_local_redis
from wsready.deploy import (
    app_env,
    app_release,
    capacity,
    claims,
    generations,
    hostfacts,
    redis_plan,
)
from wsready.deploy.operations import app_units
from wsready.deploy.operations import release as release_op
from wsready.deploy.operations.files import managed_directory, managed_file
from wsready.deploy.operations.release import KEEP_RELEASES
from wsready.hostdata import HostConfig, host_config

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_APP = ROOT / "files" / "app"
UNIT_TEMPLATE = ROOT / "files" / "systemd" / "app@.service.j2"
TARGET_TEMPLATE = ROOT / "files" / "systemd" / "app.target.j2"
# Operations that change what runs: a failure there must not stop the host before its
# verify step, which judges the result and puts the whole transaction back.
ACTIVATION = {"_ignore_errors": True}


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


_ARCHIVES: dict[str, str] = {}


def _release_archive(release: app_release.Release) -> str:
    """The release archive as a local temporary file (one per release for the whole fleet),
    removed when pyinfra exits."""
    if release.hash not in _ARCHIVES:
        directory = tempfile.mkdtemp(prefix="wsready-release-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        path = Path(directory) / f"{release.hash}.tar.gz"
        path.write_bytes(app_release.archive_bytes(release))
        _ARCHIVES[release.hash] = str(path)
    return _ARCHIVES[release.hash]


@deploy("Deploy the Socket.IO app")
def deploy_app() -> None:
    data = host_config(host)
    paths = AppPaths.from_data(data)
    name, user, app_dir = paths.name, data.app_user, paths.app_dir
    env_dir, env_file = paths.env_dir, paths.env_file
    release = app_release.scan(data.app_source or BUNDLED_APP)
    release_dir = f"{app_dir}/releases/{release.hash}"
    deps_dir = f"{app_dir}/deps/{release.deps_hash}"

    server.group(name=f"Create the system group {user}.", group=user, system=True)
    server.user(
        name=f"Create the system user {user} (no login shell).",
        user=user,
        group=user,
        home=app_dir,
        shell="/usr/sbin/nologin",
        comment=claims.USER_MARKER,  # what tells the preflight this user is wsready's
        system=True,
        ensure_home=False,
    )
    # Directories whose mode and owner the deploy sets are recorded in the transaction first:
    # the rollback puts them back.
    for path in (app_dir, f"{app_dir}/releases", f"{app_dir}/deps"):
        managed_directory(
            name=f"Create the directory {path}.",
            path=path,
            user="root",
            group="root",
            mode="0755",
            action="app",
        )

    release_op.unpack(
        name=f"Upload release {release.hash} ({len(release.files)} files) and unpack it.",
        src=_release_archive(release),
        release_dir=release_dir,
        deps_dir=deps_dir,
    )
    release_op.dependencies(
        name=f"Install dependencies {release.deps_hash} with npm ci --omit=dev.",
        release_dir=release_dir,
        deps_dir=deps_dir,
        has_npmrc=".npmrc" in release.files,
        npm_config=NPMRC,
        user=user,
    )
    switched = release_op.current(
        name=f"Switch {app_dir}/current to release {release.hash}.",
        app_dir=app_dir,
        release=release.hash,
        app_name=name,
        **ACTIVATION,
    )
    release_op.prune(
        name=f"Remove releases older than the newest {KEEP_RELEASES}.",
        app_dir=app_dir,
        release=release.hash,
        keep=KEEP_RELEASES,
        **ACTIVATION,
    )

    managed_directory(
        name=f"Create {env_dir} (readable by {user} only).",
        path=env_dir,
        user="root",
        group=user,
        mode="0750",
        action="app",
        **ACTIVATION,
    )
    sized = capacity.plan(data, hostfacts.cpus() or 1)
    redis = redis_endpoint(data, sized.app_workers)
    if redis and redis.local:
        install_local_redis()
    app = app_config(data, release, sized.app_workers, redis)
    env = managed_file(
        name=f"Write the app environment file {env_file} (0600).",
        content=app.env_file,
        dest=env_file,
        user=user,
        group=user,
        action="app",
        **ACTIVATION,
    )
    unit = managed_file(
        name=f"Install the systemd template unit {name}@.service (one instance per worker).",
        content=app.unit,
        dest=paths.unit_file,
        user="root",
        group="root",
        mode="644",
        action="app",
        **ACTIVATION,
    )
    workers = paths.worker_units(sized.app_workers)
    target = managed_file(
        name=f"Install {name}.target ({sized.app_workers} worker(s)).",
        content=app.target,
        dest=paths.target_file,
        user="root",
        group="root",
        mode="644",
        action="app",
        **ACTIVATION,
    )
    legacy = app_units.retire_legacy_unit(
        name=f"Stop and remove the single-process unit {name}.service of older deploys.",
        app_name=name,
        path=paths.legacy_unit_file,
        **ACTIVATION,
    )
    two = data.app_restart == "generations"
    retired = app_units.retire_workers(
        name=f"Stop workers beyond {name}@{sized.app_workers - 1}"
        + (f" (and @{generations.base('b')}+{sized.app_workers - 1})." if two else "."),
        app_name=name,
        count=sized.app_workers,
        second_base=generations.base("b") if two else None,
        **ACTIVATION,
    )
    runtime = app_units.record_node_runtime(
        name="Record the Node.js runtime the service runs.",
        marker=f"{env_dir}/node-runtime",
        **ACTIVATION,
    )
    systemd.daemon_reload(
        name="Reload systemd (the units changed).",
        _if=any_changed(unit, target, legacy, retired),
        **ACTIVATION,
    )
    if two:
        # tasks/generations.py starts a new generation beside the running one after nginx's
        # new config is active, proves it, and switches to it: nothing restarts here. The
        # target is still enabled: at boot it starts the serving slot's enabled instances.
        enable_target(name)
        return
    if data.app_restart == "all":
        how, restart = "all at once", restart_all_command(workers)
    else:
        how, restart = "one at a time", rolling_restart_command(workers, data.app_port)
    server.shell(
        name=f"Restart the {name} workers {how} (release, unit, environment or Node.js changed).",
        commands=[f"{transaction.units_command(name)} && {restart}"],
        _if=any_changed(switched, unit, env, runtime, legacy),
        **ACTIVATION,
    )
    for worker in workers:
        systemd.service(
            name=f"Keep {worker} running and enabled at boot.",
            service=worker,
            running=True,
            enabled=True,
            **ACTIVATION,
        )
    enable_target(name)


def enable_target(name: str) -> None:
    """Enable `<name>.target` at boot (it starts the workers it wants or that want it)."""
    systemd.service(
        name=f"Enable {name}.target at boot.",
        service=f"{name}.target",
        running=None,  # its workers are kept running; a target's state is "active"
        enabled=True,
        **ACTIVATION,
    )


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
        redis_unit=LOCAL_REDIS_UNIT if local_redis else None,
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


def redis_endpoint(data: HostConfig, workers: int) -> redis_plan.RedisEndpoint | None:
    """The adapter's Redis for the current host (see wsready.deploy.redis_plan)."""
    group = host.state.inventory.get_group(redis_plan.REDIS_GROUP, None) or []
    redis_hosts = [host_config(each) for each in group]
    return redis_plan.endpoint(data, redis_hosts, workers)
