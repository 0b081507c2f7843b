"""Facts in, commands out: every fixtures/*.json case, as in pyinfra's own operation tests.

Each fixture names a deploy function ("module:function"), host data, facts and the exact
commands expected (uploads as {"upload": dest, "lines": content}). Covers the paths that
cannot run here (NodeSource, Amazon Linux 2023) and no-change runs that must yield nothing.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import fakehost
import pytest

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.json"))


def _deploy(spec: str):
    module, function = spec.split(":")
    return getattr(importlib.import_module(module), function)


def test_fixtures_exist() -> None:
    names = {path.stem for path in FIXTURES}
    assert {
        "nodejs_nodesource_debian12",
        "nodejs_nodesource_ubuntu2404_upgrade",
        "nodejs_al2023",
        "nodejs_binary_installed",
        "nodejs_distro_debian12",
        "proxy_set",
        "proxy_unset",
    } <= names


@pytest.mark.parametrize("path", FIXTURES, ids=[path.stem for path in FIXTURES])
def test_fixture(path: Path) -> None:
    case = json.loads(path.read_text())
    results = fakehost.run(_deploy(case["deploy"]), case["facts"], case["data"])
    assert fakehost.commands(results) == case["commands"], case["description"]
