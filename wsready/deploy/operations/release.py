"""
Manage the app's immutable releases: ``app_dir/releases/<hash>`` linked to a dependency tree
``app_dir/deps/<deps-hash>`` (see tasks/app.py for the whole layout).
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.files import Directory, File, Link
from pyinfra.operations import files

from wsready.deploy.facts.release import ReleaseTree
from wsready.deploy.transaction import save_command, units_command

KEEP_RELEASES = 3
INSTALL_LOCK_WAIT_S = 900  # how long an install waits for one left running by a killed deploy
# CA bundles handed to npm through NODE_EXTRA_CA_CERTS (official Node builds ignore the
# system store; proxies that inspect TLS add their CA there).
SYSTEM_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
_LEFTOVERS = (".partial", ".tar.gz")  # what an interrupted upload or unpack leaves behind
# What npm leaves in the install tree besides node_modules (removed before it goes live).
NPM_SCRATCH = (".npm-cache", ".npm-home", ".npm-globalconfig")


def _q(value: str) -> str:
    return shlex.quote(value)


@operation()
def unpack(src: str, release_dir: str, deps_dir: str):
    """
    Upload the release archive ``src`` and unpack it into ``release_dir``, unless that
    directory exists (a release never changes once unpacked).

    + src: local path of the release archive (``.tar.gz``)
    + release_dir: where the release lives on the host (``app_dir/releases/<hash>``)
    + deps_dir: its dependency tree: ``release_dir/node_modules`` links to
      ``deps_dir/node_modules``

    The archive lands next to ``release_dir`` (0600), is unpacked into ``<release_dir>.partial``
    and renamed onto ``release_dir`` only when complete, then removed.

    **Example:**

    .. code:: python

        release.unpack(
            name="Upload release 3f2a9c1e7b0d4a55 and unpack it.",
            src="/tmp/3f2a9c1e7b0d4a55.tar.gz",
            release_dir="/opt/wsready-app/releases/3f2a9c1e7b0d4a55",
            deps_dir="/opt/wsready-app/deps/9c1e0b7d2a6f4e31",
        )
    """
    if host.get_fact(Directory, path=release_dir):
        host.noop(f"release {release_dir} already exists")
        return
    archive = f"{release_dir}.tar.gz"
    partial = f"{release_dir}.partial"
    yield from files.put._inner(src=src, dest=archive, mode="0600")
    yield (
        f"rm -rf {_q(partial)} && mkdir -p {_q(partial)}"
        f" && tar -xzmf {_q(archive)} -C {_q(partial)} --no-same-owner"
        f" && ln -sfn {_q(deps_dir + '/node_modules')} {_q(partial + '/node_modules')}"
        f" && mv -T {_q(partial)} {_q(release_dir)} && rm -f {_q(archive)}"
    )


def install_command(
    release_dir: str, deps_dir: str, has_npmrc: bool, npm_config: str, user: str
) -> str:
    """Shell: under an exclusive lock on `app_dir/.install.lock`, `npm ci --omit=dev` into a
    temporary directory next to `deps_dir`, renamed onto it only after npm succeeded.

    npm runs as `user` (the app's own user, `runuser`), in a temporary tree that user owns,
    with its cache and npm's global config (a copy of `npm_config`, root's 0600 file) inside
    it: the install scripts of the app and its dependencies (`preinstall`, `postinstall`,
    node-gyp builds) get the app's rights, never root's. The finished tree is then given to
    root, group and others' write bits taken off, before it is renamed into place, so the
    service reads but cannot change it.

    A deploy killed during `npm ci` leaves npm running on the host, holding the lock: the next
    install waits for it (up to INSTALL_LOCK_WAIT_S), then finds the tree installed or removes
    the leftover temporary directories and installs again. `deps_dir` is never half-written."""
    deps_root, name = deps_dir.rsplit("/", 1)
    lock = f"{deps_root.rsplit('/', 1)[0]}/.install.lock"
    copies = ["package.json", "package-lock.json"] + ([".npmrc"] if has_npmrc else [])
    sources = " ".join(_q(f"{release_dir}/{file}") for file in copies)
    ca = " ".join(
        f"[ -r {path} ] && export NODE_EXTRA_CA_CERTS={path};" for path in SYSTEM_CA_BUNDLES
    )
    work = f'.tmp-{name}-"$$"'
    scratch = " ".join(f"{work}/{entry}" for entry in NPM_SCRATCH)
    install = (
        f"cd {_q(deps_root)}"
        f" && if [ -e {_q(name + '/.installed')} ]; then"
        f" echo 'dependencies {name} were installed by another run'; exit 0; fi"
        f" && rm -rf .tmp-* && mkdir {work} && cp {sources} {work}/"
        f" && {{ [ ! -e {_q(npm_config)} ] || cp {_q(npm_config)} {work}/.npm-globalconfig; }}"
        f" && chown -R {_q(user + ':')} {work}"
        f" && cd {work} && {{ {ca} true; }}"
        f' && runuser -u {_q(user)} -- env HOME="$PWD/.npm-home"'
        f" npm ci --omit=dev --no-audit --no-fund"
        f' --cache "$PWD/.npm-cache" --globalconfig "$PWD/.npm-globalconfig"'
        f" && cd .. && chown -R root:root {work} && chmod -R go-w {work}"
        f" && rm -rf {scratch}"
        f" && touch {work}/.installed && rm -rf {_q(name)} && mv -T {work} {_q(name)}"
    )
    return (
        f"flock -w {INSTALL_LOCK_WAIT_S} -E 75 {_q(lock)} sh -c {_q(install)}"
        f" || {{ status=$?; [ $status -ne 75 ] || echo 'wsready: another npm ci still holds"
        f" {lock} after {INSTALL_LOCK_WAIT_S} s' >&2; exit $status; }}"
    )


@operation()
def dependencies(release_dir: str, deps_dir: str, has_npmrc: bool, npm_config: str, user: str):
    """
    Install the release's dependencies (``npm ci --omit=dev``) into ``deps_dir``, once per
    lock file, as ``user``: releases that differ only in code share the tree.

    + release_dir: the release whose ``package.json`` and ``package-lock.json`` are installed
    + deps_dir: the dependency tree (``app_dir/deps/<deps-hash>``), marked ``.installed``
      when complete
    + has_npmrc: the release carries an ``.npmrc`` (copied along)
    + npm_config: npm's global config on the host (``--globalconfig``: proxy, registry)
    + user: the app's user: npm and every install script run with its rights, not root's

    See ``install_command`` for the lock, the temporary tree and the rename.

    **Example:**

    .. code:: python

        release.dependencies(
            name="Install dependencies 9c1e0b7d2a6f4e31 with npm ci --omit=dev.",
            release_dir="/opt/wsready-app/releases/3f2a9c1e7b0d4a55",
            deps_dir="/opt/wsready-app/deps/9c1e0b7d2a6f4e31",
            has_npmrc=False,
            npm_config="/etc/wsready/npmrc",
            user="wsready",
        )
    """
    marker = f"{deps_dir}/.installed"
    if host.get_fact(File, path=marker):
        host.noop(f"dependencies already installed in {deps_dir}")
        return
    yield install_command(release_dir, deps_dir, has_npmrc, npm_config, user)


def switch_command(app_dir: str, target: str, app_name: str) -> str:
    """Shell: record `app_dir/current` and the app's active units in the run's transaction,
    then point `current` at `target`, atomically (ln -sfn + mv -T)."""
    staged = f"{app_dir}/.current.new"
    return (
        f"{save_command([app_dir + '/current'], 'app')}"
        f" && {units_command(app_name)}"
        f" && touch {_q(app_dir + '/' + target)} && ln -sfn {_q(target)} {_q(staged)}"
        f" && mv -T {_q(staged)} {_q(app_dir + '/current')}"
    )


@operation()
def current(app_dir: str, release: str, app_name: str):
    """
    Point ``app_dir/current`` at ``releases/<release>``, atomically, after recording the
    link and the app's active units in the run's transaction (see ``switch_command``).

    + app_dir: the app's directory
    + release: the release hash to run
    + app_name: the app's systemd name (its active ``<app_name>@*`` units are recorded)

    **Example:**

    .. code:: python

        release.current(
            name="Switch /opt/wsready-app/current to release 3f2a9c1e7b0d4a55.",
            app_dir="/opt/wsready-app",
            release="3f2a9c1e7b0d4a55",
            app_name="wsready-app",
        )
    """
    target = f"releases/{release}"
    link = host.get_fact(Link, path=f"{app_dir}/current")
    if link and link.get("link_target") == target:
        host.noop(f"current already points at {target}")
        return
    yield switch_command(app_dir, target, app_name)


def stale_entries(tree: dict, current: set[str], keep: int) -> tuple[list[str], list[str]]:
    """(release entries, dependency trees) to remove from `tree` (a ReleaseTree): leftovers of
    interrupted uploads, releases whose dependencies never installed, releases beyond the
    `keep` newest (those in `current` always stay), then trees no remaining release uses."""
    entries = tree.get("releases", [])
    installed = tree.get("deps", {})
    leftovers = [entry["name"] for entry in entries if entry["name"].endswith(_LEFTOVERS)]
    releases = [entry for entry in entries if not entry["name"].endswith(_LEFTOVERS)]
    failed = [
        entry["name"]
        for entry in releases
        if entry["name"] not in current and not installed.get(entry["deps"], False)
    ]
    others = [
        entry["name"]
        for entry in releases
        if entry["name"] not in current and entry["name"] not in failed
    ]
    old = others[max(keep - len(current), 0) :]
    removed = set(leftovers + failed + old)
    used = {entry["deps"] for entry in releases if entry["name"] not in removed}
    return leftovers + failed + old, sorted(name for name in installed if name not in used)


@operation()
def prune(app_dir: str, release: str, keep: int = KEEP_RELEASES):
    """
    Keep the ``keep`` newest releases of ``app_dir`` and the dependency trees they use.

    + app_dir: the app's directory (holds ``releases/``, ``deps/`` and ``current``)
    + release: the release just deployed: always kept, as is the one ``current`` points at
    + keep: how many releases stay (counting the kept ones above)

    Removed, besides older releases: leftovers of interrupted uploads (``*.partial``,
    ``*.tar.gz``), releases whose dependencies never finished installing, and dependency
    trees no remaining release links to.

    **Example:**

    .. code:: python

        release.prune(
            name="Remove releases older than the newest 3.",
            app_dir="/opt/wsready-app",
            release="3f2a9c1e7b0d4a55",
        )
    """
    link = host.get_fact(Link, path=f"{app_dir}/current") or {}
    current = {release}
    if link.get("link_target", "").startswith("releases/"):
        current.add(link["link_target"].removeprefix("releases/"))
    tree = host.get_fact(ReleaseTree, app_dir=app_dir) or {}
    releases, deps = stale_entries(tree, current, keep)
    if not releases and not deps:
        count = len(tree.get("releases", []))
        host.noop(f"{count} release(s) in {app_dir}/releases, none to remove")
        return
    paths = [f"{app_dir}/releases/{name}" for name in releases]
    paths += [f"{app_dir}/deps/{name}" for name in deps]
    yield f"rm -rf -- {' '.join(_q(path) for path in paths)}"
