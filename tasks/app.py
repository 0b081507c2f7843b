"""The Node app as a systemd service, deployed as immutable releases.

Layout on the host (`app_dir`):
    releases/<release-hash>/      the app's files, read-only for the service user
        node_modules -> ../../deps/<deps-hash>/node_modules
    deps/<deps-hash>/             package.json + package-lock.json + node_modules (npm ci)
    current -> releases/<hash>    what systemd runs (WorkingDirectory)

A release is uploaded once, as one archive. `npm ci --omit=dev` runs only for a lock file
not seen before; releases that differ only in code share node_modules. `current` is
switched atomically (ln -sfn + mv -T) only after both steps succeeded, so a failed step
leaves the previous release serving. The newest releases are kept (KEEP_RELEASES).

The service restarts only when the release, the unit, the environment file or the Node.js
runtime (binary path and version) changed;
daemon-reload runs only when the unit changed. Secrets travel only inside the environment
file's content (0600), never in a command line or an operation name.
"""

from __future__ import annotations

import atexit
import shlex
import shutil
import tempfile
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.api.command import FileUploadCommand, StringCommand
from pyinfra.api.util import get_file_sha1
from pyinfra.facts.files import Directory, File, FileContents, Link, Sha1File
from pyinfra.facts.server import Command
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from tasks.proxy import NPMRC
from wsready import app_env, app_release, hostdata

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_APP = ROOT / "files" / "app"
UNIT_TEMPLATE = ROOT / "files" / "systemd" / "app.service.j2"
KEEP_RELEASES = 3
# CA bundles handed to npm through NODE_EXTRA_CA_CERTS (official Node builds ignore the
# system store; proxies that inspect TLS add their CA there).
SYSTEM_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


def _q(value: str) -> str:
    return shlex.quote(value)


@operation()
def secret_file(content: str, dest: str, user: str, group: str, mode: str = "600"):
    """Upload `content` to `dest` like files.put, but never show it (`pyinfra --diff` prints
    files.put changes line by line; this content holds secrets)."""
    remote = host.get_fact(File, path=dest)
    if not remote or host.get_fact(Sha1File, path=dest) != get_file_sha1(StringIO(content)):
        yield FileUploadCommand(
            StringIO(content), dest, remote_temp_filename=host.get_temp_filename(dest)
        )
        remote = {}
    if remote.get("user") != user or remote.get("group") != group:
        yield StringCommand("chown", f"{user}:{group}", _q(dest))
    if remote.get("mode") != int(mode):
        yield StringCommand("chmod", mode, _q(dest))
    if remote:
        host.noop(f"{dest} is up to date")


@operation()
def unpack_release(archive: str, release_dir: str, deps_dir: str):
    """Unpack the release archive into `release_dir` (atomically) and link node_modules."""
    if host.get_fact(Directory, path=release_dir):
        host.noop(f"release {release_dir} already exists")
        return
    partial = f"{release_dir}.partial"
    yield (
        f"rm -rf {_q(partial)} && mkdir -p {_q(partial)}"
        f" && tar -xzmf {_q(archive)} -C {_q(partial)} --no-same-owner"
        f" && ln -sfn {_q(deps_dir + '/node_modules')} {_q(partial + '/node_modules')}"
        f" && mv -T {_q(partial)} {_q(release_dir)} && rm -f {_q(archive)}"
    )


@operation()
def install_dependencies(release_dir: str, deps_dir: str, has_npmrc: bool):
    """`npm ci --omit=dev` into `deps_dir` from the release's lock file, once per lock file."""
    marker = f"{deps_dir}/.installed"
    if host.get_fact(File, path=marker):
        host.noop(f"dependencies already installed in {deps_dir}")
        return
    copies = ["package.json", "package-lock.json"] + ([".npmrc"] if has_npmrc else [])
    sources = " ".join(_q(f"{release_dir}/{name}") for name in copies)
    ca = " ".join(
        f"[ -r {path} ] && export NODE_EXTRA_CA_CERTS={path};" for path in SYSTEM_CA_BUNDLES
    )
    yield (
        f"rm -rf {_q(deps_dir)} && mkdir -p {_q(deps_dir)} && cp {sources} {_q(deps_dir)}/"
        f" && cd {_q(deps_dir)} && {{ {ca} true; }}"
        f" && npm ci --omit=dev --no-audit --no-fund --globalconfig {NPMRC}"
        f" && touch {_q(marker)}"
    )


@operation()
def switch_current(app_dir: str, release: str):
    """Point `app_dir/current` at `releases/<release>`, atomically (ln -sfn + mv -T)."""
    target = f"releases/{release}"
    link = host.get_fact(Link, path=f"{app_dir}/current")
    if link and link.get("link_target") == target:
        host.noop(f"current already points at {target}")
        return
    staged = f"{app_dir}/.current.new"
    yield (
        f"touch {_q(app_dir + '/' + target)} && ln -sfn {_q(target)} {_q(staged)}"
        f" && mv -T {_q(staged)} {_q(app_dir + '/current')}"
    )


# systemd's own search path for a bare `ExecStart=node`.
NODE_LOOKUP = (
    'node="$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin command -v node)"'
    ' && echo "$(readlink -f "$node") $("$node" --version)"'
)


@operation()
def record_node_runtime(marker: str):
    """Note which Node.js binary and version the unit runs; a change (an upgrade, another
    nodejs_source) rewrites `marker`, which restarts the service onto the new runtime."""
    runtime = (host.get_fact(Command, command=NODE_LOOKUP) or "").strip()
    recorded = "\n".join(host.get_fact(FileContents, path=marker) or []).strip()
    if recorded == runtime:
        host.noop(f"Node.js runtime unchanged: {runtime}")
        return
    yield f"echo {_q(runtime)} > {_q(marker)}"


def prune_command(app_dir: str, current: str, keep: int = KEEP_RELEASES) -> str:
    """Shell: drop failed releases, keep `current` and the `keep - 1` newest others, then
    remove dependency trees no remaining release links to."""
    releases, deps, cur = _q(f"{app_dir}/releases"), _q(f"{app_dir}/deps"), _q(current)
    return (
        f"cd {releases} && rm -rf -- *.partial *.tar.gz"
        f' && for release in *; do [ "$release" = {cur} ] && continue;'
        ' modules=$(readlink "$release/node_modules");'
        ' [ -e "${modules%/node_modules}/.installed" ] || rm -rf -- "$release"; done'
        f" && ls -1t | grep -vx {cur} | tail -n +{keep} | xargs -r rm -rf --"
        f' && cd {deps} && for tree in *; do [ -e "$tree" ] || continue;'
        f' readlink {releases}/*/node_modules | grep -q "/deps/$tree/"'
        ' || rm -rf -- "$tree"; done'
    )


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
    data = hostdata.with_defaults(host.data.dict())
    name, user = data["app_name"], data["app_user"]
    app_dir = data["app_dir"].rstrip("/")
    env_dir, env_file = f"/etc/{name}", f"/etc/{name}/env"
    release = app_release.scan(data["app_source"] or BUNDLED_APP)
    release_dir = f"{app_dir}/releases/{release.hash}"
    deps_dir = f"{app_dir}/deps/{release.deps_hash}"

    server.group(name=f"Create the system group {user}.", group=user, system=True)
    server.user(
        name=f"Create the system user {user} (no login shell).",
        user=user,
        group=user,
        home=app_dir,
        shell="/usr/sbin/nologin",
        system=True,
        ensure_home=False,
    )
    for path in (app_dir, f"{app_dir}/releases", f"{app_dir}/deps"):
        files.directory(
            name=f"Create the directory {path}.", path=path, user="root", group="root", mode="0755"
        )

    # Upload and install only what the host does not have yet (checked again at execute time).
    if not host.get_fact(Directory, path=release_dir):
        archive = f"{app_dir}/releases/{release.hash}.tar.gz"
        files.put(
            name=f"Upload release {release.hash} ({len(release.files)} files).",
            src=_release_archive(release),
            dest=archive,
            mode="0600",
        )
        unpack_release(
            name=f"Unpack release {release.hash}.",
            archive=archive,
            release_dir=release_dir,
            deps_dir=deps_dir,
        )
    if not host.get_fact(File, path=f"{deps_dir}/.installed"):
        install_dependencies(
            name=f"Install dependencies {release.deps_hash} with npm ci --omit=dev.",
            release_dir=release_dir,
            deps_dir=deps_dir,
            has_npmrc=".npmrc" in release.files,
        )
    switched = switch_current(
        name=f"Switch {app_dir}/current to release {release.hash}.",
        app_dir=app_dir,
        release=release.hash,
    )
    server.shell(
        name=f"Remove releases older than the newest {KEEP_RELEASES}.",
        commands=[prune_command(app_dir, release.hash)],
        _if=switched.did_change,
    )

    files.directory(
        name=f"Create {env_dir} (readable by {user} only).",
        path=env_dir,
        user="root",
        group=user,
        mode="0750",
    )
    env = secret_file(
        name=f"Write the app environment file {env_file} (0600).",
        content=app_env.render_env_file(app_env.app_environment(data, release.hash)),
        dest=env_file,
        user=user,
        group=user,
    )
    unit = files.template(
        name=f"Install the systemd unit {name}.service.",
        src=str(UNIT_TEMPLATE),
        dest=f"/etc/systemd/system/{name}.service",
        mode="0644",
        app_name=name,
        app_user=user,
        app_dir=app_dir,
        app_bind=data["app_bind"],
        app_port=data["app_port"],
        socketio_path=data["app_socketio_path"],
        env_file=env_file,
        entry=release.entry,
        limit_nofile=data["app_limit_nofile"],
    )
    runtime = record_node_runtime(
        name="Record the Node.js runtime the service runs.", marker=f"{env_dir}/node-runtime"
    )
    systemd.daemon_reload(name="Reload systemd (the unit changed).", _if=unit.did_change)
    systemd.service(
        name=f"Restart {name} (release, unit, environment or Node.js changed).",
        service=f"{name}.service",
        running=True,
        restarted=True,
        _if=any_changed(switched, unit, env, runtime),
    )
    systemd.service(
        name=f"Keep {name} running and enabled at boot.",
        service=f"{name}.service",
        running=True,
        enabled=True,
    )
