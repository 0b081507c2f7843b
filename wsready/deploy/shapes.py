"""The operation calls every task makes the same way: a file or a directory owned by root
(rendered text or a local file), and a Debian package installed without its recommends
(apt's index at most a day old)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from pyinfra.operations import apt, files


def put_text(name: str, text: str, dest: str, mode: str = "0644", group: str = "root"):
    """`text` uploaded to `dest`, owned by root (and `group`), with `mode`."""
    return files.put(name=name, src=StringIO(text), dest=dest, user="root", group=group, mode=mode)


def put_file(name: str, src: str | Path, dest: str, mode: str = "0644", group: str = "root"):
    """The local file `src` uploaded to `dest`, owned by root (and `group`), with `mode`."""
    return files.put(name=name, src=str(src), dest=dest, user="root", group=group, mode=mode)


def root_directory(name: str, path: str, mode: str = "0755", group: str = "root"):
    """The directory `path`, owned by root (and `group`), with `mode`."""
    return files.directory(name=name, path=path, user="root", group=group, mode=mode)


def apt_install(name: str, packages: list[str]):
    """`packages` from the distribution, without recommended packages."""
    return apt.packages(
        name=name, packages=packages, no_recommends=True, update=True, cache_time=86400
    )
