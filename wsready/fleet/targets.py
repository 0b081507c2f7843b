"""Targets for `wsready check`: from URLs, or from the pyinfra inventory the deploy uses.

An inventory host becomes `http://<verify_address or ssh_hostname or name>:<nginx_listen_port>`
(`https://…:<nginx_tls_port>` when `nginx_tls` is on) with `app_socketio_path`, so the check
probes exactly what the deploy built. Host data is resolved with pyinfra's precedence (host,
groups, `group_data/` next to the file); hosts in the `monitors` group are not checked.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from wsready import acme, inventory, validate
from wsready.probes import Target
from wsready.validate import ConfigError

URL_SCHEMES = ("http", "https", "ws", "wss")
# Hosts in this group run the checks; they are not checked themselves unless asked for.
MONITORS_GROUP = "monitors"
# Defaults of inventory/group_data/all.py, used when the inventory has no group_data of its own.
DEFAULTS: dict[str, Any] = {
    "nginx_listen_port": 80,
    "nginx_tls": False,
    "nginx_tls_port": 443,
    "app_socketio_path": "/ws",
    "verify_address": None,
    "app_cors_origins": ["http://localhost"],
    "nginx_tls_cert_file": None,
    "nginx_server_name": "_",
}


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
    not in the `monitors` group (a monitor does not watch itself)."""
    hosts = load_inventory_hosts(path)
    if group is not None:
        chosen = [(name, groups, data) for name, groups, data in hosts if group in groups]
        if not chosen:
            raise ConfigError("--group", group, f"no host of {path} is in this group")
    else:
        chosen = [
            (name, groups, data) for name, groups, data in hosts if MONITORS_GROUP not in groups
        ]
        if not chosen:
            raise ConfigError("--inventory", path, "contains no host to check")
    return [target_for_host(name, data, token) for name, _groups, data in chosen]


def target_for_host(name: str, data: dict[str, Any], token: str | None = None) -> Target:
    """The target a deploy of host `name` with host data `data` serves."""
    merged = {**DEFAULTS, **{key: value for key, value in data.items() if value is not None}}
    address = data.get("verify_address") or data.get("ssh_hostname") or name
    if address.startswith("@"):
        raise ConfigError(
            f"{name}.verify_address", None, "is needed for a connector host such as @local"
        )
    path = validate.url_path(f"{name}.app_socketio_path", merged["app_socketio_path"])
    tls = merged["nginx_tls"]
    if tls != "acme":
        validate.boolean(f"{name}.nginx_tls", tls)
    if tls:
        scheme, port = "https", validate.port(f"{name}.nginx_tls_port", merged["nginx_tls_port"])
    else:
        scheme = "http"
        port = validate.port(f"{name}.nginx_listen_port", merged["nginx_listen_port"])
    connect_address = None
    if tls == "acme":
        # Checked at the certificate's first name, connecting to this host's address.
        connect_address = address
        address = acme.certificate_names(merged["nginx_server_name"])[0]
    host = f"[{address}]" if ":" in address else address
    url = validate.url(f"{name}.verify_address", f"{scheme}://{host}:{port}")
    origins = merged.get("app_cors_origins") or []
    return Target(
        url=url,
        socketio_path=path,
        token=token,
        # The same probes as the deploy's verify step: CORS from the first allowed origin,
        origin=origins[0] if origins else None,
        name=name,
        # and a self-signed sandbox certificate (no nginx_tls_cert_file) is not verified.
        tls_verify=tls == "acme" or bool(merged.get("nginx_tls_cert_file")),
        connect_address=connect_address,
    )


# The host data keys a target is built from: all a monitor host needs to know of the fleet.
TARGET_KEYS = (
    "verify_address",
    "ssh_hostname",
    "nginx_listen_port",
    "nginx_tls",
    "nginx_tls_port",
    "nginx_tls_cert_file",
    "nginx_server_name",
    "app_socketio_path",
    "app_cors_origins",
)


def render_inventory(hosts: Sequence[tuple[str, dict[str, Any]]], group: str = "targets") -> str:
    """A pyinfra inventory file of `hosts`, keeping only TARGET_KEYS of their data.

    Used to hand a monitor host the fleet it checks; nothing secret goes into it.
    """
    entries = []
    for name, data in hosts:
        target_for_host(name, data)  # refuse a host that would make a broken target
        kept = {key: data[key] for key in TARGET_KEYS if data.get(key) is not None}
        if kept.get("nginx_tls_cert_file"):
            kept["nginx_tls_cert_file"] = "(provided: verify the certificate)"
        entries.append(f"    ({name!r}, {kept!r}),")
    body = "\n".join(entries)
    header = "# Targets for `wsready check --inventory`, written by tasks/monitor.py."
    return f"{header}\n{group} = [\n{body}\n]\n"


def urls_as_hosts(urls: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """(name, data) for each URL, so a list of URLs renders as an inventory too."""
    hosts = []
    for url, target in zip(urls, from_urls(urls), strict=True):
        data: dict[str, Any] = {
            "verify_address": target.host,
            "app_socketio_path": target.socketio_path,
            "app_cors_origins": [],
        }
        if target.secure:
            data.update(nginx_tls=True, nginx_tls_port=target.port)
            data["nginx_tls_cert_file"] = "(provided: verify the certificate)"
        else:
            data["nginx_listen_port"] = target.port
        hosts.append((url.rstrip("/"), data))
    return hosts


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
