"""wsready/deploy/batched_facts.py: facts read in one shell command read as they read alone
(real `sh` on this machine), and a host's memo under pyinfra itself (the @local connector,
files in a temporary directory): repeated facts cost no command, anything that runs on the
host empties the memo, and a run with nothing to change reads its facts in a few commands."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pyinfra.api import Config, FactBase, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.operation import add_op
from pyinfra.api.operations import run_ops
from pyinfra.facts.files import Directory, File, FileContents, Link, Sha1File
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

from wsready.deploy import batched_facts
from wsready.deploy.batched_facts import (
    Request,
    batch_command,
    fact_command,
    processed,
    split_batch,
)


class NeedsMissingProgram(FactBase):
    """A fact whose program is not installed: pyinfra returns its default, with a warning."""

    def requires_command(self) -> str:
        return "wsready-no-such-program"

    def command(self) -> str:
        return "echo never"


def _lines(text: str) -> list[str]:
    """Output lines as pyinfra's connectors give them (split at line ends, no last empty)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _sh(command, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", "-c", command.get_raw_value() if hasattr(command, "get_raw_value") else command],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


def _alone(req: Request, cwd: Path):
    fact, command = fact_command(req)
    done = _sh(command, cwd)
    return processed(req, fact, done.returncode, _lines(done.stdout))


def _batched(requests: list[Request], cwd: Path):
    made = [fact_command(req) for req in requests]
    nonce = "0123456789ab"
    done = _sh(batch_command([command for _fact, command in made], nonce), cwd)
    parts = split_batch(_lines(done.stdout), nonce, len(requests))
    assert sorted(parts) == list(range(len(requests))), done.stdout
    return [processed(req, made[i][0], *parts[i]) for i, req in enumerate(requests)]


def _req(fact, **kwargs) -> Request:
    return Request(fact, kwargs, {})


def test_a_batch_reads_each_fact_as_it_reads_alone(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("one\ntwo\n")
    (tmp_path / "no-end").write_text("one\ntwo")
    (tmp_path / "blank-lines").write_text("one\n\n\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("file")
    for name in ("file", "no-end", "blank-lines"):  # read once: atimes then hold (relatime)
        (tmp_path / name).read_bytes()
    requests = [
        _req(File, path=str(tmp_path / "file")),
        _req(File, path=str(tmp_path / "missing")),
        _req(Directory, path=str(tmp_path / "dir")),
        _req(Link, path=str(tmp_path / "link")),
        _req(Sha1File, path=str(tmp_path / "file")),
        _req(Sha1File, path=str(tmp_path / "missing")),
        _req(FileContents, path=str(tmp_path / "file")),
        _req(FileContents, path=str(tmp_path / "no-end")),
        _req(FileContents, path=str(tmp_path / "blank-lines")),
        _req(FileContents, path=str(tmp_path / "missing")),
        _req(Command, command="printf 'no line end'"),
        _req(Command, command="printf 'a\\n\\n\\n'"),
        _req(Command, command="printf ''"),
        _req(Command, command="echo failed; exit 3"),  # a failure pyinfra reports: not kept
        _req(Command, command="cd / && pwd"),  # a fact's cd stays in its own subshell
        _req(Command, command="pwd; cat; echo read"),  # stdin is empty, as alone
        _req(Command, command="echo before # a comment at the end"),
        _req(Command, command="exit 0"),  # exit leaves its subshell, not the batch
        _req(NeedsMissingProgram),  # reported missing: not kept
    ]
    alone = [_alone(req, tmp_path) for req in requests]
    assert _batched(requests, tmp_path) == alone
    # What the comparison holds: real answers, and the two that pyinfra does not keep.
    assert alone[0][1]["size"] == 8 and alone[1] == (True, None)
    assert alone[7] == (True, ["one", "two"]) and alone[8] == (True, ["one", "", ""])
    assert alone[10] == (True, "no line end") and alone[11] == (True, "a\n\n")
    assert alone[13] == (False, None) and alone[18] == (False, None)
    assert alone[14] == (True, "/") and alone[15] == (True, f"{tmp_path}\nread")


def test_split_batch_leaves_out_facts_whose_marker_never_came() -> None:
    lines = ["a", "", "@@n 0 0", "b", "@@n 1 2", "cut short"]
    assert split_batch(lines, "n", 3) == {0: (0, ["a"]), 1: (2, ["b"])}


# --- a host's memo under pyinfra (@local, files under tmp_path) ---------------------------


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch):
    """A pyinfra state with the @local host and its memo; `commands` lists what ran."""
    inventory = Inventory((["@local"], {}))
    state = State(inventory, Config(), check_for_changes=False)
    connect_all(state)
    current = inventory.get_host("@local")
    commands: list[str] = []
    original = current.connector.run_shell_command

    def counted(command, *args, **kwargs):
        commands.append(str(command))
        return original(command, *args, **kwargs)

    monkeypatch.setattr(current.connector, "run_shell_command", counted)
    memo = batched_facts.install(current)
    return state, current, memo, commands


def _ops(state, base: Path) -> None:
    add_op(state, files.directory, path=str(base / "d"), mode="755")
    for name in ("a", "b", "c", "e"):
        add_op(state, files.file, path=str(base / "d" / name), mode="644")
    add_op(state, files.directory, path=str(base / "d"), mode="755")


def test_a_run_with_nothing_to_change_reads_its_facts_in_a_few_commands(
    local, tmp_path: Path
) -> None:
    state, current, memo, commands = local
    (tmp_path / "d").mkdir(mode=0o755)
    for name in ("a", "b", "c", "e"):
        (tmp_path / "d" / name).touch(mode=0o644)
    _ops(state, tmp_path)
    run_ops(state)
    results = state.get_results_for_host(current)
    assert results.success_ops == 6 and results.error_ops == 0
    # 6 operations each read 1-2 facts alone (10 commands); the memo read them in 1-2.
    assert 1 <= len(commands) <= 2, commands
    assert all(not meta.operation_meta.executed for meta in state.ops[current].values())


def test_what_runs_on_the_host_empties_the_memo(local, tmp_path: Path) -> None:
    state, current, memo, commands = local
    target = tmp_path / "made"
    add_op(state, files.file, path=str(target), mode="644")  # creates it: a command runs
    add_op(state, files.file, path=str(target), mode="644")  # must see it made
    add_op(state, server.shell, commands=[f"rm {target}"], _if=lambda: False)
    run_ops(state)
    assert target.exists()
    metas = [meta.operation_meta for meta in state.ops[current].values()]
    assert metas[0].executed and not metas[1].executed
    # The walk read `made` absent; the first operation's command emptied the memo, and the
    # second read it again: the memo now holds the file as made.
    kept = [value for key, value in memo.values.items() if str(target) in key]
    assert kept and kept[0]["mode"] == 644


def test_a_fact_read_twice_between_commands_costs_one_command(local, tmp_path: Path) -> None:
    _state, current, memo, commands = local
    path = str(tmp_path / "twice")
    assert current.get_fact(File, path=path) is None
    assert current.get_fact(File, path=path) is None
    assert len(commands) == 1
    current.run_shell_command(f"touch {path}")  # not a fact: the memo forgets
    assert current.get_fact(File, path=path)["size"] == 0
    assert len(commands) == 3
