"""tasks.app.deploy_app at operation level: what runs on a fresh host, on a host that is
already up to date (nothing, in particular no restart), and after each kind of change."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import fakehost
import pytest

from tasks.app import BUNDLED_APP, deploy_app
from wsready import app_release

SECRET = "jwt-secret-for-operation-tests-0123456789abcdef"
DATA = {"app_auth": "jwt", "app_jwt_secret": SECRET, "app_jwt_audience": "wsready"}
APP = "wsready-app"
SERVICE = f"{APP}.service"
APP_DIR = "/opt/wsready-app"
ENV_FILE = f"/etc/{APP}/env"
UNIT_FILE = f"/etc/systemd/system/{SERVICE}"
RESTART = (
    f"Deploy the Socket.IO app | Restart {APP} (release, unit, environment or Node.js changed)."
)
RELOAD = "Deploy the Socket.IO app | Reload systemd (the unit changed)."

RUNTIME = "/opt/nodejs/22.23.3/bin/node v22.23.3"
MARKER = f"/etc/{APP}/node-runtime"
BASE_FACTS = {
    "server.LinuxDistribution": {"name": "Debian", "major": 12, "minor": None},
    "server.Os": "Linux",
    "server.Which": {"useradd": "/usr/sbin/useradd", "usermod": "/usr/sbin/usermod"},
    "server.Command": {"*": RUNTIME},
}


def _stat(user: str = "root", group: str = "root", mode: int = 755) -> dict:
    return {"user": user, "group": group, "mode": mode, "size": 1}


def _uploads(results) -> dict[str, str]:
    return {
        command["upload"]: "\n".join(command["lines"]) + "\n"
        for command in fakehost.commands(results)
        if isinstance(command, dict) and "lines" in command
    }


def deployed_facts(data: dict, source: Path = BUNDLED_APP) -> dict:
    """Facts of a host where `data` with the app in `source` is fully deployed and running."""
    fresh = fakehost.run(deploy_app, BASE_FACTS, {**data, "app_source": str(source)})
    uploads = _uploads(fresh)
    release = app_release.scan(source)
    sha1 = {path: hashlib.sha1(content.encode()).hexdigest() for path, content in uploads.items()}
    directories = {
        path: _stat()
        for path in (APP_DIR, f"{APP_DIR}/releases", f"{APP_DIR}/deps", "/etc/systemd/system")
    }
    directories[f"/etc/{APP}"] = _stat(group="wsready", mode=750)
    directories[f"{APP_DIR}/releases/{release.hash}"] = _stat()
    return {
        **BASE_FACTS,
        "server.Groups": ["root", "wsready"],
        "server.Users": {
            "wsready": {
                "home": APP_DIR,
                "shell": "/usr/sbin/nologin",
                "group": "wsready",
                "groups": [],
                "comment": None,
            }
        },
        "files.Directory": directories,
        "files.File": {
            f"{APP_DIR}/deps/{release.deps_hash}/.installed": _stat(mode=644),
            ENV_FILE: _stat(user="wsready", group="wsready", mode=600),
            UNIT_FILE: _stat(mode=644),
        },
        "files.Sha1File": {ENV_FILE: sha1[ENV_FILE], UNIT_FILE: sha1[UNIT_FILE]},
        "files.Link": {f"{APP_DIR}/current": {"link_target": f"releases/{release.hash}"}},
        "files.FileContents": {MARKER: [RUNTIME]},
        "systemd.SystemdStatus": {"*": {SERVICE: True}},
        "systemd.SystemdEnabled": {"*": {SERVICE: True}},
    }


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
        f"Upload release {release.hash} ({len(release.files)} files).",
        f"Unpack release {release.hash}.",
        f"Install dependencies {release.deps_hash} with npm ci --omit=dev.",
        f"Switch {APP_DIR}/current to release {release.hash}.",
        "Remove releases older than the newest 3.",
        f"Create /etc/{APP} (readable by wsready only).",
        f"Write the app environment file {ENV_FILE} (0600).",
        f"Install the systemd unit {SERVICE}.",
        "Record the Node.js runtime the service runs.",
        "Reload systemd (the unit changed).",
        f"Restart {APP} (release, unit, environment or Node.js changed).",
        f"Keep {APP} running and enabled at boot.",
    ]
    commands = fakehost.commands(results)
    assert "useradd -d /opt/wsready-app -s /usr/sbin/nologin -g wsready -r -M wsready" in commands
    npm = next(c for c in commands if isinstance(c, str) and "npm ci" in c)
    assert "npm ci --omit=dev --no-audit --no-fund --globalconfig /etc/wsready/npmrc" in npm
    switch = next(c for c in commands if isinstance(c, str) and "mv -T" in c and "current" in c)
    assert switch.endswith(
        f"ln -sfn releases/{release.hash} {APP_DIR}/.current.new"
        f" && mv -T {APP_DIR}/.current.new {APP_DIR}/current"
    )
    assert switch.startswith("touch ")  # a fresh host: nothing to keep for a rollback
    # The switch comes after npm ci: a failed install leaves the old release serving.
    assert commands.index(npm) < commands.index(switch)
    assert "chmod 600 /etc/wsready-app/env" in commands
    assert "chown wsready:wsready /etc/wsready-app/env" in commands


def test_unit_file_content() -> None:
    unit = _uploads(fakehost.run(deploy_app, BASE_FACTS, {**DATA, "app_limit_nofile": 20000}))[
        UNIT_FILE
    ].splitlines()
    for line in (
        "User=wsready",
        "WorkingDirectory=/opt/wsready-app/current",
        "EnvironmentFile=/etc/wsready-app/env",
        "ExecStart=node server.js",
        "Restart=always",
        "RestartSec=1",
        "LimitNOFILE=20000",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "WantedBy=multi-user.target",
    ):
        assert line in unit
    assert not any(line.startswith("MemoryDenyWriteExecute") for line in unit)


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
    ):
        assert line in env
    # The secret is in the uploaded content only: no command line, no operation name.
    for result in results:
        assert SECRET not in result.name
        for command in result.commands:
            if isinstance(command, str):
                assert SECRET not in command


def test_nothing_changed_means_no_commands_and_no_restart() -> None:
    results = fakehost.run(deploy_app, deployed_facts(DATA), DATA)
    assert fakehost.changed(results) == []
    assert fakehost.commands(results) == []


def test_env_change_restarts_without_daemon_reload() -> None:
    facts = deployed_facts(DATA)
    results = fakehost.run(deploy_app, facts, {**DATA, "app_jwt_audience": "other"})
    assert [name.rsplit(" | ", 1)[1] for name in fakehost.changed(results)] == [
        f"Write the app environment file {ENV_FILE} (0600).",
        f"Restart {APP} (release, unit, environment or Node.js changed).",
    ]
    restart = next(r for r in results if r.name == RESTART)
    assert restart.commands == [f"systemctl restart {SERVICE}"]


def test_unit_change_reloads_systemd_and_restarts() -> None:
    facts = deployed_facts(DATA)
    results = fakehost.run(deploy_app, facts, {**DATA, "app_limit_nofile": 4096})
    changed = fakehost.changed(results)
    assert RELOAD in changed and RESTART in changed
    assert len(changed) == 3  # unit, daemon-reload, restart


def test_code_change_reuses_dependencies(app_copy: Path) -> None:
    facts = deployed_facts(DATA, app_copy)
    (app_copy / "server.js").write_text((app_copy / "server.js").read_text() + "// change\n")
    new = app_release.scan(app_copy)
    results = fakehost.run(deploy_app, facts, {**DATA, "app_source": str(app_copy)})
    changed = [name.rsplit(" | ", 1)[1] for name in fakehost.changed(results)]
    assert changed == [
        f"Upload release {new.hash} ({len(new.files)} files).",
        f"Unpack release {new.hash}.",
        f"Switch {APP_DIR}/current to release {new.hash}.",
        "Remove releases older than the newest 3.",
        f"Write the app environment file {ENV_FILE} (0600).",  # APP_VERSION
        f"Restart {APP} (release, unit, environment or Node.js changed).",
    ]
    assert not any("npm ci" in str(c) for c in fakehost.commands(results))
    # The switch keeps what the previous release ran with, for a rollback.
    switch = next(c for c in fakehost.commands(results) if "mv -T" in str(c) and "current" in c)
    assert switch.startswith(
        f"rm -rf /etc/{APP}/rollback && mkdir -p -m 0700 /etc/{APP}/rollback"
        f" && {{ [ ! -e {ENV_FILE} ] || cp -p {ENV_FILE} /etc/{APP}/rollback/; }}"
        f" && {{ [ ! -e {UNIT_FILE} ] || cp -p {UNIT_FILE} /etc/{APP}/rollback/; }}"
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
    facts["systemd.SystemdStatus"] = {"*": {SERVICE: False}}
    results = fakehost.run(deploy_app, facts, DATA)
    assert fakehost.commands(results) == [f"systemctl start {SERVICE}"]
    assert fakehost.changed(results) == [
        f"Deploy the Socket.IO app | Keep {APP} running and enabled at boot."
    ]


def test_new_node_runtime_restarts_the_service() -> None:
    facts = deployed_facts(DATA)
    facts["server.Command"] = {"*": "/usr/bin/node-22 v22.12.0"}
    results = fakehost.run(deploy_app, facts, DATA)
    assert fakehost.commands(results) == [
        f"echo '/usr/bin/node-22 v22.12.0' > {MARKER}",
        f"systemctl restart {SERVICE}",
    ]
