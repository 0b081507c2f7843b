"""The status page rendered by a real headless browser (Debian's chromium): the DOM holds each
target's state, the broken layer and the fix; the page's own strict CSP blocks nothing on
it; a screenshot is taken (WSREADY_STATUS_SCREENSHOT=PATH keeps it, e.g. docs/status-page.png)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.loopback_fleet import loopback_fleet, run_checks

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is needed (run scripts/setup)"
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"  # fresh each run
    return subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("statuspage")
    with loopback_fleet(directory) as inventory:
        run = run_checks(inventory, directory, runs=3)
    assert run.exit_codes == [2, 2, 2], run.output
    return run.html


def sections(dom: str) -> dict[str, str]:
    """target name -> the HTML of its <section> in the DOM."""
    found = re.findall(
        r'(<section class="target[^>]*data-target="([^"]+)".*?</section>)', dom, re.S
    )
    return {name: html for html, name in found}


def test_chromium_dom_holds_states_layers_and_fixes(page: Path, tmp_path: Path) -> None:
    result = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    found = sections(dom)
    assert set(found) == {"web-ok", "web-502", "tls-1"}
    assert 'data-status="OK" data-layer=""' in found["web-ok"]
    assert "Broken layer" not in found["web-ok"]
    assert 'data-status="CRITICAL" data-layer="app"' in found["web-502"]
    assert "systemctl restart wsready-app.target" in found["web-502"]  # the fix
    assert 'data-status="CRITICAL" data-layer="proxy upgrade"' in found["tls-1"]
    assert "proxy_set_header Upgrade $http_upgrade" in found["tls-1"]
    assert "80 days left" in found["tls-1"]
    assert "Clients</dt><dd>" in found["web-ok"]
    # Three runs of history: a sparkline per target, the layer table of diagnose.
    assert all("<svg" in html and "last 3 runs" in html for html in found.values())
    assert all("<th>Layer</th>" in html for html in found.values())
    # Nothing on the page was refused by its Content-Security-Policy, nothing was fetched.
    assert "Content Security Policy" not in result.stderr
    assert "<script" not in dom


def test_csp_violations_would_show_in_the_browser_log(page: Path, tmp_path: Path) -> None:
    """The check above is meaningful: an inline style attribute is refused and logged."""
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text().replace("<h1>", '<h1 style="color:red">', 1))
    result = chromium(tmp_path, "--dump-dom", broken.as_uri())
    assert "Content Security Policy" in result.stderr


def test_chromium_screenshot(page: Path, tmp_path: Path) -> None:
    keep = os.environ.get("WSREADY_STATUS_SCREENSHOT")
    shot = Path(keep) if keep else tmp_path / "status.png"
    result = chromium(tmp_path, "--window-size=900,1500", f"--screenshot={shot}", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
