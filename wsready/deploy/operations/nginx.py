"""
Activate nginx configs safely: candidates written aside are tested with ``nginx -t`` in a
copy of /etc/nginx, then renamed over the live files and loaded with one reload, by the
script ``files/nginx/activate-config.sh`` (see tasks/nginx.py).

Both operations take ``configs``: ``(candidate path, live path, sha256 of the candidate's
content)`` in activation order, and the ``stamp`` file the script writes after a reload
(the sha256 of each live file, one a line). nginx runs a config when the live files hold
those digests and the stamp does too, so a run killed between rename and reload is finished
by the next.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence
from io import StringIO
from pathlib import PurePosixPath

from pyinfra import host
from pyinfra.api import operation
from pyinfra.api.command import FileUploadCommand
from pyinfra.facts.files import FileContents, Sha256File

from wsready.deploy.transaction import save_command

UNIT_ACTION = "nginx-unit"  # the rollback restarts nginx (a reload keeps the old sandbox)


def _loaded(configs: Sequence[Sequence[str]], stamp: str) -> bool:
    """The live files hold the candidates and nginx has loaded them (stamp written after
    reload)."""
    expected = [digest for _candidate, _live, digest in configs]
    live = [host.get_fact(Sha256File, path=path) for _candidate, path, _digest in configs]
    loaded = host.get_fact(FileContents, path=stamp) or []
    return live == expected and loaded == expected


def _pairs(configs: Sequence[Sequence[str]]) -> str:
    return " ".join(f"{candidate} {live}" for candidate, live, _digest in configs)


@operation()
def test_config(configs: Sequence[Sequence[str]], stamp: str, activate: str):
    """
    Test the candidates with ``nginx -t`` (in a copy of /etc/nginx, the candidates in place
    of the live files), unless nginx already runs them: a config nginx refuses fails the
    operation, with nginx's message, before anything live changes.

    + configs: ``(candidate, live, sha256)`` for each file, in activation order
    + stamp: the file recording what nginx has loaded
    + activate: the path of ``activate-config.sh`` on the host

    **Example:**

    .. code:: python

        nginx.test_config(
            name="Test the candidate site with nginx -t.",
            configs=[("/etc/wsready/nginx/site.conf", "/etc/nginx/conf.d/site.conf", "60303a…")],
            stamp="/etc/wsready/nginx/loaded.sha256",
            activate="/usr/local/sbin/wsready-nginx-activate",
        )
    """
    if _loaded(configs, stamp):
        host.noop("nginx already runs this config: nothing to test")
        return
    yield f"{activate} test {_pairs(configs)}"


@operation()
def activate_config(configs: Sequence[Sequence[str]], stamp: str, activate: str):
    """
    Make the candidates live: record the live files in the run's transaction, test the
    candidates again, rename them over the live files, reload nginx once and write
    ``stamp``; unless nginx already runs them.

    + configs: ``(candidate, live, sha256)`` for each file, in activation order
    + stamp: the file recording what nginx has loaded
    + activate: the path of ``activate-config.sh`` on the host

    **Example:**

    .. code:: python

        nginx.activate_config(
            name="Make the tested nginx config active and reload nginx.",
            configs=[
                ("/etc/wsready/nginx/nginx.conf", "/etc/nginx/nginx.conf", "9f86d0…"),
                ("/etc/wsready/nginx/wsready.conf", "/etc/nginx/conf.d/wsready.conf", "60303a…"),
            ],
            stamp="/etc/wsready/nginx/loaded.sha256",
            activate="/usr/local/sbin/wsready-nginx-activate",
        )
    """
    lives = [live for _candidate, live, _digest in configs]
    if _loaded(configs, stamp):
        # the site first, as the deploy has always said it
        host.noop(
            f"{' and '.join(reversed(lives))} already hold this config and nginx has loaded it"
        )
        return
    yield save_command(lives, "nginx")
    yield f"{activate} activate {stamp} {_pairs(configs)}"


@operation()
def unit_dropin(path: str, content: str | None, stamp: str):
    """
    Make nginx run under the systemd drop-in ``path`` holding ``content`` (None: no drop-in):
    record the drop-in and ``stamp`` in the run's transaction, write or remove the drop-in,
    reload systemd, restart nginx (sandboxing applies only when a process starts; a reload
    keeps the old one) and write ``stamp``, the sha256 of the drop-in nginx started with;
    unless the drop-in is as asked and ``stamp`` says nginx started with it. A run killed
    before the restart is finished by the next.

    + path: the drop-in, e.g. ``/etc/systemd/system/nginx.service.d/wsready-hardening.conf``
    + content: its text, or None for no drop-in
    + stamp: the file recording the drop-in nginx was started with (absent: none)

    **Example:**

    .. code:: python

        nginx.unit_dropin(
            name="Sandbox nginx with its systemd drop-in.",
            path="/etc/systemd/system/nginx.service.d/wsready-hardening.conf",
            content="[Service]\\nProtectSystem=strict\\n",
            stamp="/etc/wsready/nginx/unit.sha256",
        )
    """
    digest = hashlib.sha256(content.encode()).hexdigest() if content is not None else None
    current = host.get_fact(Sha256File, path=path)
    started = host.get_fact(FileContents, path=stamp)
    if current == digest and started == ([digest] if digest else None):
        host.noop(f"nginx runs with the drop-in {path}" if digest else f"nginx runs without {path}")
        return
    yield save_command([path, stamp], UNIT_ACTION)
    p, s = shlex.quote(path), shlex.quote(stamp)
    if current != digest and content is not None:
        yield f"mkdir -p {shlex.quote(str(PurePosixPath(path).parent))}"
        yield FileUploadCommand(
            StringIO(content), path, remote_temp_filename=host.get_temp_filename(path)
        )
        yield f"chmod 644 {p}"
    elif current != digest:
        yield f"rm -f {p}"
    yield "systemctl daemon-reload"
    yield "systemctl restart nginx"
    if digest:
        yield f"echo {digest} > {s}.new && mv -f {s}.new {s}"
    else:
        yield f"rm -f {s}"
