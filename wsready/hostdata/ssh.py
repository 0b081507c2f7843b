"""Rules for pyinfra's connector keys (`ssh_*`): wsready does not default them, but a host's
data is refused when one is malformed or would weaken the connection.

pyinfra reads these keys itself (pyinfra.connectors.ssh.ConnectorData); an unknown `ssh_*`
key is a typo pyinfra would ignore silently, and a secret one (ssh_password,
ssh_key_password) is never echoed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from wsready import validate as grammar
from wsready.validate import HIDDEN, ConfigError


def _port(key: str, value: Any) -> None:
    # pyinfra takes "2222" from a command line as well as 2222.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 5:
        value = int(value)
    grammar.port(key, value)


def _hostname(key: str, value: Any) -> None:
    grammar.host(key, value)


def _user(key: str, value: Any) -> None:
    if not isinstance(value, str) or not value or len(value) > 64 or not value.isprintable():
        raise ConfigError(key, value, "must be a user name")
    if any(char.isspace() or char in "@:;'\"\\`$" for char in value):
        raise ConfigError(key, value, "must be a user name (no spaces, '@', ':' or quotes)")


def _secret(key: str, value: Any) -> None:
    if not isinstance(value, str) or not value or len(value) > 4096 or "\n" in value:
        raise ConfigError(key, HIDDEN, "must be a non-empty one-line string")


def _local_file(key: str, value: Any) -> None:
    # Only its shape: the file is where pyinfra runs, which may not be where the data is
    # read (the fleet monitor reads the inventory without its SSH keys).
    if not isinstance(value, str) or not value or not value.isprintable() or len(value) > 4096:
        raise ConfigError(key, value, "must be the path of a local file (one line)")


def _boolean(key: str, value: Any) -> None:
    grammar.boolean(key, value)


def _strict(key: str, value: Any) -> None:
    if not isinstance(value, str) or value.lower() not in ("yes", "no", "accept-new", "off"):
        raise ConfigError(key, value, "must be yes, accept-new or no")


def _retries(key: str, value: Any) -> None:
    grammar.integer(key, value, 0, 20)


def _delay(key: str, value: Any) -> None:
    grammar.number(key, value, 0, 600)


def _protocol(key: str, value: Any) -> None:
    grammar.choice(key, value, ("sftp", "scp"))


def _kwargs(key: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(key, HIDDEN, "must be a dict of paramiko connect() arguments")


RULES = {
    "ssh_hostname": _hostname,
    "ssh_port": _port,
    "ssh_user": _user,
    "ssh_password": _secret,
    "ssh_key": _local_file,
    "ssh_key_password": _secret,
    "ssh_allow_agent": _boolean,
    "ssh_look_for_keys": _boolean,
    "ssh_forward_agent": _boolean,
    "ssh_config_file": _local_file,
    "ssh_known_hosts_file": _local_file,
    "ssh_strict_host_key_checking": _strict,
    "ssh_paramiko_connect_kwargs": _kwargs,
    "ssh_connect_retries": _retries,
    "ssh_connect_retry_min_delay": _delay,
    "ssh_connect_retry_max_delay": _delay,
    "ssh_file_transfer_protocol": _protocol,
}


def errors(data: Mapping[str, Any]) -> list[ConfigError]:
    """Every problem with the `ssh_*` keys of `data` (None means pyinfra's default)."""
    found = []
    for key in sorted(k for k in data if isinstance(k, str) and k.startswith("ssh_")):
        value = data[key]
        rule = RULES.get(key)
        if rule is None:
            close = difflib.get_close_matches(key, sorted(RULES), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            found.append(ConfigError(key, HIDDEN, f"is not a pyinfra SSH key{hint}"))
            continue
        if value is None:
            continue
        try:
            rule(key, value)
        except ConfigError as error:
            found.append(error)
    return found
