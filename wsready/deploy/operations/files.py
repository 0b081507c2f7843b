"""
Manage files that may hold secrets, recorded in the run's transaction before they change.
"""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import operation
from pyinfra.api.command import FileUploadCommand, StringCommand
from pyinfra.api.util import get_file_sha1
from pyinfra.facts.files import Directory, File, Sha1File

from wsready.deploy.transaction import save_command, save_directories_command


@operation()
def managed_file(
    content: str, dest: str, user: str, group: str, mode: str = "600", action: str | None = None
):
    """
    Upload ``content`` to ``dest`` like files.put, but never show it: ``pyinfra --diff``
    prints files.put changes line by line, and these files may hold secrets.

    + content: the file's text
    + dest: the file on the host
    + user: its owner
    + group: its group
    + mode: its mode, octal digits (``"600"``, ``"640"``)
    + action: the transaction action it belongs to (``app``, ``nginx``, ``firewall``): the
      file as it was is recorded in the run's transaction first; None records nothing

    A new file gets its mode before its content, so the upload writes into a file no one
    else may read.

    **Example:**

    .. code:: python

        files.managed_file(
            name="Write the app's environment file (0640).",
            content="APP_SECRET=...\\n",
            dest="/etc/wsready-app/env",
            user="root",
            group="wsready-app",
            mode="640",
            action="app",
        )
    """
    remote = host.get_fact(File, path=dest)
    content_changes = not remote or host.get_fact(Sha1File, path=dest) != get_file_sha1(
        StringIO(content)
    )
    owner_changes = not remote or remote.get("user") != user or remote.get("group") != group
    mode_changes = not remote or remote.get("mode") != int(mode)
    if not (content_changes or owner_changes or mode_changes):
        host.noop(f"{dest} is up to date")
        return
    if action:
        yield save_command([dest], action)
    if not remote:
        # A new file gets its mode before its content: the upload then writes into a file no
        # one else may read (sftp would create it 0644 for a moment).
        yield StringCommand("install", "-m", mode, "/dev/null", shlex.quote(dest))
    if content_changes:
        yield FileUploadCommand(
            StringIO(content), dest, remote_temp_filename=host.get_temp_filename(dest)
        )
    if owner_changes:
        yield StringCommand("chown", f"{user}:{group}", shlex.quote(dest))
    if mode_changes:
        yield StringCommand("chmod", mode, shlex.quote(dest))


@operation()
def managed_directory(path: str, user: str, group: str, mode: str, action: str):
    """
    Make ``path`` a directory of ``user:group`` and ``mode``, like files.directory, after
    recording it as it was (mode and owner, or its absence) in the run's transaction: the
    rollback puts it back.

    + path: the directory on the host (created with its parents, each recorded)
    + user: its owner
    + group: its group
    + mode: its mode, octal digits (``"755"``, ``"0750"``)
    + action: the transaction action it belongs to (``app``, ``nginx``, ``firewall``)

    **Example:**

    .. code:: python

        files.managed_directory(
            name="Create /etc/wsready-app (readable by wsready only).",
            path="/etc/wsready-app",
            user="root",
            group="wsready",
            mode="0750",
            action="app",
        )
    """
    remote = host.get_fact(Directory, path=path)
    wanted = int(mode, 8)
    if (
        remote
        and remote.get("user") == user
        and remote.get("group") == group
        and int(str(remote.get("mode")), 8) == wanted
    ):
        host.noop(f"{path} is up to date")
        return
    parents = []
    parent = path.rsplit("/", 1)[0]
    while not remote and parent and not host.get_fact(Directory, path=parent):
        parents.insert(0, parent)
        parent = parent.rsplit("/", 1)[0]
    yield save_directories_command([*parents, path], action)
    q = shlex.quote(path)
    if not remote:
        yield StringCommand("mkdir", "-p", q)
    yield StringCommand("chown", f"{user}:{group}", q)
    yield StringCommand("chmod", f"{wanted:o}", q)
