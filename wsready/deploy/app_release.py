"""An app release: the files of `app_source`, their content hash and a reproducible archive.

The release hash names the immutable directory `app_dir/releases/<hash>` on the host; the
dependency hash (package-lock.json, plus .npmrc when present) names the `node_modules` tree
shared by every release with the same lock file, so `npm ci` runs only when the lock changes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from wsready.validate import ConfigError

EXCLUDED_DIRS = frozenset({"node_modules", ".git"})
DEPENDENCY_FILES = ("package-lock.json", ".npmrc")
HASH_LENGTH = 12


@dataclass(frozen=True)
class Release:
    source: Path
    files: tuple[str, ...]  # POSIX paths relative to source, sorted
    hash: str  # release directory name
    deps_hash: str  # node_modules directory name
    entry: str  # the script systemd runs with node

    def path(self, relative: str) -> Path:
        return self.source / relative


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o111)


# package.json `main`: a relative path inside the release, '/'-separated segments of
# letters, digits and `._-` (none starting with '.'). It becomes the unit's `ExecStart=node
# <main>`: no space, newline, '%' (a systemd specifier) or quote can get there.
_ENTRY = re.compile(r"(?:\./)?(?:[A-Za-z0-9_-][A-Za-z0-9._-]*/)*[A-Za-z0-9_-][A-Za-z0-9._-]*")
MAX_ENTRY = 255


def _inside(source: Path, full: Path) -> bool:
    """`full` (a symlink) resolves to a path inside `source`."""
    try:
        full.resolve(strict=True).relative_to(source.resolve())
    except (OSError, ValueError, RuntimeError):
        return False
    return True


def _list_files(source: Path, key: str = "app_source") -> tuple[str, ...]:
    """The release's files. A symlink that leaves `source` (or dangles) is refused: it would
    upload what it points at (a key, a password file) with the app."""
    found = []
    for directory, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(name for name in dirnames if name not in EXCLUDED_DIRS)
        for name in dirnames + filenames:
            full = Path(directory) / name
            if full.is_symlink() and not _inside(source, full):
                relative = full.relative_to(source).as_posix()
                raise ConfigError(
                    key,
                    str(source),
                    f"{relative} is a symlink leading out of the app's directory: copy the "
                    "file in, or remove the link",
                )
        for name in filenames:
            full = Path(directory) / name
            if full.is_file():
                found.append(full.relative_to(source).as_posix())
    return tuple(sorted(found))


def entry_point(package: object, files: tuple[str, ...], key: str, source: str) -> str:
    """package.json's `main` (default server.js), checked: a file of the release, by a
    relative path of the strict grammar above."""
    if not isinstance(package, dict):
        raise ConfigError(key, source, "package.json must hold a JSON object")
    entry = package.get("main") or "server.js"
    if (
        not isinstance(entry, str)
        or len(entry) > MAX_ENTRY
        or not _ENTRY.fullmatch(entry)
        or any(part in (".", "..") for part in entry.split("/")[1:])
    ):
        raise ConfigError(
            key,
            source,
            f"package.json main = {str(entry)[:100]!r}: must be a relative path inside the app "
            "such as server.js or dist/main.js ('/'-separated letters, digits and ._-; no "
            "spaces, newlines, '%', quotes or '..')",
        )
    entry = entry.removeprefix("./")
    if entry not in files:
        raise ConfigError(key, source, f"the entry point {entry!r} does not exist")
    return entry


def _entry_point(source: Path, files: tuple[str, ...], key: str) -> str:
    try:
        package = json.loads((source / "package.json").read_text())
    except ValueError as error:
        raise ConfigError(key, str(source), f"package.json is not valid JSON ({error})") from None
    return entry_point(package, files, key, str(source))


def scan(source: Path | str, key: str = "app_source") -> Release:
    """Read `source` (a Node app with package.json and package-lock.json) into a Release."""
    source = Path(source)
    if not source.is_dir():
        raise ConfigError(key, str(source), "must be an existing local directory")
    for required in ("package.json", "package-lock.json"):
        if not (source / required).is_file():
            raise ConfigError(key, str(source), f"has no {required} (npm ci needs both)")
    files = _list_files(source, key)
    digest = hashlib.sha256()
    deps = hashlib.sha256()
    for relative in files:
        full = source / relative
        line = f"{relative}\0{int(_is_executable(full))}\0{_file_digest(full)}\n".encode()
        digest.update(line)
        if relative in DEPENDENCY_FILES:
            deps.update(line)
    return Release(
        source=source,
        files=files,
        hash=digest.hexdigest()[:HASH_LENGTH],
        deps_hash=deps.hexdigest()[:HASH_LENGTH],
        entry=_entry_point(source, files, key),
    )


def archive_bytes(release: Release) -> bytes:
    """A gzipped tar of the release, byte-identical for identical content."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for relative in release.files:
            full = release.path(relative)
            data = full.read_bytes()
            info = tarfile.TarInfo(relative)
            info.size = len(data)
            info.mode = 0o755 if _is_executable(full) else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
