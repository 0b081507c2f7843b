"""`wsready diagnose` on really broken sandbox hosts: the runbook's ten cases.

Each case breaks a deployed host for real (stops a service, rewrites the nginx site or the
app's environment, drops packets), waits until the host serves the broken state (the site's
X-Wsready-Config answers with the edit's marker; every app worker is a new, listening
process), runs the CLI from the host machine, checks the named layer and a non-OK exit, then
undoes the change and waits the same way, then until the host is healthy again.
Edits keep the original beside the file (`sed -i.wsr-bak`) and are undone with `mv`, so the
shared fleet needs no redeploy. Host 0 takes the nginx and app-environment edits, host 1 the
stopped services and the firewall drop.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import Fleet, host_ssh, redeploy
from tests.waiting import wait_for
from wsready.exitstatus import ExitStatus
from wsready.probes import Target, run_probes
from wsready.probes.diagnosis import diagnose
from wsready.probes.http import FINGERPRINT_HEADER

pytestmark = pytest.mark.e2e

NGINX_SITE = "/etc/nginx/conf.d/wsready.conf"
APP_ENV = "/etc/wsready-app/env"
APP_UNIT = "wsready-app.target"  # stops, starts and restarts every worker (PartOf)
APP_WORKERS = "wsready-app@*.service"
BACKUP = ".wsr-bak"
RELOAD_NGINX = "nginx -t -q && systemctl reload nginx"
RESTART_APP = f"systemctl restart {APP_UNIT}"
HEALTHY_WITHIN_S = 30


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    """`wsready diagnose ARGS --json` as a process: (exit code, its document, all its output)."""
    command = [sys.executable, "-m", "wsready.cli", "diagnose", *args, "--json"]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )
    document = json.loads(completed.stdout)
    diagnosis = document["diagnosis"]
    # The table output's headline (format checked by tests/unit/test_probes_loopback.py).
    print(
        f"\n$ wsready diagnose {' '.join(args)}\n  -> exit {completed.returncode}: "
        f"Broken layer: {diagnosis['layer']} — {diagnosis['title']}"
    )
    return completed.returncode, document, completed.stdout + completed.stderr


def wait_healthy(url: str) -> None:
    target = Target(url)
    wait_for(
        lambda: diagnose(target, run_probes(target, timeout_s=3)),
        HEALTHY_WITHIN_S,
        f"{url} healthy again",
        until=lambda diagnosis: diagnosis.status == ExitStatus.OK,
    )


def site_fingerprint(url: str) -> str | None:
    """The X-Wsready-Config of the nginx worker that answers `url` now."""
    return requests.get(f"{url}/api/health", timeout=3).headers.get(FINGERPRINT_HEADER)


def worker_units(host) -> list[str]:
    """The app's worker units running now (a stopped one is unloaded: name them while up)."""
    listed = host_ssh(host, f"systemctl list-units --plain --no-legend '{APP_WORKERS}'")
    units = [line.split()[0] for line in listed.splitlines() if line.strip()]
    assert units, f"no {APP_WORKERS} running"
    return units


def worker_pids(host, units: list[str]) -> list[str]:
    """MainPID of each of `units` ('0' while one is stopped)."""
    return host_ssh(host, f"systemctl show --property MainPID --value {' '.join(units)}").split()


def listening_pids(host) -> set[str]:
    return set(re.findall(r"pid=(\d+)", host_ssh(host, "ss -Hltnp")))


def wait_workers_replaced(host, units: list[str], before: list[str]) -> None:
    """Until every app worker is a process that was not running `before` and listens (a
    Type=simple unit is "started" once forked, before the app binds its port)."""
    wait_for(
        lambda: (worker_pids(host, units), listening_pids(host)),
        HEALTHY_WITHIN_S,
        "every app worker restarted and listening",
        until=lambda seen: (
            len(seen[0]) == len(before)
            and "0" not in seen[0]
            and not set(seen[0]) & set(before)
            and set(seen[0]) <= seen[1]
        ),
    )


def wait_workers_stopped(host, units: list[str]) -> None:
    wait_for(
        lambda: host_ssh(host, f"systemctl is-active {' '.join(units)}", check=False).split(),
        30,
        "every app worker stopped",
        until=lambda states: states == ["inactive"] * len(units),
    )


def nginx_workers(host) -> set[str]:
    """PIDs of the nginx workers that accept connections (not those shutting down)."""
    out = host_ssh(host, 'ps --ppid "$(cat /run/nginx.pid)" -o pid=,args=')
    rows = [line.split(None, 1) for line in out.splitlines() if line.strip()]
    return {pid for pid, title in rows if title.rstrip().endswith("worker process")}


def wait_site(host, url: str, fingerprint: str, old_workers: set[str]) -> None:
    """Until nginx answers `url` with the site whose X-Wsready-Config is `fingerprint` and
    none of `old_workers` accepts any more (a reload only asks them to finish; until they
    do, a connection may still reach the old site)."""
    wait_for(
        lambda: (site_fingerprint(url), nginx_workers(host) & old_workers),
        30,
        f"the site {fingerprint} answering from new nginx workers only",
        until=lambda seen: seen == (fingerprint, set()),
    )


@contextlib.contextmanager
def broken(
    host, url: str, break_command: str, undo_command: str, *, site: bool = False, app: bool = False
) -> Iterator[None]:
    """Break `host`, wait until it serves the broken state (`site`: the edited nginx site;
    `app`: restarted workers), and whatever happens, undo it, wait until the undo serves, and
    until it is healthy again."""
    original = site_fingerprint(url) if site else None
    workers = nginx_workers(host) if site else set()
    units = worker_units(host) if app else []
    pids = worker_pids(host, units) if app else []
    try:
        host_ssh(host, break_command)
        if site:
            wait_site(host, url, MARKER, workers)
            workers = nginx_workers(host)
        if app:
            wait_workers_replaced(host, units, pids)
            pids = worker_pids(host, units)
        yield
    finally:
        host_ssh(host, undo_command)
        if original is not None:
            wait_site(host, url, original, workers)
        if app:
            wait_workers_replaced(host, units, pids)
        wait_healthy(url)


MARKER = secrets.token_hex(8)  # the edited site's X-Wsready-Config: its answers are known
SITE_MARKED = f's/{FINGERPRINT_HEADER} "[0-9a-f]*"/{FINGERPRINT_HEADER} "{MARKER}"/;'


def edit(path: str, sed_script: str, then: str) -> str:
    if path == NGINX_SITE:  # every answer of the edited site names it
        sed_script = f"'{SITE_MARKED} {sed_script.strip(chr(39))}'"
    return f"sed -i{BACKUP} {sed_script} {path} && {then}"


def undo(path: str, then: str) -> str:
    return f"mv -f {path}{BACKUP} {path} && {then}"


def assert_diagnosed(result: tuple[int, dict, str], layer: str, code: str) -> dict:
    exit_code, document, _text = result
    diagnosis = document["diagnosis"]
    assert (diagnosis["layer"], diagnosis["code"]) == (layer, code), diagnosis
    assert exit_code != 0
    assert exit_code == diagnosis["exit_code"] == 2
    return diagnosis


@pytest.fixture(scope="module")
def hosts(fleet: Fleet):
    assert fleet.deploy.returncode == 0, fleet.deploy.output[-3000:]
    urls = [f"http://{host.address}" for host in fleet.hosts[:2]]
    for url in urls:
        wait_healthy(url)
    return fleet.hosts[:2], urls


def test_a_name_does_not_resolve() -> None:
    assert_diagnosed(run_cli("http://wsr-nope.invalid", "--timeout", "3"), "dns", "name-unresolved")


def test_b_connection_refused_when_nginx_is_stopped(hosts) -> None:
    (_, host), (_, url) = hosts
    with broken(host, url, "systemctl stop nginx", "systemctl start nginx"):
        assert_diagnosed(run_cli(url, "--timeout", "3"), "tcp", "connection-refused")


def test_c_timeout_when_a_firewall_drops_port_80(hosts) -> None:
    (_, host), (_, url) = hosts
    rule = "INPUT -p tcp --dport 80 -j DROP -m comment --comment wsready-diagnose-test"
    with broken(host, url, f"iptables -I {rule}", f"iptables -D {rule}"):
        started = time.monotonic()
        diagnosis = assert_diagnosed(run_cli(url, "--timeout", "2"), "tcp", "connection-timeout")
        assert "firewall or security group" in diagnosis["title"]
        assert "security group" in diagnosis["fix"] and "ufw" in diagnosis["fix"]
        assert time.monotonic() - started < 20


def test_d_nginx_up_app_down(hosts) -> None:
    (_, host), (_, url) = hosts
    units = worker_units(host)
    with broken(host, url, f"systemctl stop {APP_UNIT}", f"systemctl start {APP_UNIT}"):
        wait_workers_stopped(host, units)
        diagnosis = assert_diagnosed(run_cli(url, "--timeout", "3"), "app", "app-down")
        assert "502 on /api/health and 502 on /ws" in diagnosis["title"]


def test_e_socketio_on_another_path(hosts) -> None:
    (host, _), (url, _) = hosts
    change = edit(APP_ENV, "'s|^WS_PATH=.*|WS_PATH=\"/socket\"|'", RESTART_APP)
    with broken(host, url, change, undo(APP_ENV, RESTART_APP), app=True):
        exit_code, document, text = run_cli(url, "--timeout", "3")
        assert_diagnosed((exit_code, document, text), "websocket path", "socketio-path")
        results = {result["probe"]: result for result in document["results"]}
        assert results["health"]["ok"]
        assert results["polling"]["detail"]["status"] == 404


def test_f_nginx_without_upgrade_headers(hosts) -> None:
    (host, _), (url, _) = hosts
    script = "'/proxy_set_header Upgrade/d; /proxy_set_header Connection/d'"
    change, restore = edit(NGINX_SITE, script, RELOAD_NGINX), undo(NGINX_SITE, RELOAD_NGINX)
    with broken(host, url, change, restore, site=True):
        result = run_cli(url, "--timeout", "3")
        diagnosis = assert_diagnosed(result, "proxy upgrade", "upgrade-headers")
        assert 'Engine.IO error 3 "Bad request"' in diagnosis["title"]


def test_g_proxy_read_timeout_shorter_than_the_heartbeat(hosts) -> None:
    (host, _), (url, _) = hosts
    nginx = edit(NGINX_SITE, "'s/proxy_read_timeout [0-9]*s;/proxy_read_timeout 2s;/'", "true")
    app = edit(
        APP_ENV,
        '\'s/^PING_INTERVAL_MS=.*/PING_INTERVAL_MS="4000"/; '
        's/^PING_TIMEOUT_MS=.*/PING_TIMEOUT_MS="2000"/\'',
        "true",
    )
    change = f"{nginx} && {app} && {RELOAD_NGINX} && {RESTART_APP}"
    restore = f"{undo(NGINX_SITE, 'true')} && {undo(APP_ENV, 'true')} && {RELOAD_NGINX} && " + (
        RESTART_APP
    )
    with broken(host, url, change, restore, site=True, app=True):
        exit_code, document, text = run_cli(url, "--timeout", "3", "--idle")
        diagnosis = assert_diagnosed((exit_code, document, text), "proxy idle", "idle-drop")
        assert "(6 s)" in diagnosis["title"]  # pingInterval 4 s + pingTimeout 2 s
        idle = next(result for result in document["results"] if result["probe"] == "idle")
        assert 1.5 < idle["detail"]["after_s"] < 4


def test_h_token_refused_is_an_auth_error(hosts) -> None:
    (host, _), (url, _) = hosts
    good, bad = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    digest = hashlib.sha256(good.encode()).hexdigest()
    script = (
        '\'s/^APP_AUTH=.*/APP_AUTH="static"/; '
        f's/^STATIC_TOKEN_SHA256=.*/STATIC_TOKEN_SHA256="{digest}"/\''
    )
    with broken(
        host, url, edit(APP_ENV, script, RESTART_APP), undo(APP_ENV, RESTART_APP), app=True
    ):
        env = {"WSR_GOOD": good, "WSR_BAD": bad}
        refused = run_cli(url, "--timeout", "3", "--token-env", "WSR_BAD", env=env)
        diagnosis = assert_diagnosed(refused, "auth", "auth-refused")
        assert "not a transport error" in diagnosis["title"]
        results = {result["probe"]: result for result in refused[1]["results"]}
        assert results["upgrade"]["ok"] and not results["rest-auth"]["ok"]
        assert results["auth-match"]["ok"]  # REST refuses too: consistent
        accepted = run_cli(url, "--timeout", "3", "--token-env", "WSR_GOOD", env=env)
        assert accepted[0] == 0, accepted[1]["diagnosis"]
        for _code, _document, text in (refused, accepted):
            assert good not in text and bad not in text


def test_i_origin_not_allowed_by_cors(hosts) -> None:
    (_, host), (_, url) = hosts
    refused = run_cli(url, "--timeout", "3", "--origin", "http://evil.example")
    diagnosis = assert_diagnosed(refused, "cors", "cors-origin")
    assert "http://evil.example" in diagnosis["title"]
    allowed = run_cli(url, "--timeout", "3", "--origin", f"http://{host.address}")
    assert allowed[0] == 0, allowed[1]["diagnosis"]


def test_j_rest_works_but_the_websocket_server_is_not_running(hosts) -> None:
    (host, _), (url, _) = hosts
    # /ws goes to a port where no Socket.IO server runs; /api/ still reaches the app.
    script = (
        "'s|proxy_pass http://\\$wsready_socketio_upstream;|proxy_pass http://127.0.0.1:3999;|'"
    )
    change, restore = edit(NGINX_SITE, script, RELOAD_NGINX), undo(NGINX_SITE, RELOAD_NGINX)
    with broken(host, url, change, restore, site=True):
        diagnosis = assert_diagnosed(
            run_cli(url, "--timeout", "3"), "websocket", "rest-ok-websocket-broken"
        )
        assert diagnosis["title"].startswith("TransportError: websocket error while REST works")


def test_wss_with_a_self_signed_certificate_reports_days_left(
    fleet: Fleet, hosts, tmp_path
) -> None:
    """nginx_tls with the generated certificate: trusted through --ca-file, days left shown;
    without it the TLS layer is named (self-signed, not trusted)."""
    (_, host), (_, url) = hosts
    result = redeploy(fleet, "--limit", host.name, "--data", "nginx_tls=true")
    try:
        assert result.returncode == 0, result.output[-3000:]
        ca_file = tmp_path / "sandbox-cert.pem"  # the public certificate only
        ca_file.write_text(host_ssh(host, "cat /etc/wsready/tls/self-signed-cert.pem"))
        wss = f"wss://{host.address}/ws"
        exit_code, document, _ = run_cli(wss, "--timeout", "3", "--ca-file", str(ca_file))
        assert exit_code == 0, document["diagnosis"]
        tls = next(result for result in document["results"] if result["probe"] == "tls")
        assert tls["ok"] and tls["detail"]["days_left"] > 30
        print(f"  TLS probe: {tls['text']}")
        untrusted = run_cli(wss, "--timeout", "3")
        diagnosis = assert_diagnosed(untrusted, "tls", "tls-untrusted")
        assert "self-signed certificate" in diagnosis["title"]
    finally:
        back = redeploy(fleet, "--limit", host.name)
    assert back.returncode == 0, back.output[-3000:]
    wait_healthy(url)


def test_hosts_are_healthy_afterwards(hosts) -> None:
    _, urls = hosts
    for url in urls:
        exit_code, document, _ = run_cli(url, "--timeout", "3")
        assert exit_code == 0, document["diagnosis"]
