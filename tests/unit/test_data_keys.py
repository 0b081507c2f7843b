"""Each data key is declared once, in inventory/group_data/all.py (`key: "kind" = default`
under its documentation); everything else that names keys is held against that here: the
rules (wsready/hostdata/contract.py), HostConfig's typed fields, the hostile corpora (unit:
derived from the kinds; e2e: a sample of keys)."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

from tests.e2e.test_hostile_data import SAMPLE
from wsready.hostdata import HostConfig, contract, load_defaults
from wsready.hostdata.config import DATA_KEYS, LOCAL_PATHS

DECLARED = contract.declared()
FIELDS = {field.name: field for field in dataclasses.fields(HostConfig)}
HINTS = typing.get_type_hints(HostConfig)


def _types(key: str) -> set[object]:
    """The types a HostConfig field may hold (Literal values as their types)."""
    hint = HINTS[key]
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    parts = typing.get_args(hint) if union else (hint,)
    found: set[object] = set()
    for part in parts:
        if typing.get_origin(part) is typing.Literal:
            found |= {type(value) for value in typing.get_args(part)}
        else:
            found.add(typing.get_origin(part) or part)
    return found


def test_every_key_of_all_py_is_declared_with_a_kind() -> None:
    assert set(DECLARED) == set(load_defaults())
    assert {declared.kind for declared in DECLARED.values()} <= contract.KINDS


def test_every_declared_key_has_one_rule_and_no_rule_is_undeclared() -> None:
    assert set(contract.CHECKS) == set(DECLARED)


def test_every_declared_key_is_a_hostconfig_field_of_its_kind() -> None:
    assert set(DATA_KEYS) == set(DECLARED)
    for key, declared in DECLARED.items():
        held = _types(key)
        assert (Path in held) == (declared.kind == contract.LOCAL_KIND), (key, held)
        assert (key in LOCAL_PATHS) == (declared.kind == contract.LOCAL_KIND), key
        if declared.accepts_none:
            assert type(None) in held, (key, held)
        if declared.kind == "bool":
            assert bool in held, (key, held)
        if declared.kind == "number":
            assert int in held, (key, held)
        if declared.kind.endswith("_list"):
            assert tuple in held, (key, held)


def test_secrets_are_kept_out_of_the_hostconfig_repr() -> None:
    for key, declared in DECLARED.items():
        if declared.secret or declared.kind == "env":  # env values often are secrets
            assert FIELDS[key].repr is False, key


def test_the_e2e_sample_names_declared_keys() -> None:
    assert {key for key, _value in SAMPLE} <= set(DECLARED)


def test_a_kind_outside_the_vocabulary_is_refused(tmp_path: Path) -> None:
    defaults = tmp_path / "all.py"
    defaults.write_text('good: "url or None" = None\nbad: "colour" = "red"\n')
    try:
        contract.declared(defaults)
    except RuntimeError as error:
        assert "bad: 'colour' is not a kind" in str(error)
    else:
        raise AssertionError("an unknown kind was accepted")
    defaults.write_text('good: "url or None" = None\n')
    assert contract.declared(defaults)["good"] == contract.Declared("url", accepts_none=True)
