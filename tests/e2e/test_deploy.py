"""The complete deploy on real sandbox hosts, checked from the host machine (outside).

Order matters only in that every test leaves the fleet deployed and healthy again.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import threading

import pytest
import requests
import socketio
import websocket
from cryptography import x509

from tests.e2e import tls_checks
from tests.e2e.conftest import RELEASES, Fleet, changed_rows, fleet_of, host_ssh, redeploy
from tests.pki import EC_P256, PrivateCA
from tests.waiting import wait_for
from wsready.probes import Target, run_probes

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=RELEASES)
def fleet(request: pytest.FixtureRequest) -> Fleet:
    """This module runs on the bookworm fleet and on the trixie one (what differs between
    releases: packages, nginx, systemd, ufw, TLS)."""
    return fleet_of(request)


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
APP_UNITS = "wsready-app@0 wsready-app@1"  # both workers of a 2-CPU host
# Commands a no-change re-run sends a host at most (plan-time facts, the batches of the
# operations' facts, the verify's commit).
ROUND_TRIPS_NO_CHANGE = 20
# Everything a deploy writes on a host; a no-change run must leave all of it untouched.
DEPLOYED_PATHS = (
    "/etc/nginx",
    "/etc/wsready",
    "/etc/wsready-app",
    "/etc/ufw",
    "/etc/systemd/system",
    "/etc/apt/apt.conf.d",
    "/opt/wsready-app",
    "/opt/nodejs",
    "/usr/local/sbin",
    "/usr/local/bin",
)


def _url(fleet: Fleet, index: int, path: str) -> str:
    return f"http://{fleet.hosts[index].address}{path}"


def _upgrade(address: str, port: int = 80, path: str = "/ws/?EIO=4&transport=websocket"):
    """A raw WebSocket upgrade request: (status, headers, expected Sec-WebSocket-Accept)."""
    key = base64.b64encode(os.urandom(16)).decode()
    connection = http.client.HTTPConnection(address, port, timeout=10)
    try:
        connection.request(
            "GET",
            path,
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": key,
                "Sec-WebSocket-Version": "13",
            },
        )
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        return response.status, headers, accept
    finally:
        connection.close()


def _host_state(host) -> dict[str, str]:
    """Start times, PIDs and a checksum of every deployed file (content, mode, mtime)."""
    paths = " ".join(DEPLOYED_PATHS)
    listing = (
        f"find {paths} -xdev \\( -type f -o -type l \\) -printf '%p %m %U %T@\\n' 2>/dev/null"
        f" | sort; find {paths} -xdev -type f -exec sha256sum {{}} + 2>/dev/null | sort"
    )
    script = {
        "app": f"systemctl show -p ActiveEnterTimestamp -p MainPID -p NRestarts {APP_UNITS}",
        "nginx": "systemctl show -p ActiveEnterTimestamp -p MainPID -p ExecMainStartTimestamp "
        "nginx; echo workers: $(pgrep -P $(cat /run/nginx.pid) | sort)",
        "ufw": "ufw status numbered",
        "files": listing,
    }
    return {name: host_ssh(host, command) for name, command in script.items()}


# --- fresh deploy -------------------------------------------------------------------------


def test_fresh_deploy_exits_0_and_reports_probes(fleet: Fleet) -> None:
    print(f"fresh deploy: {fleet.deploy.seconds:.1f}s")
    assert fleet.deploy.returncode == 0, fleet.deploy.output
    assert fleet.deploy.output.count("all probes passed") == len(fleet.hosts)


def test_health_answers_json_from_outside(fleet: Fleet) -> None:
    for index, _host in enumerate(fleet.hosts):
        response = requests.get(_url(fleet, index, "/api/health"), timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "ok"
        assert body["websocket"] == "enabled"
        assert isinstance(body["connections"], int)
        assert body["version"]


def test_upgrade_is_101_through_nginx_with_correct_accept(fleet: Fleet) -> None:
    for host in fleet.hosts:
        status, headers, accept = _upgrade(host.address)
        assert status == 101, headers
        assert headers["sec-websocket-accept"] == accept
        assert headers["upgrade"].lower() == "websocket"
        assert headers["server"].startswith("nginx")
        connection = websocket.create_connection(
            f"ws://{host.address}/ws/?EIO=4&transport=websocket", timeout=10
        )
        try:
            opening = connection.recv()
        finally:
            connection.close()
        assert opening.startswith("0{")
        assert "sid" in json.loads(opening[1:])


def test_app_port_is_not_reachable_from_outside(fleet: Fleet) -> None:
    for host in fleet.hosts:
        with pytest.raises(OSError), socket.create_connection((host.address, 3000), timeout=3):
            pass
        listeners = host_ssh(host, "ss -Hltn 'sport = :3000'")
        assert "127.0.0.1:3000" in listeners, listeners
        assert "0.0.0.0:3000" not in listeners and "*:3000" not in listeners


def test_socketio_client_exchanges_events_both_ways(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    client = socketio.Client(reconnection=False)
    welcomed = threading.Event()
    welcome: dict = {}

    @client.on("welcome")
    def on_welcome(data, *_offset):  # connection state recovery appends the stream offset
        welcome.update(data)
        welcomed.set()

    client.connect(
        f"http://{host.address}",
        socketio_path="/ws",
        transports=["websocket"],
        wait_timeout=10,
    )
    try:
        assert welcomed.wait(10), "no welcome event from the server"
        assert welcome["id"] == client.get_sid()
        answer = client.call("echo", {"hello": "wsready", "n": 7}, timeout=10)
        assert answer == {"hello": "wsready", "n": 7}
        assert client.transport() == "websocket"
    finally:
        client.disconnect()


# --- idempotence --------------------------------------------------------------------------


def test_second_run_restarts_reloads_and_rewrites_nothing(fleet: Fleet) -> None:
    before = [_host_state(host) for host in fleet.hosts]
    assert "/etc/nginx/conf.d/wsready.conf" in before[0]["files"]
    assert "MainPID=0" not in before[0]["app"] and "workers: " in before[0]["nginx"]
    result = redeploy(fleet, "-vv")  # -vv prints every command run on a host (">>> ")
    print(f"no-change re-run: {result.seconds:.1f}s")
    assert result.returncode == 0, result.output
    after = [_host_state(host) for host in fleet.hosts]
    changed = changed_rows(result.output)
    for host, old, new in zip(fleet.hosts, before, after, strict=True):
        for aspect in old:
            assert new[aspect] == old[aspect], f"{host.name}: {aspect} changed; ops: {changed}"
    assert changed == []
    # Facts read in batches and kept while nothing ran (wsready/deploy/batched_facts.py):
    # about 15 round trips per host, where one per fact made over 100.
    for host in fleet.hosts:
        sent = re.findall(rf"^\s*\[{re.escape(host.name)}\]\s+>>> ", result.output, re.M)
        assert 0 < len(sent) <= ROUND_TRIPS_NO_CHANGE, f"{host.name}: {len(sent)} commands"


# --- firewall -----------------------------------------------------------------------------


def test_removed_firewall_rule_fails_the_probe_and_next_deploy_restores_it(fleet: Fleet) -> None:
    host = fleet.hosts[1]
    target = Target(f"http://{host.address}", name=host.name)
    host_ssh(host, "ufw delete allow proto tcp from 0.0.0.0/0 to any port 80")

    tcp = {r.probe: r for r in run_probes(target, timeout_s=3)}["tcp"]
    assert not tcp.ok, str(tcp)
    with pytest.raises(requests.exceptions.ConnectTimeout):
        requests.get(f"http://{host.address}/api/health", timeout=3)

    result = redeploy(fleet)
    assert result.returncode == 0, result.output
    assert any("in ufw" in row for row in changed_rows(result.output)), result.output
    status = host_ssh(host, "ufw status")  # the IPv4 rule is back (the IPv6 one never left)
    assert re.search(r"^80/tcp\s+ALLOW\s+Anywhere\s*$", status, re.MULTILINE), status
    assert all(r.ok or r.skipped for r in run_probes(target, timeout_s=5))


def test_failing_probes_fail_the_deploy_with_the_actual_value(fleet: Fleet) -> None:
    host = fleet.hosts[1]
    result = redeploy(
        fleet,
        "--limit",
        host.name,
        "--data",
        'firewall_allow_cidrs=["192.0.2.0/24"]',  # nobody here: the probes time out
        "--data",
        "verify_retries=0",
        "--data",
        "verify_timeout_s=2",
    )
    try:
        assert result.returncode != 0, result.output
        # verify's table: LAYER PROBE STATE TIME RESULT, the condition with its actual value.
        failed_tcp = r"tcp +tcp +FAIL +\d+ ms +connect \(.+\) succeeds"
        assert re.search(failed_tcp, result.output), result.output
        assert f"{host.name}: " in result.output and "probe(s) failed" in result.output
        assert "Traceback" not in result.output, result.output
    finally:
        restored = redeploy(fleet, "--limit", host.name)
    assert restored.returncode == 0, restored.output


# --- nginx safety -------------------------------------------------------------------------


def test_config_refused_by_nginx_fails_the_deploy_and_old_config_keeps_serving(
    fleet: Fleet,
) -> None:
    host = fleet.hosts[0]
    live_before = host_ssh(host, "sha256sum /etc/nginx/conf.d/wsready.conf")
    master_before = host_ssh(host, "cat /run/nginx.pid")

    result = redeploy(fleet, "--data", 'nginx_extra_directives=["wsready_bogus_directive on;"]')

    assert result.returncode != 0, result.output
    assert 'unknown directive "wsready_bogus_directive"' in result.output
    assert "the previous config stays active" in result.output
    assert host_ssh(host, "sha256sum /etc/nginx/conf.d/wsready.conf") == live_before
    assert host_ssh(host, "cat /run/nginx.pid") == master_before
    assert host_ssh(host, "systemctl is-active nginx").strip() == "active"
    status, headers, accept = _upgrade(host.address)
    assert status == 101 and headers["sec-websocket-accept"] == accept

    restored = redeploy(fleet)
    assert restored.returncode == 0, restored.output


def test_hand_edited_or_unloaded_config_is_restored_by_the_next_deploy(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    expected = host_ssh(host, "sha256sum < /etc/wsready/nginx/wsready.conf").split()[0]
    host_ssh(host, "echo '# edited by hand' >> /etc/nginx/conf.d/wsready.conf")
    host_ssh(host, "rm /etc/wsready/nginx/loaded.sha256")  # as if killed before the reload

    result = redeploy(fleet, "--limit", host.name)

    assert result.returncode == 0, result.output
    changed = changed_rows(result.output)
    assert any("Make the tested nginx config active" in row for row in changed), changed
    assert host_ssh(host, "sha256sum < /etc/nginx/conf.d/wsready.conf").split()[0] == expected
    # The stamp holds nginx.conf's sha256, then the site's, once nginx has loaded them.
    assert host_ssh(host, "cat /etc/wsready/nginx/loaded.sha256").split()[1] == expected


# --- bad data -----------------------------------------------------------------------------

BAD_DATA = {
    "app_port": ("70000", "app_port = 70000"),
    "nginx_listen_port": ("0", "nginx_listen_port = 0"),
    "firewall_allow_cidrs": ('["10.0.0.5/24"]', "firewall_allow_cidrs[0] = '10.0.0.5/24'"),
    "nodejs_source": ("nvm", "nodejs_source = 'nvm'"),
    "app_source": ("/nonexistent/app", "app_source = '/nonexistent/app'"),
    "app_socketio_path": ("ws", "app_socketio_path = 'ws'"),
    "nginx_ipv6": ("yes", "nginx_ipv6 = 'yes'"),
    "nginx_listen_prot": ("8080", "did you mean nginx_listen_port?"),
    "firewall_enabled": ("1", "firewall_enabled = 1"),
    "nginx_tls": ("maybe", "nginx_tls = 'maybe'"),
    "proxy_url": ("ftp://10.0.0.1:21", "proxy_url = 'ftp://10.0.0.1:21'"),
    "sg_ssh_cidrs": ('["0.0.0.0/0"]', "sg_ssh_cidrs[0] = '0.0.0.0/0'"),
    "app_cors_origins": ('["*"]', "app_cors_origins[0] = '*'"),
    "nginx_proxy_read_timeout_s": ("30", "nginx_proxy_read_timeout_s = 30"),
    "verify_retries": ("-1", "verify_retries = -1"),
    "app_user": ("root", "app_user = 'root'"),
}


def test_bad_data_is_refused_before_any_host_changes(fleet: Fleet) -> None:
    marker = "wsready-preflight-marker-" + os.urandom(6).hex()
    for host in fleet.hosts:
        host_ssh(host, f"echo {marker} > /root/preflight-marker")
    before = [_host_state(host) for host in fleet.hosts]

    args = []
    for key, (value, _shown) in BAD_DATA.items():
        args += ["--data", f"{key}={value}"]
    result = redeploy(fleet, *args)

    assert result.returncode != 0, result.output
    assert "nothing was changed on any host" in result.output
    for host in fleet.hosts:
        for _key, (_value, shown) in BAD_DATA.items():
            assert re.search(rf"{host.name}: .*{re.escape(shown)}", result.output), shown
    assert "Starting operation" not in result.output
    for host, old in zip(fleet.hosts, before, strict=True):
        assert host_ssh(host, "cat /root/preflight-marker").strip() == marker
        assert _host_state(host) == old
        host_ssh(host, "rm -f /root/preflight-marker")


# --- TLS ----------------------------------------------------------------------------------


def alt_names(address: str) -> list:
    """The IP addresses in the certificate nginx serves on 443 now."""
    pem = ssl.get_server_certificate((address, 443), timeout=10)
    certificate = x509.load_pem_x509_certificate(pem.encode())
    extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return extension.value.get_values_for_type(x509.IPAddress)


def served_alt_names(address: str, expected: str, within_s: float = 10.0) -> list:
    """The IP addresses in the certificate nginx serves on 443 once they are [`expected`]
    (a reload reaches new workers asynchronously); fails with what it served at the deadline."""
    return wait_for(
        lambda: alt_names(address),
        within_s,
        f"nginx serving a certificate for {expected}",
        until=[ipaddress.ip_address(expected)].__eq__,
    )


def served_lifespan(address: str) -> int:
    """Days between notBefore and notAfter of the certificate nginx serves on 443 now."""
    pem = ssl.get_server_certificate((address, 443), timeout=10)
    certificate = x509.load_pem_x509_certificate(pem.encode())
    return (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days


def test_tls_self_signed_serves_wss_and_redirects_http(fleet: Fleet) -> None:
    host = fleet.hosts[1]
    result = redeploy(fleet, "--limit", host.name, "--data", "nginx_tls=true")
    try:
        assert result.returncode == 0, result.output
        assert "all probes passed" in result.output

        pair = "/etc/wsready/tls/self-signed-cert.pem /etc/wsready/tls/self-signed-key.pem"
        modes = host_ssh(host, f"stat -c '%a %U' {pair}")
        assert modes.split("\n")[:2] == ["600 root", "600 root"]
        san = host_ssh(host, f"openssl x509 -noout -ext subjectAltName -in {pair.split()[0]}")
        assert f"IP Address:{host.address}" in san

        redirect = requests.get(
            f"http://{host.address}/api/whoami", allow_redirects=False, timeout=10
        )
        assert redirect.status_code == 301
        assert redirect.headers["location"] == f"https://{host.address}/api/whoami"
        assert requests.get(f"http://{host.address}/api/health", timeout=10).status_code == 200

        connection = websocket.create_connection(
            f"wss://{host.address}/ws/?EIO=4&transport=websocket",
            timeout=10,
            sslopt={"cert_reqs": ssl.CERT_NONE},
        )
        try:
            assert connection.recv().startswith("0{")
        finally:
            connection.close()

        # Mozilla's intermediate profile (the default): sslyze finds nothing but the path
        # validation a self-signed pair cannot pass; the pair lives 365 days, RSA 2048.
        scan = tls_checks.mozilla_scan(host.address, "intermediate")
        tls_checks.assert_compliant(scan, allowed=(tls_checks.PATH_VALIDATION,))
        assert set(scan["issues"]) == {tls_checks.PATH_VALIDATION}  # self-signed, named
        assert scan["certificate"] == {
            "lifespan_days": 365,
            "key": "rsa 2048",
            "trusted": False,
        }
        assert set(scan["accepted"]) == {"TLSv1.2", "TLSv1.3"}
        assert "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256" in scan["accepted"]["TLSv1.2"]  # ffdhe2048
        assert scan["curves"] == ["X25519", "secp256r1", "secp384r1"]
        client = tls_checks.socketio_connects(f"https://{host.address}")
        assert client["protocol"] == "TLSv1.3", client
        target = Target(f"https://{host.address}", tls_verify=False)
        probed = {result.probe: result for result in run_probes(target, timeout_s=5)}
        assert probed["tls"].detail["tls_version"] == "TLSv1.3", probed["tls"]
        assert probed["tls"].actual.endswith(f"TLSv1.3 {probed['tls'].detail['tls_cipher']}")
        old = tls_checks.as_old_client(target, tls_checks.cbc_only)
        assert (old.layer, old.code) == ("tls", "tls-profile"), old.to_dict()

        # The host's address changed since the pair was made: the next deploy makes it again.
        host_ssh(
            host,
            "cd /etc/wsready/tls && openssl req -x509 -newkey rsa:2048 -nodes -days 825 "
            "-subj /CN=192.0.2.9 -addext subjectAltName=IP:192.0.2.9 "
            "-keyout self-signed-key.pem -out self-signed-cert.pem 2>/dev/null "
            "&& systemctl reload nginx",
        )
        assert served_alt_names(host.address, "192.0.2.9") == [ipaddress.ip_address("192.0.2.9")]
        again = redeploy(fleet, "--limit", host.name, "--data", "nginx_tls=true")
        assert again.returncode == 0, again.output
        generated = [row for row in changed_rows(again.output) if "self-signed TLS" in row]
        assert generated, again.output  # the pair no longer named the host's address
        served = served_alt_names(host.address, host.address)
        assert served == [ipaddress.ip_address(host.address)]
        assert host_ssh(host, f"stat -c '%a %U' {pair}").split("\n")[:2] == ["600 root"] * 2

        # A pair of an earlier deploy lives 825 days: longer than the profile allows, so the
        # next deploy makes it again though it names the address and is far from expiry.
        host_ssh(
            host,
            "cd /etc/wsready/tls && openssl req -x509 -newkey rsa:2048 -nodes -days 825 "
            f"-subj /CN={host.address} -addext subjectAltName=IP:{host.address} "
            "-keyout self-signed-key.pem -out self-signed-cert.pem 2>/dev/null "
            "&& systemctl reload nginx",
        )
        wait_for(
            lambda: served_lifespan(host.address),
            10,
            "nginx serving the 825-day pair",
            until=(825).__eq__,
        )
        renewed = redeploy(fleet, "--limit", host.name, "--data", "nginx_tls=true")
        assert renewed.returncode == 0, renewed.output
        assert [row for row in changed_rows(renewed.output) if "self-signed TLS" in row]
        assert wait_for(
            lambda: served_lifespan(host.address), 10, "a 365-day pair", until=(365).__eq__
        )

        # Mozilla's modern profile: TLS 1.3 only, an ECDSA pair of 90 days made in place of
        # the RSA one; old clients get a handshake alert that diagnose names.
        modern = redeploy(
            fleet,
            "--limit", host.name,
            "--data", "nginx_tls=true",
            "--data", "nginx_tls_profile=modern",
            "--data", "nginx_tls_hsts=63072000",
        )  # fmt: skip
        assert modern.returncode == 0, modern.output
        assert "all probes passed" in modern.output
        scan = tls_checks.mozilla_scan(host.address, "modern")
        tls_checks.assert_compliant(scan, allowed=(tls_checks.PATH_VALIDATION,))
        assert set(scan["issues"]) == {tls_checks.PATH_VALIDATION}
        assert scan["certificate"] == {
            "lifespan_days": 90,
            "key": "ecdsa secp256r1",
            "trusted": False,
        }
        assert set(scan["accepted"]) == {"TLSv1.3"}
        client = tls_checks.socketio_connects(f"https://{host.address}")
        assert client["protocol"] == "TLSv1.3", client
        answer = requests.get(f"https://{host.address}/api/health", verify=False, timeout=10)
        assert answer.headers["Strict-Transport-Security"] == "max-age=63072000"
        old = tls_checks.as_old_client(
            Target(f"https://{host.address}", tls_verify=False), tls_checks.tls12_only
        )
        assert (old.layer, old.code) == ("tls", "tls-profile"), old.to_dict()
        assert "TLSV1_ALERT_PROTOCOL_VERSION" in old.title
    finally:
        back = redeploy(fleet, "--limit", host.name)
    assert back.returncode == 0, back.output
    rules = host_ssh(host, "ufw status")
    assert "443" not in rules, rules


def test_tls_with_given_certificate_is_uploaded_0600_and_verified(
    fleet: Fleet, tmp_path_factory: pytest.TempPathFactory
) -> None:
    host = fleet.hosts[1]
    work = tmp_path_factory.mktemp("tls")
    ca = PrivateCA.create(work / "rsa-ca")
    pair = ca.issue([host.address], "leaf", days=365)
    key = pair.key

    def given(pair, ca_file, *data: str):
        return redeploy(
            fleet,
            "--limit", host.name,
            "--data", "nginx_tls=true",
            "--data", f"nginx_tls_cert_file={pair.cert}",
            "--data", f"nginx_tls_key_file={pair.key}",
            "--data", f"verify_tls_ca_file={ca_file}",
            *data,
        )  # fmt: skip

    result = given(pair, ca.cert)
    try:
        assert result.returncode == 0, result.output
        assert "all probes passed" in result.output
        remote = host_ssh(
            host, "stat -c '%a' /etc/wsready/tls/key.pem; sha256sum < /etc/wsready/tls/key.pem"
        )
        mode, digest = remote.split("\n")[:2]
        assert mode == "600"
        assert digest.split()[0] == hashlib.sha256(key.read_bytes()).hexdigest()
        assert key.read_text() not in result.output
        response = requests.get(
            f"https://{host.address}/api/health", verify=str(ca.cert), timeout=10
        )
        assert response.status_code == 200
        assert "Strict-Transport-Security" not in response.headers  # off by default

        # A chain from a CA the scan trusts passes Mozilla's intermediate profile whole.
        scan = tls_checks.mozilla_scan(host.address, "intermediate", ca_file=ca.cert)
        tls_checks.assert_compliant(scan)
        assert scan["certificate"]["trusted"] is True
        client = tls_checks.socketio_connects(f"https://{host.address}", ca_file=ca.cert)
        assert client["protocol"] == "TLSv1.3", client

        # modern needs an ECDSA chain of at most 90 days; its certificate names an OCSP
        # responder, so nginx staples (and `nginx -t` accepted that config).
        ec_ca = PrivateCA.create(work / "ec-ca", newkey=EC_P256)
        ec_pair = ec_ca.issue(
            [host.address],
            "ec-leaf",
            days=90,
            newkey=EC_P256,
            extensions_text="authorityInfoAccess=OCSP;URI:http://127.0.0.1:9/\n",
        )
        modern = given(ec_pair, ec_ca.cert, "--data", "nginx_tls_profile=modern")
        assert modern.returncode == 0, modern.output
        assert "all probes passed" in modern.output
        site = host_ssh(host, "cat /etc/nginx/conf.d/wsready.conf")
        assert "ssl_stapling on;" in site and "ssl_protocols TLSv1.3;" in site
        scan = tls_checks.mozilla_scan(host.address, "modern", ca_file=ec_ca.cert)
        tls_checks.assert_compliant(scan)
        assert set(scan["accepted"]) == {"TLSv1.3"}
        client = tls_checks.socketio_connects(f"https://{host.address}", ca_file=ec_ca.cert)
        assert client["protocol"] == "TLSv1.3", client
    finally:
        back = redeploy(fleet, "--limit", host.name)
    assert back.returncode == 0, back.output
