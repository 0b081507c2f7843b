"""The dnf.conf proxy line wsready removes is exactly the one it wrote (real sed and grep)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wsready.deploy.proxy_conf import sed_literal

OTHERS = [
    "[main]",
    "#proxy={url}",
    "proxy={url}0",
    "proxy=http://corp-proxy:8080",
    "xproxy={url}",
]


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:3128", "http://proxy.internal:3128/", "http://[fd00::1]:3128"]
)
def test_sed_deletes_only_the_exact_line(tmp_path: Path, url: str) -> None:
    others = [line.format(url=url) for line in OTHERS]
    conf = tmp_path / "dnf.conf"
    conf.write_text("\n".join([others[0], f"proxy={url}", *others[1:]]) + "\n")
    pattern = f"^proxy={sed_literal(url)}$"
    found = subprocess.run(["grep", "-e", pattern, str(conf)], capture_output=True, text=True)
    assert found.stdout.splitlines() == [f"proxy={url}"]
    script = "/" + pattern.replace("/", r"\/") + "/d"
    subprocess.run(["sed", "-i", script, str(conf)], check=True)
    assert conf.read_text().splitlines() == others
