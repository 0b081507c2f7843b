"""Targets for `wsready check`: from URLs, or from the pyinfra inventory the deploy uses.

An inventory host becomes the target its deploy's verify step probes (`HostConfig.target`:
address, scheme and port, `app_socketio_path`, the first CORS origin, and the certificate
verified against `verify_tls_ca_file` when one is given), so the check probes exactly what
the deploy built. Host data is resolved with pyinfra's precedence (host, groups, `group_data/`
next to the file), then by HostConfig (defaults of all.py, validated); hosts in the
`monitors` group (they run the checks) and the `redis` group (they serve no Socket.IO; the
app hosts' probes prove them) are not checked unless their group is asked for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from wsready import inventory, validate
from wsready.deploy.redis_plan import REDIS_GROUP
from wsready.hostdata import HostConfig
from wsready.hostdata import monitor as monitor_data
from wsready.probes import Target
from wsready.validate import ConfigError

URL_SCHEMES = ("http", "https", "ws", "wss")
BALANCER_GROUP = "balancer"  # the sandbox's front door (tasks/balancer.py)
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
# Hosts in this group run the checks; they are not checked themselves unless asked for.
MONITORS_GROUP = monitor_data.MONITORS_GROUP
# Not checked unless asked for: hosts that run the checks, hosts that serve no Socket.IO.
UNCHECKED_GROUPS = frozenset({MONITORS_GROUP, REDIS_GROUP})
# The system's CA bundle on a monitor host (Debian): what a certificate from a public CA is
# verified against there.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def from_urls(urls: Sequence[str], token: str | None = None) -> list[Target]:
    """One target per URL; the Socket.IO path is the URL's path, `/ws` when it has none."""
    targets = []
    for index, url in enumerate(urls):
        key = f"URL[{index}]" if len(urls) > 1 else "URL"
        validate.url(key, url, schemes=URL_SCHEMES)
        parts = urlsplit(url)
        base = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        path = parts.path.rstrip("/")
        if path:
            try:
                validate.url_path(key, path)
            except ConfigError as error:
                raise ConfigError(key, url, f"path {error.why}") from None
            targets.append(Target(url=base, socketio_path=path, token=token))
        else:
            targets.append(Target(url=base, token=token))
    return targets


def from_inventory(path: str, token: str | None = None, group: str | None = None) -> list[Target]:
    """Targets for the hosts of inventory file `path`: those of `group`, or all hosts that are
    in neither the `monitors` group (a monitor does not watch itself) nor the `redis` group."""
    hosts = load_inventory_hosts(path)
    if group is not None:
        chosen = [(name, groups, data) for name, groups, data in hosts if group in groups]
        if not chosen:
            raise ConfigError("--group", group, f"no host of {path} is in this group")
    else:
        chosen = [
            (name, groups, data)
            for name, groups, data in hosts
            if not UNCHECKED_GROUPS & set(groups)
        ]
        if not chosen:
            raise ConfigError("--inventory", path, "contains no host to check")
    made = [
        _url_target(name, token) if "://" in name else target_for_host(name, data, token)
        for name, _groups, data in chosen
    ]
    return _fronts(made, [groups for _name, groups, _data in chosen])


def _fronts(made: list[Target], groups: Sequence[Sequence[str]]) -> list[Target]:
    """The `balancer` group's targets marked as the front door of the app hosts checked
    beside them (not in the redis, balancer or monitors groups): sweep.check_all checks those
    first and expects each that is healthy on its own address to answer through the door."""
    apps = tuple(
        target.label
        for target, its in zip(made, groups, strict=True)
        if not set(its) & {REDIS_GROUP, BALANCER_GROUP, MONITORS_GROUP}
    )
    if not apps:
        return made
    # WebSocket-only through the door when every app host behind it is (lb_websocket_only).
    only = all(t.websocket_only for t in made if t.label in apps)
    return [
        replace(target, front_of=apps, websocket_only=target.websocket_only or only)
        if BALANCER_GROUP in its
        else target
        for target, its in zip(made, groups, strict=True)
    ]


def expect_hosts(names: Sequence[str] | None) -> tuple[str, ...]:
    """`--expect-host` values: app host names (as their nginx names itself in
    X-Wsready-Host, the host's hostname) a front door's URL must reach, each once."""
    hosts: dict[str, None] = {}
    for name in names or ():
        if not _HOST_NAME.match(name):
            raise ConfigError("--expect-host", name, "is not a host name (letters, digits, . _ -)")
        hosts.setdefault(name, None)
    return tuple(hosts)


def _url_target(url: str, token: str | None) -> Target:
    """An inventory entry named by a URL (`url_entry`): that URL, named by it."""
    (target,) = from_urls([url], token)
    return replace(target, name=url)


def target_for_host(name: str, data: Mapping[str, Any], token: str | None = None) -> Target:
    """The target a deploy of host `name` with host data `data` serves (HostConfig.target)."""
    return HostConfig.from_data(name, data).target(token)


def monitor_entry(
    config: HostConfig, ca_files: Mapping[Path, str], system_cas: str = SYSTEM_CA_BUNDLE
) -> dict[str, Any]:
    """The host data a monitor host needs to probe `config`'s host as its deploy does:
    address, port, path, origin, and how to verify its certificate there (`ca_files`: where
    each local verify_tls_ca_file lies on the monitor host; `system_cas`: its CA bundle, for a
    certificate from a public CA). Nothing secret."""
    entry: dict[str, Any] = {
        "verify_address": config.probe_address,
        "app_socketio_path": config.app_socketio_path,
        "app_cors_origins": list(config.app_cors_origins),
    }
    if config.nginx_tls:
        entry.update(nginx_tls=config.nginx_tls, nginx_tls_port=config.nginx_tls_port)
    else:
        entry["nginx_listen_port"] = config.nginx_listen_port
    if config.nginx_tls == "acme":  # probed at its certificate's name
        entry.update(nginx_server_name=config.nginx_server_name, acme_email=config.acme_email)
    if config.lb_websocket_only:  # judged in its mode: polling refused, WebSocket sessions
        entry["lb_websocket_only"] = True
    verify = config.tls_verify
    if verify is True:
        entry["verify_tls_ca_file"] = system_cas
    elif verify:
        entry["verify_tls_ca_file"] = ca_files[Path(verify)]
    return entry


def url_entry(url: str) -> tuple[str, dict[str, Any]]:
    """(name, host data) that makes `url` a target of an inventory file: an entry named by a
    URL is probed at that URL, as `wsready check URL` probes it."""
    from_urls([url])  # refused here rather than on the monitor host
    return url.rstrip("/"), {}


def render_inventory(
    entries: Sequence[tuple[str, Mapping[str, Any]]], group: str = "targets"
) -> str:
    """A pyinfra inventory file of (name, host data) entries (`monitor_entry`, `url_entry`),
    for the fleet a monitor host checks."""
    lines = [f"    ({name!r}, {dict(entry)!r})," for name, entry in entries]
    body = "\n".join(lines)
    header = "# Targets for `wsready check --inventory`, written by tasks/monitor.py."
    return f"{header}\n{group} = [\n{body}\n]\n"


def load_inventory_hosts(path: str) -> list[tuple[str, list[str], dict[str, Any]]]:
    """(name, groups, data) of every host in inventory file `path`, as pyinfra loads them."""
    file = Path(path)
    if not file.exists():
        raise ConfigError("--inventory", path, "file does not exist")
    if not file.is_file():
        raise ConfigError("--inventory", path, "is not a file")
    if not os.access(file, os.R_OK):
        raise ConfigError("--inventory", path, "file is not readable")
    if file.suffix != ".py":
        raise ConfigError("--inventory", path, "must be a pyinfra inventory (.py) file")
    return [(host.name, list(host.groups), host.data) for host in inventory.load(path)]
