"""
Manage the app's immutable releases: ``app_dir/releases/<hash>`` linked to a dependency tree
``app_dir/deps/<deps-hash>`` (see tasks/app.py for the whole layout).
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.files import Directory, Link
from pyinfra.operations import files

from wsready.deploy.facts.release import ReleaseTree

KEEP_RELEASES = 3
_LEFTOVERS = (".partial", ".tar.gz")  # what an interrupted upload or unpack leaves behind


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
