"""pyinfra's operation order, worked out without reading source files.

In CLI mode pyinfra orders each operation by the line numbers of the deploy code that called
it (`pyinfra.api.util.get_operation_order_from_stack`, called once per operation per host
while planning). It builds them with `inspect.stack()` and `inspect.getframeinfo(frame)`,
which read the source lines around every frame of the call stack (`findsource`, and
`getmodule` over every loaded module) only to drop them: 53 operations cost 0.43-0.53 s per
host on the 2-core machine under load, serially per host (docs/benchmarks.md §8). This is
the same computation over the same frames with `getframeinfo(frame, context=0)`: the same
file names and line numbers, no source read. `install()` puts it in place of pyinfra's for
the run (pyinfra is pinned; tests/unit/test_op_order.py holds the two equal).
"""

from __future__ import annotations

import sys
from inspect import getframeinfo

import pyinfra
from pyinfra.api.util import PYINFRA_INSTALL_DIR

_operation_module = sys.modules["pyinfra.api.operation"]


def operation_order(state) -> list[int]:
    """`get_operation_order_from_stack(state)`: the line numbers of the calling frames after
    the first frame of the deploy file, pyinfra's own frames left out."""
    frames = []
    frame = sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    names = [getframeinfo(each, context=0).filename for each in frames]
    first = 0
    if state.current_deploy_filename:
        # pyinfra's loop ends on its own frame when the deploy file is not in the stack
        first = next(
            (index for index, name in enumerate(names) if name == state.current_deploy_filename),
            len(frames),
        )
    line_numbers = [state.current_op_file_number] if pyinfra.is_cli else []
    for each, name in zip(frames[first:], names[first:], strict=True):
        if not name.startswith(PYINFRA_INSTALL_DIR):
            line_numbers.append(getframeinfo(each, context=0).lineno)
    return line_numbers


def install() -> None:
    """Use `operation_order` for the operations planned from now on in this process."""
    _operation_module.get_operation_order_from_stack = operation_order
