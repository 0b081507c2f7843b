"""Run pyinfra deploys against fake facts and collect the commands they would run.

In the style of pyinfra's own tests/operations/*.json: facts in, commands out. No host is
contacted: `Host.get_fact` answers from a dictionary, and every operation is "executed" by
generating its commands (so `_if=op.did_change` wiring is evaluated as pyinfra does).

Facts are keyed by "<module>.<Class>" (e.g. "files.File"). A fact with one argument that
differs from its default is looked up by that argument's value ({"/etc/x": {...}}); a fact
without arguments takes the value as is; "*" matches any arguments. Facts not given get the
fact's own default (for File/Link/Directory: absent). JSON has no dates: the Date fact and
"mtime" fields are given as ISO strings and turned into datetimes here. The timestamp in
`sed -i` backup names is the literal TIMESTAMP. Each result carries the reasons an operation
gave for changing nothing (`host.noop`), so a case can assert why nothing ran.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from unittest import mock

from pyinfra.api import Config, Inventory, State
from pyinfra.api.command import FileUploadCommand, StringCommand
from pyinfra.api.facts import ShortFactBase
from pyinfra.connectors.util import CommandOutput
from pyinfra.context import ctx_host, ctx_state

HOST = "testhost"
# The LinuxDistribution fact of a host of each OS family (families.RELEASES has their rows).
DEBIAN12 = {
    "server.LinuxDistribution": {
        "name": "Debian",
        "major": 12,
        "minor": None,
        "release_meta": {"ID": "debian", "VERSION_ID": "12"},
    }
}
AMAZON2023 = {
    "server.LinuxDistribution": {
        "name": "Amazon Linux",
        "major": 2023,
        "minor": None,
        "release_meta": {"ID": "amzn", "VERSION_ID": "2023"},
    }
}


def fact_key(cls) -> str:
    return f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"


def _changed_arguments(cls, args, kwargs) -> dict[str, Any]:
    signature = inspect.signature(cls().command)
    bound = signature.bind(*args, **kwargs)
    return {
        name: value
        for name, value in bound.arguments.items()
        if value != signature.parameters[name].default
    }


def _with_dates(key: str, value: Any) -> Any:
    if key == "server.Date" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if isinstance(value, Mapping):
        return {
            name: datetime.fromisoformat(item)
            if name == "mtime" and isinstance(item, str)
            else _with_dates(key, item)
            for name, item in value.items()
        }
    return value


@dataclass
class FakeFacts:
    facts: Mapping[str, Any]
    asked: list[str] = field(default_factory=list)

    def get(self, cls, args=(), kwargs=None) -> Any:
        if issubclass(cls, ShortFactBase):
            return cls().process_data(self.get(cls.fact, args, kwargs))
        key = fact_key(cls)
        arguments = _changed_arguments(cls, args or (), kwargs or {})
        self.asked.append(f"{key}{json.dumps(arguments, sort_keys=True) if arguments else ''}")
        if key not in self.facts:
            return cls().default()
        value = _with_dates(key, self.facts[key])
        if not arguments:
            return value
        if isinstance(value, Mapping) and "*" in value:
            return value["*"]
        lookup = (
            next(iter(arguments.values()))
            if len(arguments) == 1
            else json.dumps(arguments, sort_keys=True)
        )
        if not isinstance(lookup, str):
            lookup = json.dumps(lookup)
        return value.get(lookup, cls().default()) if isinstance(value, Mapping) else value


def _render(command) -> Any:
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    if isinstance(command, FileUploadCommand):
        if hasattr(command.src, "read"):
            command.src.seek(0)
            content = command.src.read()
            if isinstance(content, bytes):
                content = content.decode()
            return {"upload": command.dest, "lines": content.splitlines()}
        return {"upload": command.dest}
    return repr(command)


@dataclass
class OpResult:
    name: str
    commands: list[Any]
    noops: list[str] = field(default_factory=list)  # why the operation changed nothing


def run(
    deploy_fn: Callable[[], Any],
    facts: Mapping[str, Any],
    data: Mapping[str, Any] | None = None,
    *,
    name: str = HOST,
    others: Sequence[tuple[str, Mapping[str, Any]]] = (),
    groups: Mapping[str, tuple[list[str], dict]] | None = None,
) -> list[OpResult]:
    """Plan `deploy_fn` for host `name` with `data`, then execute it against `facts`.

    `others` are more (name, data) hosts in the inventory and `groups` its groups
    (group name -> (host names, group data)), for deploys that read the rest of the fleet.
    """
    inventory = Inventory(([(name, dict(data or {})), *others], {}), **(groups or {}))
    state = State(inventory, Config())
    host = inventory.get_host(name)
    fake = FakeFacts(facts)

    def get_fact(_state, _host, cls, args=None, kwargs=None, **_ignored):
        return fake.get(cls, args, kwargs)

    results = []
    with (
        mock.patch("pyinfra.api.host.get_fact", get_fact),
        # sed -i backups are named after the time: fixed, so commands compare exactly
        mock.patch("pyinfra.operations.util.files.get_timestamp", lambda: "TIMESTAMP"),
        ctx_state.use(state),
        ctx_host.use(host),
    ):
        deploy_fn()
        state.is_executing = True
        for op_hash in host.op_hash_order:
            op_data = state.get_op_data_for_host(host, op_hash)
            noops: list[str] = []
            with mock.patch.object(
                type(host), "noop", lambda _host, why, into=noops: into.append(why)
            ):
                commands = [_render(command) for command in op_data.command_generator()]
            op_data.operation_meta.set_complete(True, commands, CommandOutput([]))
            name = sorted(state.get_op_meta(op_hash).names)[0]
            results.append(OpResult(name=name, commands=commands, noops=noops))
    return results


def commands(results: list[OpResult]) -> list[Any]:
    """Every command in order, flattened."""
    return [command for result in results for command in result.commands]


def changed(results: list[OpResult]) -> list[str]:
    """Names of the operations that would run at least one command."""
    return [result.name for result in results if result.commands]


def run_operation(
    operation: Callable[..., Any],
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    facts: Mapping[str, Any] | None = None,
) -> OpResult:
    """Call one operation with `args`/`kwargs` against `facts`: its commands and noop reasons
    (as pyinfra's own tests/operations/<module.operation>/*.json cases do). The run's
    transaction id is the literal RUN_ID, so recorded commands compare exactly."""
    with mock.patch("wsready.deploy.transaction.RUN_ID", "RUN_ID"):
        (result,) = run(lambda: operation(*args, **dict(kwargs or {})), facts or {})
    return result
