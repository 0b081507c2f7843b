"""tasks.app.deploy_app at operation level: what runs on a fresh host, on a host that is
already up to date (nothing, in particular no restart), and after each kind of change.
The app runs as systemd template instances `wsready-app@<i>.service` (one per worker, as
many as the host has CPUs unless `app_workers` says otherwise), grouped by
`wsready-app.target`; the single `wsready-app.service` of older deploys is retired.

The operations of wsready/deploy/operations/app_units.py on their own: their JSON cases in
app_units.*/."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import fakehost
import pytest
from pyinfra.api.exceptions import DeployError

from tasks import transaction
from tasks.app import deploy_app
from wsready.deploy import app_release
from wsready.deploy.app_config import BUNDLED_APP
from wsready.deploy.operations.app_units import NODE_LOOKUP, WORKER_INSTANCES

SECRET = "jwt-secret-for-operation-tests-0123456789abcdef"
# The restart paths of one generation; app_restart "generations" is tested on its own below.
DATA = {
    "app_auth": "jwt",
    "app_jwt_secret": SECRET,
    "app_jwt_audience": "wsready",
    "app_restart": "one-at-a-time",
}
APP = "wsready-app"
WORKER0 = f"{APP}@0.service"
WORKER1 = f"{APP}@1.service"
TARGET = f"{APP}.target"
LEGACY = f"{APP}.service"  # the single-process unit of deploys before workers
APP_DIR = "/opt/wsready-app"
ENV_FILE = f"/etc/{APP}/env"
UNIT_FILE = f"/etc/systemd/system/{APP}@.service"
TARGET_FILE = f"/etc/systemd/system/{TARGET}"
LEGACY_FILE = f"/etc/systemd/system/{LEGACY}"
RESTART = (
    f"Deploy the Socket.IO app | Restart the {APP} workers one at a time"
    " (release, unit, environment or Node.js changed)."
)
RELOAD = "Deploy the Socket.IO app | Reload systemd (the units changed)."
# Before the workers restart (or stop), which of them run is noted in the run's transaction.
UNITS = transaction.units_command(APP)


def restart(*units: str) -> str:
    """Each worker restarted in turn, waiting until it listens on its port again."""
    waits = [
        f"systemctl restart {unit}; for _ in $(seq 100); do ss -Hltn 'sport = :{3000 + index}'"
        f" | grep -q . && break; systemctl is-active --quiet {unit} || break; sleep 0.1; done"
        for index, unit in enumerate(units)
    ]
    return f"{UNITS} && " + "; ".join(waits) + "; true"


def saved(*paths: str) -> str:
    """The command that records `paths` in the run's transaction before they change."""
    return transaction.save_command(list(paths), "app")


# What `retire_workers` asks systemd: the loaded instances of the template.
LISTING = WORKER_INSTANCES.format(pattern=f"'{APP}@*'")

RUNTIME = "/opt/nodejs/22.23.3/bin/node v22.23.3"
MARKER = f"/etc/{APP}/node-runtime"
BASE_FACTS = {
    "server.LinuxDistribution": {"name": "Debian", "major": 12, "minor": None},
    "server.Os": "Linux",
    "server.Which": {"useradd": "/usr/sbin/useradd", "usermod": "/usr/sbin/usermod"},
    "server.Command": {NODE_LOOKUP: RUNTIME},
    "hardware.Cpus": 1,
}


def _listing(*units: str) -> str:
    """`systemctl list-units --plain --no-legend` lines for `units`, all running."""
    return "\n".join(f"{unit} loaded active running {APP} worker" for unit in units)


def _on_cpus(facts: dict, cpus: int) -> dict:
    """`facts` on a host with `cpus` CPUs (Debian: a local Redis for several workers)."""
    return {**facts, "hardware.Cpus": cpus}


NOW = "2026-11-25T12:00:00"
APT_STAMP = "/var/lib/apt/periodic/update-success-stamp"
REDIS_CONF = "/etc/redis/wsready.conf"
REDIS_DROP_IN = "/etc/systemd/system/redis-server.service.d/wsready.conf"


def _stat(user: str = "root", group: str = "root", mode: int = 755) -> dict:
    return {"user": user, "group": group, "mode": mode, "size": 1, "mtime": NOW}


def _uploads(results) -> dict[str, str]:
    return {
        command["upload"]: "\n".join(command["lines"]) + "\n"
        for command in fakehost.commands(results)
        if isinstance(command, dict) and "lines" in command
    }


def deployed_facts(data: dict, source: Path = BUNDLED_APP, base: dict = BASE_FACTS) -> dict:
    """Facts of a host where `data` with the app in `source` is fully deployed and running
    (as many workers as `base` gives the host CPUs)."""
    fresh = fakehost.run(deploy_app, base, {**data, "app_source": str(source)})
    uploads = _uploads(fresh)
    workers = [f"{APP}@{index}.service" for index in range(base["hardware.Cpus"])]
    release = app_release.scan(source)
    sha1 = {path: hashlib.sha1(content.encode()).hexdigest() for path, content in uploads.items()}
    directories = {
        path: _stat()
        for path in (APP_DIR, f"{APP_DIR}/releases", f"{APP_DIR}/deps", "/etc/systemd/system")
    }
    directories[f"/etc/{APP}"] = _stat(group="wsready", mode=750)
    directories[f"{APP_DIR}/releases/{release.hash}"] = _stat()
    facts = {
        **base,
        "server.Command": {**base["server.Command"], LISTING: _listing(*workers)},
        "server.Groups": ["root", "wsready"],
        "accounts.SystemUser": {
            "wsready": {
                "home": APP_DIR,
                "shell": "/usr/sbin/nologin",
                "group": "wsready",
                "comment": "wsready app user",  # the marker wsready gives its users
            }
        },
        "files.Directory": directories,
        "files.File": {
            f"{APP_DIR}/deps/{release.deps_hash}/.installed": _stat(mode=644),
            ENV_FILE: _stat(user="wsready", group="wsready", mode=600),
            UNIT_FILE: _stat(mode=644),
            TARGET_FILE: _stat(mode=644),
        },
        "files.Sha1File": {path: sha1[path] for path in (ENV_FILE, UNIT_FILE, TARGET_FILE)},
        "files.Link": {f"{APP_DIR}/current": {"link_target": f"releases/{release.hash}"}},
        "files.FileContents": {MARKER: [RUNTIME]},
        "systemd.SystemdStatus": {"*": {**dict.fromkeys(workers, True), TARGET: True}},
        "systemd.SystemdEnabled": {"*": {**dict.fromkeys(workers, True), TARGET: True}},
    }
    if REDIS_CONF in uploads:  # several workers: the local Redis is installed and running
        facts["files.File"].update({REDIS_CONF: _stat(group="redis", mode=640)})
        facts["files.File"].update({REDIS_DROP_IN: _stat(mode=644), APT_STAMP: _stat(mode=644)})
        facts["files.Sha1File"].update({path: sha1[path] for path in (REDIS_CONF, REDIS_DROP_IN)})
        directories["/etc/redis"] = _stat(group="redis")
        directories[str(Path(REDIS_DROP_IN).parent)] = _stat()
        facts["deb.DebPackages"] = {"redis-server": ["5:7.0.15-1"]}
        facts["server.Date"] = NOW  # apt's lists are fresh (cache_time): no apt-get update
        for name in ("systemd.SystemdStatus", "systemd.SystemdEnabled"):
            facts[name]["*"]["redis-server.service"] = True
    return facts


@pytest.fixture
def app_copy(tmp_path: Path) -> Path:
    """A copy of the bundled app (without node_modules) that a test may edit."""
    copy = tmp_path / "app"
    shutil.copytree(BUNDLED_APP, copy, ignore=shutil.ignore_patterns("node_modules"))
    return copy


def test_fresh_host_gets_user_release_dependencies_env_unit_and_start() -> None:
    results = fakehost.run(deploy_app, BASE_FACTS, DATA)
    release = app_release.scan(BUNDLED_APP)
    names = fakehost.changed(results)
    prefix = "Deploy the Socket.IO app | "
    assert [name.removeprefix(prefix) for name in names] == [
        "Create the system group wsready.",
        "Create the system user wsready (no login shell).",
        f"Create the directory {APP_DIR}.",
        f"Create the directory {APP_DIR}/releases.",
        f"Create the directory {APP_DIR}/deps.",
        f"Upload release {release.hash} ({len(release.files)} files) and unpack it.",
        f"Install dependencies {release.deps_hash} with npm ci --omit=dev.",
        f"Switch {APP_DIR}/current to release {release.hash}.",
        f"Create /etc/{APP} (readable by wsready only).",
        f"Write the app environment file {ENV_FILE} (0600).",
        f"Install the systemd template unit {APP}@.service (one instance per worker).",
        f"Install {TARGET} (1 worker(s)).",
        "Record the Node.js runtime the service runs.",
        "Reload systemd (the units changed).",
        f"Restart the {APP} workers one at a time (release, unit, environment or Node.js changed).",
        f"Keep {WORKER0} running and enabled at boot.",
        f"Enable {TARGET} at boot.",
    ]
    # Nothing to retire on a fresh host, and each operation says why.
    noops = {result.name.removeprefix(prefix): result.noops for result in results}
    assert noops[f"Stop and remove the single-process unit {LEGACY} of older deploys."] == [
        f"{LEGACY_FILE} is not on the host"
    ]
    assert noops[f"Stop workers beyond {APP}@0."] == [f"no {APP} worker beyond 0 is loaded"]
    assert noops["Remove releases older than the newest 3."] == [
        f"0 release(s) in {APP_DIR}/releases, none to remove"
    ]
    commands = fakehost.commands(results)
    assert (
        "useradd -d /opt/wsready-app -s /usr/sbin/nologin -g wsready -r -c 'wsready app user' "
        "-M wsready"
    ) in commands
    npm = next(c for c in commands if isinstance(c, str) and "npm ci" in c)
    # npm (and every install script) runs as the app's user, with a copy of npm's config.
    assert "runuser -u wsready -- " in npm
    assert "npm ci --omit=dev --no-audit --no-fund" in npm
    assert "cp /etc/wsready/npmrc " in npm
    switch = next(c for c in commands if isinstance(c, str) and "mv -T" in c and "current" in c)
    assert switch.endswith(
        f"ln -sfn releases/{release.hash} {APP_DIR}/.current.new"
        f" && mv -T {APP_DIR}/.current.new {APP_DIR}/current"
    )
    # `current` and the running units are recorded first (absent on a fresh host: a rollback
    # removes the link again).
    assert switch.startswith(f"{saved(APP_DIR + '/current')} && {UNITS} && touch ")
    # The switch comes after npm ci: a failed install leaves the old release serving.
    assert commands.index(npm) < commands.index(switch)
    assert "chmod 600 /etc/wsready-app/env" in commands
    assert "chown wsready:wsready /etc/wsready-app/env" in commands
    # Every live file is recorded before it is written; a new one gets its mode first.
    modes = {ENV_FILE: "600", UNIT_FILE: "644", TARGET_FILE: "644"}
    for path, mode in modes.items():
        upload = next(i for i, c in enumerate(commands) if isinstance(c, dict)
                      and c["upload"] == path)  # fmt: skip
        assert commands[upload - 2 : upload] == [saved(path), f"install -m {mode} /dev/null {path}"]
    # One restart command for every worker, after daemon-reload; then each instance and the
    # target are kept running and enabled.
    assert commands[commands.index("systemctl daemon-reload") :] == [
        "systemctl daemon-reload",
        restart(WORKER0),
        f"systemctl start {WORKER0}",
        f"systemctl enable {WORKER0}",
        f"systemctl enable {TARGET}",  # enabled only: its workers run already
    ]
    assert not any("redis" in str(command) for command in commands)  # one worker: no Redis


def test_two_cpus_get_two_workers_one_restart_and_a_local_redis() -> None:
    results = fakehost.run(deploy_app, _on_cpus(BASE_FACTS, 2), DATA)
    commands = fakehost.commands(results)
    names = [name.rsplit(" | ", 1)[1] for name in fakehost.changed(results)]
    assert names[names.index(f"Install {TARGET} (2 worker(s)).") :] == [
        f"Install {TARGET} (2 worker(s)).",
        "Record the Node.js runtime the service runs.",
        "Reload systemd (the units changed).",
        f"Restart the {APP} workers one at a time (release, unit, environment or Node.js changed).",
        f"Keep {WORKER0} running and enabled at boot.",
        f"Keep {WORKER1} running and enabled at boot.",
        f"Enable {TARGET} at boot.",
    ]
    assert [c for c in commands if isinstance(c, str) and "systemctl restart" in c] == [
        restart(WORKER0, WORKER1)
    ]
    # Asked for: every worker restarted at once (the benchmark's baseline).
    at_once = fakehost.run(deploy_app, _on_cpus(BASE_FACTS, 2), {**DATA, "app_restart": "all"})
    assert [c for c in fakehost.commands(at_once) if isinstance(c, str) and "restart" in c] == [
        f"{UNITS} && systemctl restart {WORKER0} {WORKER1}; true"
    ]
    assert any("workers all at once" in name for name in fakehost.changed(at_once)), (
        fakehost.changed(at_once)
    )
    # The local Redis comes before the environment file that points the workers at it.
    redis = commands.index("systemctl enable redis-server.service")
    env = next(i for i, c in enumerate(commands) if isinstance(c, dict) and c["upload"] == ENV_FILE)
    assert redis < env
    uploads = _uploads(results)
    assert 'REDIS_URL="unix:///run/redis/redis-server.sock"' in uploads[ENV_FILE].splitlines()
    assert "port 0" in uploads["/etc/redis/wsready.conf"].splitlines()
    unit = uploads[UNIT_FILE].splitlines()
    assert "SupplementaryGroups=redis" in unit
    assert "After=network-online.target redis-server.service" in unit
    assert "Wants=wsready-app@0.service wsready-app@1.service" in uploads[TARGET_FILE]


def test_generations_restart_nothing_here_and_the_target_names_no_instance() -> None:
    """app_restart "generations": tasks/generations.py starts the new generation after nginx's
    new config is active; deploy_app only lays the files down (the running workers keep
    what they loaded), and retiring spares the second generation's instances."""
    data = {**DATA, "app_restart": "generations"}
    results = fakehost.run(deploy_app, _on_cpus(BASE_FACTS, 2), data)
    commands = [c for c in fakehost.commands(results) if isinstance(c, str) and APP in c]
    names = [name.rsplit(" | ", 1)[1] for name in fakehost.changed(results)]
    assert not [c for c in commands if "systemctl restart" in c or "systemctl start" in c]
    assert not [n for n in names if APP in n and n.startswith(("Keep ", "Restart "))], names
    target = _uploads(results)[TARGET_FILE]
    assert "Wants=" not in target and "2 Socket.IO worker(s)" in target
    # At boot the target starts the serving slot's enabled instances: it is enabled too.
    assert f"Enable {APP}.target at boot." in names, names


def test_several_workers_without_apt_get_are_refused_before_any_change() -> None:
    facts = {**BASE_FACTS, **fakehost.AMAZON2023, "hardware.Cpus": 2}  # no apt-get
    with pytest.raises(DeployError, match="app_workers = 1, app_redis_url, or add a `redis`"):
        fakehost.run(deploy_app, facts, DATA)
    # One worker needs no Redis: the same host deploys.
    assert fakehost.changed(fakehost.run(deploy_app, facts, {**DATA, "app_workers": 1}))


def test_app_workers_overrides_the_cpu_count() -> None:
    results = fakehost.run(deploy_app, _on_cpus(BASE_FACTS, 8), {**DATA, "app_workers": 2})
    commands = fakehost.commands(results)
    assert restart(WORKER0, WORKER1) in commands
    assert 'APP_WORKERS="2"' in _uploads(results)[ENV_FILE].splitlines()


def test_unit_file_content() -> None:
    uploads = _uploads(fakehost.run(deploy_app, BASE_FACTS, {**DATA, "app_limit_nofile": 20000}))
    unit = uploads[UNIT_FILE].splitlines()
    for line in (
        "User=wsready",
        "Group=wsready",
        "WorkingDirectory=/opt/wsready-app/current",
        "EnvironmentFile=/etc/wsready-app/env",
        "Environment=APP_WORKER=%i",  # the instance is the worker index
        "ExecStart=node server.js",
        "Restart=always",
        "RestartSec=1",
        "LimitNOFILE=20000",
        "SyslogIdentifier=wsready-app@%i",
        "PartOf=wsready-app.target",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "WantedBy=wsready-app.target",
    ):
        assert line in unit
    assert not any(line.startswith("MemoryDenyWriteExecute") for line in unit)
    assert not any(line.startswith("SupplementaryGroups") for line in unit)  # no local Redis
    assert "After=network-online.target" in unit
    target = uploads[TARGET_FILE].splitlines()
    assert "Wants=wsready-app@0.service" in target
    assert "WantedBy=multi-user.target" in target  # the target starts the workers at boot


def test_env_file_content_and_secret_only_there() -> None:
    data = {**DATA, "proxy_url": "http://10.0.0.1:3128", "app_env": {"FEATURE_X": "on"}}
    results = fakehost.run(deploy_app, BASE_FACTS, data)
    env = _uploads(results)[ENV_FILE].splitlines()
    assert f'JWT_SECRET="{SECRET}"' in env
    for line in (
        'APP_PORT="3000"',
        'APP_BIND="127.0.0.1"',
        'WS_PATH="/ws"',
        'APP_AUTH="jwt"',
        'JWT_AUDIENCE="wsready"',
        'HTTPS_PROXY="http://10.0.0.1:3128"',
        'NO_PROXY="localhost,127.0.0.1,::1"',
        'FEATURE_X="on"',
        f'APP_VERSION="{app_release.scan(BUNDLED_APP).hash}"',
        'APP_WORKERS="1"',
        'APP_MAX_CLIENTS="20000"',
        'APP_LOG_CONNECTIONS="0"',
        'MAX_HTTP_BUFFER_SIZE="1000000"',
        'LISTEN_BACKLOG="4096"',
        'REDIS_URL=""',  # one worker, no redis group, no app_redis_url: no adapter
        'REDIS_PASSWORD=""',
    ):
        assert line in env
    assert not any(line.startswith("APP_WORKER=") for line in env)  # the unit sets it
    # The secret is in the uploaded content only: no command line, no operation name.
    for result in results:
        assert SECRET not in result.name
        for command in result.commands:
            if isinstance(command, str):
                assert SECRET not in command


REDIS_SECRET = "redis-password-for-operation-tests-0123456789"


def _no_secret_outside_uploads(results, secret: str) -> None:
    for result in results:
        assert secret not in result.name
        for command in result.commands:
            if isinstance(command, str):
                assert secret not in command


def test_env_file_points_at_an_explicit_redis_url() -> None:
    data = {**DATA, "app_redis_url": "redis://10.0.9.9:6380/2", "redis_password": REDIS_SECRET}
    results = fakehost.run(deploy_app, _on_cpus(BASE_FACTS, 2), data)
    env = _uploads(results)[ENV_FILE].splitlines()
    assert 'REDIS_URL="redis://10.0.9.9:6380/2"' in env
    assert f'REDIS_PASSWORD="{REDIS_SECRET}"' in env
    assert not any("redis-server" in str(c) for c in fakehost.commands(results))  # no local one
    _no_secret_outside_uploads(results, REDIS_SECRET)


def test_env_file_points_at_the_redis_group_host() -> None:
    redis_data = {
        "ssh_hostname": "203.0.113.50",
        "private_address": "10.0.1.50",
        "redis_password": REDIS_SECRET,
    }
    results = fakehost.run(
        deploy_app,
        _on_cpus(BASE_FACTS, 2),
        DATA,
        others=[("redis1", redis_data)],
        groups={"redis": (["redis1"], {})},
    )
    env = _uploads(results)[ENV_FILE].splitlines()
    assert 'REDIS_URL="redis://10.0.1.50:6379"' in env
    assert f'REDIS_PASSWORD="{REDIS_SECRET}"' in env
    assert not any("redis-server" in str(c) for c in fakehost.commands(results))
    assert "SupplementaryGroups=redis" not in _uploads(results)[UNIT_FILE]
    _no_secret_outside_uploads(results, REDIS_SECRET)


def test_nothing_changed_means_no_commands_and_no_restart() -> None:
    results = fakehost.run(deploy_app, deployed_facts(DATA), DATA)
    assert fakehost.changed(results) == []
    assert fakehost.commands(results) == []


def test_two_workers_converged_run_nothing() -> None:
    facts = deployed_facts(DATA, base=_on_cpus(BASE_FACTS, 2))
    assert fakehost.commands(fakehost.run(deploy_app, facts, DATA)) == []


def test_env_change_restarts_without_daemon_reload() -> None:
    facts = deployed_facts(DATA)
    results = fakehost.run(deploy_app, facts, {**DATA, "app_jwt_audience": "other"})
    assert [name.rsplit(" | ", 1)[1] for name in fakehost.changed(results)] == [
        f"Write the app environment file {ENV_FILE} (0600).",
        f"Restart the {APP} workers one at a time (release, unit, environment or Node.js changed).",
    ]
    restarted = next(r for r in results if r.name == RESTART)
    assert restarted.commands == [restart(WORKER0)]
    written = next(r for r in results if "environment file" in r.name)
    assert written.commands[0] == saved(ENV_FILE)  # recorded before the upload


def test_unit_change_reloads_systemd_and_restarts() -> None:
    facts = deployed_facts(DATA)
    results = fakehost.run(deploy_app, facts, {**DATA, "app_limit_nofile": 4096})
    changed = fakehost.changed(results)
    assert [name.rsplit(" | ", 1)[1] for name in changed] == [
        # APP_CONFIG_FINGERPRINT covers the units: the environment file changes with them.
        f"Write the app environment file {ENV_FILE} (0600).",
        f"Install the systemd template unit {APP}@.service (one instance per worker).",
        "Reload systemd (the units changed).",
        f"Restart the {APP} workers one at a time (release, unit, environment or Node.js changed).",
    ]
    assert fakehost.commands(results)[-2:] == ["systemctl daemon-reload", restart(WORKER0)]


def test_more_cpus_add_a_worker_fewer_retire_the_extra_ones() -> None:
    """2 -> 3 workers: target and environment change, all three restart; 3 -> 2: worker 2
    is stopped and disabled, the other two restart with APP_WORKERS=2."""
    facts = deployed_facts(DATA, base=_on_cpus(BASE_FACTS, 2))
    grown = fakehost.run(deploy_app, {**facts, "hardware.Cpus": 3}, DATA)
    commands = fakehost.commands(grown)
    assert restart(WORKER0, WORKER1, f"{APP}@2.service") in commands
    assert "systemctl daemon-reload" in commands  # the target changed
    assert not any("disable --now" in str(c) for c in commands)

    facts = deployed_facts(DATA, base=_on_cpus(BASE_FACTS, 3))
    shrunk = fakehost.run(deploy_app, {**facts, "hardware.Cpus": 2}, DATA)
    commands = fakehost.commands(shrunk)
    retire = f"systemctl disable --now {APP}@2.service"
    reload = commands.index("systemctl daemon-reload")
    assert commands.index(retire) < reload < commands.index(restart(WORKER0, WORKER1))
    # The running units are noted before worker 2 stops, so a rollback restarts it.
    assert commands[commands.index(retire) - 2 : commands.index(retire)] == [
        UNITS,
        transaction.save_command([], "app"),
    ]
    assert not any(isinstance(c, str) and "redis" in c for c in commands)  # still installed
    assert 'APP_WORKERS="2"' in _uploads(shrunk)[ENV_FILE].splitlines()


def test_a_host_of_older_deploys_loses_its_single_unit_before_the_workers_start() -> None:
    facts = deployed_facts(DATA)
    del facts["files.File"][UNIT_FILE], facts["files.File"][TARGET_FILE]
    facts["files.File"][LEGACY_FILE] = _stat(mode=644)
    results = fakehost.run(deploy_app, facts, DATA)
    commands = fakehost.commands(results)
    retire = f"systemctl disable --now {LEGACY} && rm -f {LEGACY_FILE}"
    assert retire in commands
    # Recorded first (units running, the unit file), so a rollback brings it back.
    assert commands[commands.index(retire) - 2 : commands.index(retire)] == [
        UNITS,
        saved(LEGACY_FILE),
    ]
    # Worker 0 takes the port the old unit held: stop it first, reload, then restart.
    assert commands.index(retire) < commands.index("systemctl daemon-reload")
    assert commands.index("systemctl daemon-reload") < commands.index(restart(WORKER0))


def test_code_change_reuses_dependencies(app_copy: Path) -> None:
    facts = deployed_facts(DATA, app_copy)
    (app_copy / "server.js").write_text((app_copy / "server.js").read_text() + "// change\n")
    new = app_release.scan(app_copy)
    results = fakehost.run(deploy_app, facts, {**DATA, "app_source": str(app_copy)})
    changed = [name.rsplit(" | ", 1)[1] for name in fakehost.changed(results)]
    assert changed == [
        f"Upload release {new.hash} ({len(new.files)} files) and unpack it.",
        f"Switch {APP_DIR}/current to release {new.hash}.",
        f"Write the app environment file {ENV_FILE} (0600).",  # APP_VERSION
        f"Restart the {APP} workers one at a time (release, unit, environment or Node.js changed).",
    ]
    assert restart(WORKER0) in fakehost.commands(results)
    assert not any("npm ci" in str(c) for c in fakehost.commands(results))
    # The switch records `current` and the running units in the run's transaction first.
    switch = next(c for c in fakehost.commands(results) if "mv -T" in str(c) and "current" in c)
    assert switch == (
        f"{saved(APP_DIR + '/current')} && {UNITS} && touch {APP_DIR}/releases/{new.hash}"
        f" && ln -sfn releases/{new.hash} {APP_DIR}/.current.new"
        f" && mv -T {APP_DIR}/.current.new {APP_DIR}/current"
    )


def test_lock_change_runs_npm_ci(app_copy: Path) -> None:
    facts = deployed_facts(DATA, app_copy)
    lock = app_copy / "package-lock.json"
    lock.write_text(lock.read_text().replace('"version": "1.0.0"', '"version": "1.0.1"', 1))
    new = app_release.scan(app_copy)
    results = fakehost.run(deploy_app, facts, {**DATA, "app_source": str(app_copy)})
    npm = [c for c in fakehost.commands(results) if "npm ci" in str(c)]
    assert len(npm) == 1 and f"cd {APP_DIR}/deps && if [ -e {new.deps_hash}/.installed ]" in npm[0]
    assert npm[0].startswith(f"flock -w 900 -E 75 {APP_DIR}/.install.lock sh -c ")
    assert f"mv -T .tmp-{new.deps_hash}-" in npm[0]  # renamed into place only after npm ci
    assert RESTART in fakehost.changed(results)


def test_service_down_but_unchanged_is_started_not_restarted() -> None:
    facts = deployed_facts(DATA)
    facts["systemd.SystemdStatus"]["*"][WORKER0] = False
    results = fakehost.run(deploy_app, facts, DATA)
    assert fakehost.commands(results) == [f"systemctl start {WORKER0}"]
    assert fakehost.changed(results) == [
        f"Deploy the Socket.IO app | Keep {WORKER0} running and enabled at boot."
    ]


def test_new_node_runtime_restarts_the_service() -> None:
    facts = deployed_facts(DATA)
    facts["server.Command"] = {**facts["server.Command"], NODE_LOOKUP: "/usr/bin/node-22 v22.12.0"}
    results = fakehost.run(deploy_app, facts, DATA)
    assert fakehost.commands(results) == [
        f"{transaction.save_command([MARKER], 'app')} && "
        f"echo '/usr/bin/node-22 v22.12.0' > {MARKER}",
        restart(WORKER0),
    ]
