"""wsready/deploy/op_order.py gives pyinfra's operation order exactly, from every depth of
a call stack and from a call written over several lines."""

from __future__ import annotations

import sys

import pyinfra
import pytest
from pyinfra.api.util import get_operation_order_from_stack

from wsready.deploy import op_order

# pyinfra's function is imported above before any install(); the module's name is patched.
OPERATION_MODULE = sys.modules["pyinfra.api.operation"]


class FakeState:
    current_deploy_filename = __file__
    current_op_file_number = 7


def _both(state):
    return get_operation_order_from_stack(state), op_order.operation_order(state)


def _nested(depth: int, state):
    if depth:
        return _nested(
            depth - 1,
            state,
        )
    return _both(state)


@pytest.mark.parametrize("depth", [0, 1, 4])
@pytest.mark.parametrize("cli", [True, False])
def test_the_order_is_pyinfras(depth: int, cli: bool, monkeypatch) -> None:
    monkeypatch.setattr(pyinfra, "is_cli", cli)
    original, fast = _nested(depth, FakeState())
    assert fast == original
    assert len(original) >= depth + 2  # this file's frames are in it


def test_without_the_deploy_file_in_the_stack(monkeypatch) -> None:
    monkeypatch.setattr(pyinfra, "is_cli", True)
    state = FakeState()
    state.current_deploy_filename = "/nowhere/deploy.py"
    original, fast = _both(state)
    assert fast == original


def test_install_replaces_pyinfras_for_the_operations(monkeypatch) -> None:
    monkeypatch.setattr(OPERATION_MODULE, "get_operation_order_from_stack", None)
    op_order.install()
    assert OPERATION_MODULE.get_operation_order_from_stack is op_order.operation_order
