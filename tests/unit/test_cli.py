"""The dispatcher: usage errors are UNKNOWN (3), each command parses on its own."""

from __future__ import annotations

import pytest

from wsready import cli
from wsready.exitstatus import ExitStatus


def test_unknown_command_exits_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["nope"])
    assert caught.value.code == ExitStatus.UNKNOWN
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_no_command_exits_unknown() -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main([])
    assert caught.value.code == ExitStatus.UNKNOWN


@pytest.mark.parametrize("name", cli.COMMANDS)
def test_each_command_registers_alone(name: str) -> None:
    parser = cli.build_parser(only=name)
    with pytest.raises(SystemExit) as caught:
        parser.parse_args([name, "--help"])
    assert caught.value.code == 0


def test_full_parser_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in cli.COMMANDS)
