"""Facts read in one command per host, and kept while nothing has run on the host since.

pyinfra 3 keeps no fact: every `host.get_fact` is one SSH round trip, and under `pyinfra -y`
each operation reads its facts when it executes, one after another. A no-change re-run of
deploy.py read 104 facts per host that way, 17 of them a second or third time, and with
several hosts every one of those round trips waits for the slowest host (docs/benchmarks.md
§8). `install(host)` gives a host of the run a memo of facts, filled in batches:

- A fact already read is answered from the memo while no command, upload or Python
  callback has run on the host since it was read; anything that runs empties the memo (what
  it changed may be what a fact reports). pyinfra's own reads of a fact are unchanged.
- When the host's operations start executing, `discover` walks their generators, as
  pyinfra's change detection does without `-y`, up to the first fact not in the memo, reads
  all those facts in one shell command, and walks on until no operation asks for a new
  fact. The walk stops at the first operation that would run something: its commands empty
  the memo. An operation with `_if` is passed over (its condition is known only then).

A fact in a batch runs the very command it runs alone, in a subshell, with the same
connector arguments (sudo, user, shell); its output is cut out of the batch's and processed
by the fact class itself. A fact whose command fails, or reports its program missing, is
left out of the memo and read alone when asked, as before, with pyinfra's errors.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from inspect import getcallargs
from typing import Any

from pyinfra import logger
from pyinfra.api import FactBase, StringCommand
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.api.facts import (
    _MISSING_COMMAND_MARKER,
    ShortFactBase,
    _handle_fact_kwargs,
    _make_command,
)
from pyinfra.api.state import BaseStateCallback

_MEMO = "_wsready_fact_memo"
_HANDLER = "_wsready_fact_memo_handler"
MAX_ROUNDS = 8  # rounds of the walk: an operation reads at most a few facts in a row
# Connector arguments a batch cannot share: a pty rewrites line ends, stdin is one stream.
_UNBATCHABLE = ("_get_pty", "_stdin")
# What runs on the host: each empties the memo unless it is a fact being read.
_RUNNERS = ("run_shell_command", "put_file", "get_file", "rsync")


class _Unknown(BaseException):
    """Raised inside an operation's generator by the walk at a fact not in the memo.
    A BaseException, so that an operation's own `except Exception` cannot swallow it."""


@dataclass(frozen=True)
class Request:
    """One fact with its arguments and the connector arguments it is read with."""

    fact: type[FactBase]
    kwargs: dict[str, Any]
    executor: dict[str, Any]

    @property
    def key(self) -> str:
        return _key(self.fact, self.kwargs, self.executor)

    @property
    def group(self) -> str:
        """Requests of one group can share a command (same sudo, user, shell, ...)."""
        shared = {k: v for k, v in self.executor.items() if k != "_success_exit_codes"}
        return json.dumps(_unsecret(shared), sort_keys=True, default=repr)


def _key(fact: type[FactBase], kwargs: dict[str, Any], executor: dict[str, Any]) -> str:
    return json.dumps([fact.name, kwargs, _unsecret(executor)], sort_keys=True, default=repr)


def _unsecret(executor: dict[str, Any]) -> dict[str, Any]:
    """The connector arguments with any password replaced by its digest (keys stay apart
    per password, and hold none)."""
    return {
        name: hashlib.sha256(repr(value).encode()).hexdigest() if "password" in name else value
        for name, value in executor.items()
    }


def request(state, current, fact: type[FactBase], args=None, kwargs=None) -> Request:
    """The request `current.get_fact(fact, *args, **kwargs)` makes now, as pyinfra reads it:
    the fact's arguments bound to its command, the connector arguments of the operation or
    deploy being run (see pyinfra.api.facts._get_fact)."""
    fact_kwargs, global_kwargs = _handle_fact_kwargs(state, current, fact, args, kwargs)
    fact_kwargs = {k: v for k, v in fact_kwargs.items() if k != "self"}
    if fact.shell_executable:
        global_kwargs["_shell_executable"] = fact.shell_executable
    executor = {k: v for k, v in global_kwargs.items() if k in CONNECTOR_ARGUMENT_KEYS}
    return Request(fact, fact_kwargs, executor)


def fact_command(req: Request) -> tuple[FactBase, Any] | None:
    """The fact object and the command pyinfra runs for it (its `requires_command` guard
    included; the object processes the output: some keep what `command` was given), or
    None when the fact must be read alone (arguments a batch cannot share)."""
    if any(req.executor.get(name) for name in _UNBATCHABLE):
        return None
    fact = req.fact()
    command = _make_command(fact.command, dict(req.kwargs))
    required = _make_command(fact.requires_command, dict(req.kwargs))
    if required:
        command = StringCommand(
            "if", "command", "-v", required, ">/dev/null", "2>&1;", "then", "(", command,
            ");", "else", "echo", f"'{_MISSING_COMMAND_MARKER}';", "fi",
        )  # fmt: skip
    return fact, command


def batch_command(commands: list[Any], nonce: str) -> StringCommand:
    """One shell command running each fact command in its own subshell (stdin empty, stderr
    dropped), each followed by a line `@@<nonce> <index> <exit status>` on a line of its own."""
    bits: list[Any] = []
    for index, command in enumerate(commands):
        bits += ["(", command, "\n)", "</dev/null", "2>/dev/null;"]
        bits += [f"printf '\\n@@{nonce} {index} %s\\n' \"$?\";"]
    return StringCommand(*bits)


def split_batch(lines: list[str], nonce: str, count: int) -> dict[int, tuple[int, list[str]]]:
    """Each fact's exit status and output lines, cut out of the batch's output lines: index ->
    (status, lines). The line end the marker line adds is taken off again; a fact whose
    marker is missing (the batch was cut short) is left out."""
    results: dict[int, tuple[int, list[str]]] = {}
    chunk: list[str] = []
    prefix = f"@@{nonce} "
    for line in lines:
        words = line[len(prefix) :].split() if line.startswith(prefix) else []
        if len(words) == 2 and all(word.isdigit() for word in words):
            index, status = int(words[0]), int(words[1])
            if chunk and chunk[-1] == "":
                chunk.pop()
            if index < count:
                results[index] = (status, chunk)
            chunk = []
        else:
            chunk.append(line)
    return results


def processed(req: Request, fact: FactBase, status: int, lines: list[str]) -> tuple[bool, Any]:
    """(True, value) as pyinfra would have returned the fact read alone with this status and
    output; (False, None) where pyinfra would have logged an error or raised instead."""
    codes = req.executor.get("_success_exit_codes")
    if not (status in codes if codes else status == 0):
        return False, None
    if lines == [_MISSING_COMMAND_MARKER]:
        return False, None
    if not lines:
        return True, fact.default()
    try:
        return True, fact.process(lines)
    except Exception:  # noqa: BLE001 - read alone, pyinfra reports it its own way
        return False, None


@dataclass
class Memo:
    """One host's facts for this run (see the module's docstring)."""

    host: Any
    read_alone: Callable[..., Any]
    run: dict[str, Callable[..., Any]]
    values: dict[str, Any] = field(default_factory=dict)
    executors: dict[int, tuple[Any, dict[str, Any]]] = field(default_factory=dict)
    reading: int = 0
    walking: dict[str, Request] | None = None
    discovered: bool = False
    batches: int = 0
    last_op: str | None = None

    def get_fact(self, fact, *args, **kwargs):
        """`host.get_fact`, answered from the memo when it holds the fact."""
        if issubclass(fact, ShortFactBase):
            return self._read_alone(fact, *args, **kwargs)
        req = self.request(fact, args, kwargs)
        if req.key in self.values:
            quiet = self.walking is not None or not self.host.state.print_fact_info
            log = logger.debug if quiet else logger.info
            what = f"{fact.name} ({_kwargs_text(req.kwargs)})"
            log(f"{self.host.print_prefix}Loaded fact {what} (kept)")
            return copy.deepcopy(self.values[req.key])
        if self.walking is not None:
            if fact_command(req) is None:
                return self._read_alone(fact, *args, **kwargs)
            self.walking[req.key] = req
            raise _Unknown
        value = self._read_alone(fact, *args, **kwargs)
        self.values[req.key] = value
        return copy.deepcopy(value)

    def request(self, fact: type[FactBase], args, kwargs) -> Request:
        """`request(...)`, with the connector arguments worked out once per operation (the
        same dict for all its facts) rather than once per fact."""
        arguments = self.host.current_op_global_arguments
        if arguments is None or any(key.startswith("_") for key in kwargs):
            return request(self.host.state, self.host, fact, args, kwargs)
        known = self.executors.get(id(arguments))
        if known is None or known[0] is not arguments:
            model = request(self.host.state, self.host, fact, args, kwargs)
            self.executors[id(arguments)] = (arguments, model.executor)
            return model
        bound = getcallargs(fact().command, *args, **kwargs) if args or kwargs else {}
        bound.pop("self", None)
        return Request(fact, bound, known[1])

    def _read_alone(self, fact, *args, **kwargs):
        self.reading += 1
        try:
            return self.read_alone(fact, *args, **kwargs)
        finally:
            self.reading -= 1

    def forget(self) -> None:
        """Something ran on the host: every fact read before may have changed."""
        self.values.clear()

    def runner(self, name: str) -> Callable[..., Any]:
        original = self.run[name]

        def run(*args, **kwargs):
            if not self.reading:
                self.forget()
            return original(*args, **kwargs)

        return run

    def read(self, requests: Iterable[Request]) -> int:
        """Read these facts in one command per connector-argument group; keep each that
        reads as it would alone. Returns how many were kept."""
        groups: dict[str, list[tuple[Request, tuple[FactBase, Any]]]] = {}
        unique = {req.key: req for req in requests if req.key not in self.values}
        for req in unique.values():
            made = fact_command(req)
            if made is not None:
                groups.setdefault(req.group, []).append((req, made))
        kept = 0
        state = self.host.state
        started = time.monotonic()
        for members in groups.values():
            nonce = secrets.token_hex(6)
            executor = {
                k: v for k, v in members[0][0].executor.items() if k != "_success_exit_codes"
            }
            self.reading += 1
            try:
                ok, output = self.run["run_shell_command"](
                    batch_command([command for _req, (_fact, command) in members], nonce),
                    print_output=state.print_fact_output,
                    print_input=state.print_fact_input,
                    **executor,
                )
            except Exception as error:  # noqa: BLE001 - the facts are then read alone
                logger.debug("%sbatched facts not read: %s", self.host.print_prefix, error)
                continue
            finally:
                self.reading -= 1
            self.batches += 1
            if not ok:
                continue
            for index, (status, lines) in split_batch(
                output.stdout_lines, nonce, len(members)
            ).items():
                req, (fact, _command) = members[index]
                good, value = processed(req, fact, status, lines)
                if good:
                    self.values[req.key] = value
                    kept += 1
        logger.debug(
            "%s%d facts read in %d command(s) in %.3f s",
            self.host.print_prefix, kept, len(groups), time.monotonic() - started,
        )  # fmt: skip
        return kept

    def before_operation(self, state, op_hash: str) -> None:
        """Called as each operation starts on the host: forget what the last one may have
        changed; the first time, walk the operations and read what they will ask for."""
        if op_hash not in state.ops[self.host]:
            return
        if self.last_op is not None:
            meta = state.get_op_data_for_host(self.host, self.last_op).operation_meta
            if meta.executed or not meta.is_complete():
                self.forget()
        self.last_op = op_hash
        if not self.discovered:
            self.discovered = True
            try:
                discover(self, state, op_hash)
            except Exception as error:  # noqa: BLE001 - the operations then read alone
                logger.debug("%sfact walk stopped: %s", self.host.print_prefix, error)
            finally:
                self.walking = None


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(kwargs.items()))


def _walk(memo: Memo, op_data) -> str:
    """Run one operation's generator as far as the memo allows: "done" (it asks for no more
    before its end), "unknown" (it stopped at a fact not in the memo) or "runs" (it would
    run a command: later operations read after it)."""
    generator = op_data.command_generator()
    try:
        next(generator)
        return "runs"
    except StopIteration:
        return "done"
    except _Unknown:
        return "unknown"
    except Exception:  # noqa: BLE001 - it fails again when it executes, and says why there
        return "done"
    finally:
        generator.close()


def discover(memo: Memo, state, first_op: str) -> None:
    """Walk the host's operations from `first_op` and read what they ask for, in batches."""
    current = memo.host
    order = [op for op in state.get_op_order() if op in state.ops[current]]
    pending = order[order.index(first_op) :] if first_op in order else order
    pending = [op for op in pending if not state.get_op_data_for_host(current, op)
               .global_arguments.get("_if")]  # fmt: skip
    current.noop = lambda description: None  # the walk is not the run: say nothing
    try:
        for _round in range(MAX_ROUNDS):
            started = time.monotonic()
            memo.walking = {}
            unfinished = []
            for op in pending:
                outcome = _walk(memo, state.get_op_data_for_host(current, op))
                if outcome == "unknown":
                    unfinished.append(op)
                elif outcome == "runs":
                    break
            wanted, memo.walking = memo.walking, None
            logger.debug(
                "%sfact walk: %d operations in %.3f s, %d facts to read",
                current.print_prefix, len(pending), time.monotonic() - started, len(wanted),
            )  # fmt: skip
            if not wanted or not memo.read(wanted.values()):
                return
            pending = unfinished
    finally:
        memo.walking = None
        del current.noop


class _Callbacks(BaseStateCallback):
    @staticmethod
    def operation_host_start(state, host, op_hash):
        memo = host.__dict__.get(_MEMO)
        if memo is not None:
            memo.before_operation(state, op_hash)


def install(current) -> Memo:
    """The host's memo, made and put in front of its fact reads the first time (once per
    run: the memo lives on the host object)."""
    memo = current.__dict__.get(_MEMO)
    if memo is not None:
        return memo
    memo = Memo(
        host=current,
        read_alone=current.get_fact,
        run={name: getattr(current, name) for name in _RUNNERS},
    )
    current.get_fact = memo.get_fact
    for name in _RUNNERS:
        setattr(current, name, memo.runner(name))
    setattr(current, _MEMO, memo)
    state = current.state
    if not getattr(state, _HANDLER, None):
        setattr(state, _HANDLER, True)
        state.add_callback_handler(_Callbacks())
    return memo


def prefetch(current, wanted: Iterable[tuple[type[FactBase], dict[str, Any]]]) -> None:
    """Read these facts of `current` in one command, where the code about to read them one by
    one knows it will (plan time: pyinfra walks no operation then). Nothing without a memo
    (a host of the operation tests)."""
    if hasattr(current, "_get_module"):  # pyinfra's `host`: the host of the context
        current = current._get_module()
    memo = current.__dict__.get(_MEMO)
    if memo is not None:
        memo.read(memo.request(fact, (), dict(kwargs)) for fact, kwargs in wanted)
