"""tasks/monitor.py on a real sandbox host: the timer runs `wsready check` on itself, a dead
target and another fleet host (over the sandbox LAN) and keeps a fresh, parsable Prometheus
file; the token sits only in a 0600 root file. The status page: the monitor host's nginx
serves it at /status (allowed CIDR + basic auth); with the other fleet host's app stopped it
shows that host CRITICAL with the app layer and its fix, the monitor itself OK; a client
outside the allowed CIDRs gets 403; headless chromium renders it; restarted, the host is OK
again on the page."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import RELEASES, Fleet, exposure, fleet_of, host_ssh, run_deploy
from tests.waiting import wait_for
from wsready import sandbox
from wsready.deploy import families
from wsready.fleet import onboard
from wsready.inventory import host_data

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=RELEASES)
def fleet(request: pytest.FixtureRequest) -> Fleet:
    """This module runs on the bookworm fleet and on the trixie one (what differs between
    releases: systemd timers, nginx's status page)."""
    return fleet_of(request)


ROOT = Path(__file__).resolve().parents[2]
DEPLOY_MONITOR = ROOT / "tests" / "e2e" / "deploy_monitor.py"
PROM_FILE = "/var/lib/node_exporter/textfile/wsready.prom"
TOKEN_VARIABLE = "WSREADY_E2E_MONITOR_TOKEN"
TOKEN = "monitor-e2e-token-7f3a"
INTERVAL_S = 10
MAX_EXPOSURE = 4.0  # systemd-analyze security: "OK" up to here
DOWN_TARGET = "http://127.0.0.1:1"  # nothing listens there: must show up as CRITICAL
DEAD_WEBHOOK = "http://127.0.0.1:9/hook"  # on the monitor itself; nothing listens either
STATUS_USER, STATUS_PASSWORD = "ops", "status-e2e-pass-4b1d"
SCREENSHOT = os.environ.get("WSREADY_STATUS_SCREENSHOT")  # keep the e2e page's screenshot


def build_wheelhouse(directory: Path, python: str | None = None) -> Path:
    """Wheels of wsready and its pinned dependencies (sandbox hosts reach no package index),
    for `python` (the host's python3 major.minor) when it is not this one's: wsready built
    here, its dependencies downloaded as binary wheels for that version."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python not in (None, here):
        pip = [sys.executable, "-m", "pip"]
        subprocess.run(
            [*pip, "wheel", "--quiet", "--no-deps", "-w", str(directory), "setuptools>=68",
             str(ROOT)],
            check=True, timeout=600,
        )  # fmt: skip
        (wheel,) = directory.glob("wsready-*.whl")
        subprocess.run(
            [*pip, "download", "--quiet", "--only-binary=:all:", "--implementation", "cp",
             "--python-version", python, "--platform", "manylinux2014_x86_64",
             "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux_2_28_x86_64",
             "--platform", "linux_x86_64", "-d", str(directory), str(wheel)],
            check=True, timeout=600,
        )  # fmt: skip
        return directory
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "-w",
            str(directory),
            "setuptools>=68",
            str(ROOT),
        ],  # fmt: skip
        check=True,
        timeout=600,
    )
    return directory


def host_python(host: sandbox.SandboxHost) -> str:
    """major.minor of the python3 the host's release installs (families.RELEASES)."""
    os_release = onboard.parse_os_release(host_ssh(host, "cat /etc/os-release"))
    release = families.release(os_release.get("ID", ""), os_release.get("VERSION_ID", ""))
    return release.proven_versions["python"]


def monitor_inventory(fleet_inventory: Path, monitor: str, extra: dict, path: Path) -> Path:
    """The fleet's inventory with `monitor` in the monitors group and `extra` host data."""
    hosts = host_data(fleet_inventory)
    entries = [
        (name, {**data, **extra} if name == monitor else data) for name, data in hosts.items()
    ]
    path.write_text(f"fleet = {entries!r}\nmonitors = [{monitor!r}]\n")
    return path


def prom_state(host: sandbox.SandboxHost) -> tuple[float, str] | None:
    """(mtime, content) of the Prometheus file on `host`, None while it does not exist."""
    out = host_ssh(host, f"stat -c %Y {PROM_FILE} 2>/dev/null && cat {PROM_FILE}", check=False)
    if not out.strip():
        return None
    mtime, _, content = out.partition("\n")
    return float(mtime), content


def install_and_prove(
    inventory: Path, host: sandbox.SandboxHost, tmp_path: Path, peer: sandbox.SandboxHost
) -> None:
    """Install the monitor on `host` and prove the timer. It checks itself, a dead target and
    `peer`, another fleet host, over the sandbox LAN (as a monitor in a VPC would)."""
    peer_url = f"http://{peer.lan_address}"
    htpasswd = subprocess.run(
        ["openssl", "passwd", "-apr1", STATUS_PASSWORD],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    extra = {
        "monitor_interval_s": INTERVAL_S,
        "monitor_targets": [f"http://{host.address}", DOWN_TARGET, peer_url],
        "monitor_token_env": TOKEN_VARIABLE,
        "monitor_alert_webhook": DEAD_WEBHOOK,
        "monitor_wheelhouse": str(build_wheelhouse(tmp_path / "wheels", host_python(host))),
        # Only this machine (its side of the host's veth) may see the page: the other fleet
        # host, on the sandbox LAN, is a client outside the allowed CIDRs.
        "monitor_status_allow_cidrs": [f"{host.gateway}/32"],
        "monitor_status_htpasswd": f"{STATUS_USER}:{htpasswd}",
    }
    inventory = monitor_inventory(inventory, host.name, extra, tmp_path / "monitor_fleet.py")
    os.environ[TOKEN_VARIABLE] = TOKEN
    try:
        # The whole deploy (its nginx step includes the status location on a monitor host),
        # on the monitor host only.
        result = run_deploy(inventory, "--limit", host.name)
    finally:
        del os.environ[TOKEN_VARIABLE]
    assert result.returncode == 0, str(result)
    assert TOKEN not in result.output
    assert htpasswd not in result.output and STATUS_PASSWORD not in result.output
    assert host_ssh(host, "stat -c '%a %U %G' /etc/wsready/status/htpasswd").strip() == (
        "640 root www-data"
    )

    assert host_ssh(host, "systemctl is-enabled wsready-monitor.timer").strip() == "enabled"
    assert host_ssh(host, "systemctl is-active wsready-monitor.timer").strip() == "active"
    assert host_ssh(host, "stat -c '%a %U' /etc/wsready-monitor/env").strip() == "600 root"
    assert host_ssh(host, "cat /etc/wsready-monitor/env") == (
        f"WSREADY_MONITOR_TOKEN={TOKEN}\nWSREADY_MONITOR_WEBHOOK={DEAD_WEBHOOK}\n"
    )
    unit = host_ssh(host, "systemctl cat wsready-monitor.service")
    assert TOKEN not in unit and "--token-env WSREADY_MONITOR_TOKEN" in unit
    assert DEAD_WEBHOOK not in unit and "--alert-webhook-env WSREADY_MONITOR_WEBHOOK" in unit
    # Sandboxed by systemd: the monitor's check and the nginx serving its status page.
    for sandboxed in ("wsready-monitor.service", "nginx.service"):
        rating = exposure(host, sandboxed)
        print(f"{host.name}: {sandboxed} exposure {rating}")
        assert rating <= MAX_EXPOSURE, f"{sandboxed} rated {rating}"

    first = wait_for(lambda: prom_state(host), 90, f"{PROM_FILE} on {host.name}", interval_s=1)
    fresher = wait_for(
        lambda: prom_state(host),
        INTERVAL_S * 4 + 30,
        f"the timer to rewrite {PROM_FILE}",
        until=lambda state: state and state[0] > first[0],
        interval_s=1,
    )
    now = float(host_ssh(host, "date +%s"))
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(fresher[1])
        for sample in family.samples
    }
    own = f"http://{host.address}"
    healthy = [own, peer_url]
    for target in healthy:
        assert samples[("wsready_target_status", (("target", target),))] == 0, target
        for probe in ("health", "upgrade", "connect", "rest-auth"):  # rest-auth: token arrived
            assert samples[("wsready_probe_success", (("probe", probe), ("target", target)))] == 1
    assert samples[("wsready_target_status", (("target", DOWN_TARGET),))] == 2
    assert samples[("wsready_probe_success", (("probe", "tcp"), ("target", DOWN_TARGET)))] == 0
    assert now - samples[("wsready_check_timestamp_seconds", ())] <= INTERVAL_S * 2 + 30
    # The webhook URL reached the check through systemd: each run tries the alert for the dead
    # target, fails, says so without the URL, and keeps that target's state for a retry.
    journal = host_ssh(host, "journalctl -u wsready-monitor.service -o cat --no-pager")
    refused = f"alert for {DOWN_TARGET} (NEW -> CRITICAL) not delivered: cannot connect"
    assert journal.count(refused) >= 2 and DEAD_WEBHOOK not in journal
    state = json.loads(host_ssh(host, "cat /var/lib/wsready-monitor/state.json"))["targets"]
    assert all(state[target]["status"] == "OK" for target in healthy)
    assert "status" not in state[DOWN_TARGET]  # its alert was never delivered
    assert [run["status"] for run in state[DOWN_TARGET]["history"]][-2:] == ["CRITICAL"] * 2
    assert all(run["status"] == "OK" for t in healthy for run in state[t]["history"])
    runs = host_ssh(
        host, "journalctl -u wsready-monitor.service -o cat --no-pager | grep -c 'targets ('"
    )
    assert int(runs.strip()) >= 2


def status_page(
    host: sandbox.SandboxHost, auth: tuple[str, str] | None = None
) -> requests.Response:
    return requests.get(f"http://{host.address}/status", auth=auth, timeout=5)


def sections(page: str) -> dict[str, dict[str, str]]:
    """target -> {status, layer, html} of each target's <section> on the page."""
    found = re.findall(
        r'(<section class="target[^>]*data-target="([^"]+)" data-status="([^"]+)" '
        r'data-layer="([^"]*)".*?</section>)',
        page,
        re.S,
    )
    return {
        name: {"status": status, "layer": layer, "html": html}
        for html, name, status, layer in found
    }


@dataclass(frozen=True)
class Page:
    """The status page as served: its HTTP status and each target's shown status."""

    code: int
    shown: dict[str, str]
    text: str = field(repr=False)


def wait_page(
    host: sandbox.SandboxHost, wanted: dict[str, str], timeout_s: float, what: str
) -> str:
    """The page's HTML once every target in `wanted` shows the wanted status."""

    def served() -> Page:
        response = status_page(host, (STATUS_USER, STATUS_PASSWORD))
        shown = {name: item["status"] for name, item in sections(response.text).items()}
        return Page(response.status_code, shown, response.text)

    def shows(page: Page) -> bool:
        return page.code == 200 and all(page.shown.get(t) == s for t, s in wanted.items())

    return wait_for(served, timeout_s, what, until=shows, interval_s=1).text


def render_in_chromium(page: str, directory: Path) -> str:
    """The DOM of `page` in headless chromium (a screenshot kept when asked)."""
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is needed (run scripts/setup)"
    file = directory / "status.html"
    file.write_text(page)
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
    ]  # fmt: skip
    dom = subprocess.run(
        [
            browser,
            *flags,
            f"--user-data-dir={directory / 'profile-dom'}",
            "--dump-dom",
            file.as_uri(),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    if SCREENSHOT:
        subprocess.run(
            [
                browser,
                *flags,
                f"--user-data-dir={directory / 'profile-shot'}",
                "--window-size=900,1600",
                f"--screenshot={SCREENSHOT}",
                file.as_uri(),
            ],  # fmt: skip
            capture_output=True,
            timeout=120,
            check=True,
        )
    return dom


def prove_status_page(host: sandbox.SandboxHost, peer: sandbox.SandboxHost, tmp_path: Path) -> None:
    """The peer's app stopped: the page shows it CRITICAL (app layer, fix), the monitor OK;
    outside the CIDRs 403, without the password 401; the peer restarted shows OK again."""
    own, peer_url = f"http://{host.address}", f"http://{peer.lan_address}"
    assert status_page(host).status_code == 401  # allowed address, no password
    outside = host_ssh(
        peer,
        f"curl -s -o /dev/null -w '%{{http_code}}' -u {STATUS_USER}:{STATUS_PASSWORD} "
        f"http://{host.lan_address}/status",
        check=False,
    )
    assert outside == "403", outside  # the right password, from outside the allowed CIDRs
    page = wait_page(host, {own: "OK", peer_url: "OK"}, 60, "a page")
    headers = status_page(host, (STATUS_USER, STATUS_PASSWORD)).headers
    assert headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'sha256-")

    host_ssh(peer, "systemctl stop wsready-app.target")
    try:
        page = wait_page(
            host,
            {own: "OK", peer_url: "CRITICAL"},
            INTERVAL_S * 3 + 30,
            "the page to show the stopped app",
        )
        shown = sections(page)
        assert shown[peer_url]["layer"] == "app"
        assert "Broken layer: <strong>app</strong>" in shown[peer_url]["html"]
        assert "systemctl restart wsready-app.target" in shown[peer_url]["html"]  # the fix
        assert shown[own]["layer"] == "" and "Broken layer" not in shown[own]["html"]
        assert shown[DOWN_TARGET]["status"] == "CRITICAL" and shown[DOWN_TARGET]["layer"] == "tcp"
        dom = sections(render_in_chromium(page, tmp_path))
        assert {name: item["status"] for name, item in dom.items()} == {
            own: "OK", peer_url: "CRITICAL", DOWN_TARGET: "CRITICAL"
        }  # fmt: skip
        assert "systemctl restart wsready-app.target" in dom[peer_url]["html"]
    finally:
        host_ssh(peer, "systemctl start wsready-app.target")
    page = wait_page(
        host, {own: "OK", peer_url: "OK"}, INTERVAL_S * 3 + 30, "the page to show the peer OK again"
    )
    assert "not OK" in sections(page)[peer_url]["html"]  # the CRITICAL runs in its sparkline


def remove_monitor(host: sandbox.SandboxHost, fleet_inventory: Path | None = None) -> None:
    """Leave the shared host as the deploy made it: no timer, no units, no status page; the
    fleet's own deploy puts its nginx site back (without the status include)."""
    host_ssh(
        host,
        "systemctl disable --now wsready-monitor.timer; cd /etc/systemd/system && "
        "rm -f wsready-monitor.service wsready-monitor.timer && systemctl daemon-reload; "
        "rm -rf /etc/wsready/status",
        check=False,
    )
    if fleet_inventory is not None:
        result = run_deploy(fleet_inventory, "--limit", host.name)
        assert result.returncode == 0, str(result)


def test_monitor_timer_writes_a_fresh_prometheus_file(fleet: Fleet, tmp_path: Path) -> None:
    assert fleet.deploy.returncode == 0, str(fleet.deploy)
    monitor, peer = fleet.hosts[0], fleet.hosts[1]
    try:
        install_and_prove(fleet.inventory, monitor, tmp_path, peer)
        prove_status_page(monitor, peer, tmp_path)
    finally:
        remove_monitor(monitor, fleet.inventory)


if __name__ == "__main__":
    # On a sandbox of your own (two hosts, deployed):
    #   python -m tests.e2e.test_monitor INVENTORY HOST_NAME PEER_NAME [--keep]
    import tempfile

    own, peer = (sandbox.host(name) for name in sys.argv[2:4])
    with tempfile.TemporaryDirectory() as scratch:
        try:
            install_and_prove(Path(sys.argv[1]), own, Path(scratch), peer)
            print("monitor proven on", own.name)
        finally:
            if "--keep" not in sys.argv:
                remove_monitor(own)
