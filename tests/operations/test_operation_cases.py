"""wsready's own operations, as pyinfra tests its own: one folder per operation
(`tests/operations/<module>.<operation>/`, an operation of wsready/deploy/operations/), one
JSON case per file.

A case gives `args` and `kwargs`, the `facts` the operation reads (keyed as in fakehost.py),
optional `local_files` ({name: content}, written to the directory the case runs in), and
either the exact `commands` (with none, the `noop_description` the operation gave) or the
`exception` it raises ({"name", "message"}: a substring of the message), and a
`description` of the situation.
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import fakehost
import pytest

HERE = Path(__file__).parent
OPERATIONS = sorted(path for path in HERE.iterdir() if path.is_dir() and "." in path.name)
CASES = sorted(case for folder in OPERATIONS for case in folder.glob("*.json"))


def _operation(folder: str):
    module, name = folder.rsplit(".", 1)
    return getattr(importlib.import_module(f"wsready.deploy.operations.{module}"), name)


def _declared() -> dict[str, object]:
    """Every operation of wsready/deploy/operations/, by "<module>.<operation>"."""
    package = HERE.parent.parent / "wsready" / "deploy" / "operations"
    declared = {}
    for module in package.glob("*.py"):
        loaded = importlib.import_module(f"wsready.deploy.operations.{module.stem}")
        declared |= {
            f"{module.stem}.{name}": value
            for name, value in vars(loaded).items()
            if callable(value) and hasattr(value, "_inner") and value.__module__ == loaded.__name__
        }
    return declared


def test_every_operation_has_cases() -> None:
    """Each operation of wsready/deploy/operations/ has a folder, with a changing case and a
    noop case."""
    declared = _declared()
    assert declared and set(declared) == {folder.name for folder in OPERATIONS}
    for folder in OPERATIONS:
        cases = [json.loads(case.read_text()) for case in folder.glob("*.json")]
        assert any(case.get("commands") for case in cases), f"{folder.name}: no changing case"
        assert any(case.get("noop_description") for case in cases), f"{folder.name}: no noop case"


def test_every_operation_is_documented_like_pyinfras() -> None:
    """Each operation's docstring has a `+ arg:` line per argument and an **Example** calling
    it as `<module>.<operation>(`, and docs/architecture.md's table names it."""
    architecture = (HERE.parent.parent / "docs" / "architecture.md").read_text()
    for full_name, operation in _declared().items():
        module, name = full_name.split(".")
        doc = inspect.getdoc(operation._inner) or ""
        arguments = inspect.signature(operation._inner).parameters
        missing = [arg for arg in arguments if f"+ {arg}:" not in doc]
        assert not missing, f"{full_name}: no `+ arg:` line for {missing}"
        assert "**Example:**" in doc and f"{full_name}(" in doc, f"{full_name}: no example"
        row = next(
            (line for line in architecture.splitlines() if line.startswith(f"| `{module}`")), ""
        )
        assert f"`{name}`" in row, f"{full_name} is not in docs/architecture.md's table"


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_operation_case(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = json.loads(path.read_text())
    for name, content in case.get("local_files", {}).items():
        (tmp_path / name).write_text(content)
    monkeypatch.chdir(tmp_path)
    operation = _operation(path.parent.name)
    run = lambda: fakehost.run_operation(  # noqa: E731
        operation, case.get("args", []), case.get("kwargs", {}), case.get("facts", {})
    )
    if "exception" in case:
        with pytest.raises(Exception) as raised:
            run()
        assert type(raised.value).__name__ == case["exception"]["name"]
        assert case["exception"]["message"] in str(raised.value)
        return
    result = run()
    assert result.commands == case["commands"], case["description"]
    if not case["commands"]:  # a case without commands says why nothing changed
        assert result.noops == [case["noop_description"]], case["description"]
