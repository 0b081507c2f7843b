"""The operation calls every task makes the same way: a file or a directory owned by root
(rendered text or a local file), a Debian package installed without its recommends (apt's
index at most a day old), and Redis with wsready's config (a Redis host, or an app host's
local one)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from wsready.deploy import redis_conf
from wsready.deploy.operations.files import managed_file

# Operations that change what runs: a failure there must not stop the host before its
# verify step, which judges the result and puts the whole transaction back.
ACTIVATION = {"_ignore_errors": True}


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


def redis_server(config: str, password: str | None = None) -> None:
    """Debian's redis-server running `config` (and requiring `password`), restarted when
    they or its drop-in changed."""
    apt_install("Install redis-server without recommended packages.", ["redis-server"])
    config_file, password_file = redis_conf.CONFIG, redis_conf.PASSWORD_CONFIG
    written = put_text(
        f"Write the Redis config {config_file}.", config, config_file, mode="0640", group="redis"
    )
    changes = [written]
    if password is not None:
        changes.append(
            managed_file(
                name=f"Write the Redis password file {password_file} (0600 redis:redis).",
                content=redis_conf.password_config(password),
                dest=password_file,
                user="redis",
                group="redis",
                mode="600",
            )
        )
    drop_in = files.put(
        name="Make Debian's redis-server unit run wsready's config.",
        src=StringIO(redis_conf.drop_in()),
        dest=redis_conf.DROP_IN,
        user="root",
        group="root",
        mode="0644",
        create_remote_dir=True,
    )
    systemd.daemon_reload(
        name="Reload systemd (the Redis drop-in changed).", _if=drop_in.did_change
    )
    systemd.service(
        name="Restart Redis (its config changed).",
        service=redis_conf.LOCAL_UNIT,
        running=True,
        restarted=True,
        _if=any_changed(drop_in, *changes),
    )
    systemd.service(
        name="Keep Redis running and enabled at boot.",
        service=redis_conf.LOCAL_UNIT,
        running=True,
        enabled=True,
    )
