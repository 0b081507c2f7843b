"""The fault catalogue (tests/e2e/fault_catalogue.py) on real sandbox hosts: every fault
injected by real means on one of the fleet's two hosts (the plain ones shared out between
them, the TLS ones on host 0), diagnosed in-process (the probes + `diagnose`, as
the CLI runs them), reverted, and the host proven healthy again (a deadline, no bare sleep).
Prints the confusion matrix (fault × named layer); any off-diagonal cell fails the test,
as does a probe that does not see what the catalogue (and so docs/diagnosis.md) says.

The TLS faults run on the site as `nginx_tls = True` renders it (tasks.nginx.render_site,
this host's data, the live fingerprint) written over the live file, with certificates made
here by a throwaway CA; the redirect fault on the same with `nginx_tls_redirect = True`.
At the end the host's nginx files, app environment, firewall rules and units are exactly
as before (checked).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import queue
import re
import secrets
import shlex
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
import websocket
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e import fault_catalogue as catalogue
from tests.e2e.conftest import ROOT, Fleet, host_ssh
from tests.oracle_browser import run_browser_oracle
from tests.oracle_run import OracleOutcome, broadcast_trigger, run_oracle
from tests.waiting import wait_for
from wsready import sandbox
from wsready.deploy import generations
from wsready.exitstatus import ExitStatus
from wsready.fleet.sweep import CheckOptions, TargetOutcome, check_all
from wsready.hostdata import HostConfig
from wsready.inventory import host_data
from wsready.probes import ProbeResult, Target, run_probes
from wsready.probes.diagnosis import Diagnosis, diagnose
from wsready.probes.packets import connect_packet

pytestmark = pytest.mark.e2e

TIMEOUT_S = 3.0
HEALTHY_WITHIN_S = 40.0
SNAPSHOT = (
    "md5sum /etc/nginx/nginx.conf /etc/nginx/conf.d/* /etc/wsready-app/env; "
    "ls -A /etc/nginx/conf.d /etc/wsready; iptables -S; "
    f"cat {generations.ACTIVE_FILE}; systemctl is-active nginx redis-server || true; "
    "systemctl list-units --plain --no-legend --state=active 'wsready-app@*.service' | sort"
)
OPEN_443 = f"INPUT -p tcp --dport 443 -j ACCEPT {catalogue.FIREWALL_TAG}"
ORACLE_CLIENTS = 10  # official clients per mode (default options, WebSocket-only) per fault
ORACLE_EVENT = "wsready-oracle"
APP_PORT = 3000  # the fleet's app_port
WORKS = (ExitStatus.OK, ExitStatus.WARNING)  # check's "clients work" (WARNING: degraded)


@dataclass
class Outcome:
    fault: catalogue.Fault
    diagnosis: Diagnosis
    results: list[ProbeResult]
    seconds: float
    check: TargetOutcome
    clients: OracleOutcome

    @property
    def check_works(self) -> bool:
        diagnosis = self.check.diagnosis
        forecast = diagnosis is not None and diagnosis.forecast
        return self.check.status in WORKS or forecast

    @property
    def agrees(self) -> bool:
        """The rule: wsready says the clients work (OK; WARNING: degraded, still working; a
        forecast such as a certificate about to expire) iff every official client connects,
        upgrades and gets a broadcast; diagnose and check say the same."""
        works = self.diagnosis.clients_work
        return works == self.check_works == self.clients.ok

    @property
    def named(self) -> tuple[str, str, str]:
        return self.diagnosis.layer, self.diagnosis.code, self.diagnosis.status.name

    @property
    def expected(self) -> tuple[str, str, str]:
        return self.fault.layer, self.fault.code, self.fault.status

    def unseen(self) -> list[str]:
        """`sees` entries the probes did not show."""
        actual = {result.probe: result.actual for result in self.results}
        return [
            f"{probe}: {text!r} not in {actual.get(probe)!r}"
            for probe, text in self.fault.sees
            if not re.search(text, actual.get(probe) or "")
        ]


# --- certificates --------------------------------------------------------------------------


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _certificate(
    subject: str, key, issuer_name, issuer_key, names, not_before, not_after, ca=False
):
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certificates(address: str) -> tuple[bytes, bytes, dict[str, bytes]]:
    """(CA certificate, leaf key, {name: leaf certificate}) for the TLS faults."""
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wsready fault catalogue CA")])
    ca = _certificate("wsready fault catalogue CA", ca_key, ca_name, ca_key, None, now - day,
                      now + 30 * day, ca=True)  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    right = [x509.IPAddress(ipaddress.ip_address(address))]
    wrong = [x509.DNSName("other.example")]
    leaf = {
        "good": (right, now - day, now + 90 * day, ca_name, ca_key),
        "expired": (right, now - 30 * day, now - day, ca_name, ca_key),
        "soon": (right, now - day, now + 3 * day, ca_name, ca_key),
        "future": (right, now + day, now + 90 * day, ca_name, ca_key),
        "name": (wrong, now - day, now + 90 * day, ca_name, ca_key),
    }
    certificates = {
        name: _pem(_certificate(address, key, issuer, signer, names, start, end))
        for name, (names, start, end, issuer, signer) in leaf.items()
    }
    own = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    certificates["untrusted"] = _pem(
        _certificate(address, key, own, key, right, now - day, now + 90 * day)
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return _pem(ca), key_pem, certificates


def upload(host, path: str, data: bytes, mode: str = "0644") -> None:
    encoded = base64.b64encode(data).decode()
    host_ssh(host, f"echo {encoded} | base64 -d > {path} && chmod {mode} {path}")


def upload_tree(host, local: Path, remote: str) -> None:
    """Copy a directory to the host: a tar stream over SSH's stdin (no size limit)."""
    tarball = subprocess.run(
        ["tar", "-C", str(local), "-czf", "-", "."], capture_output=True, check=True
    ).stdout
    command = f"mkdir -p {shlex.quote(remote)} && tar -xzf - -C {shlex.quote(remote)}"
    sandbox.feed(host, command, tarball, timeout_s=60)


# --- the host -------------------------------------------------------------------------------


def wait_healthy(target: Target, within_s: float = HEALTHY_WITHIN_S) -> None:
    """Until every probe of `target` passes and diagnose says OK; fails at the deadline."""
    wait_for(
        lambda: diagnose(target, run_probes(target, timeout_s=TIMEOUT_S)),
        within_s,
        f"{target.url} healthy again",
        until=lambda diagnosis: diagnosis.status == ExitStatus.OK,
        interval_s=0.3,
    )


@contextlib.contextmanager
def clients_held(address: str, count: int) -> Iterator[None]:
    """`count` Socket.IO clients connected (CONNECT accepted) while the block runs."""
    held = []
    try:
        for _ in range(count):
            ws = websocket.create_connection(
                f"ws://{address}/ws/?EIO=4&transport=websocket", timeout=5
            )
            held.append(ws)
            ws.recv()  # the open packet
            ws.send(connect_packet(None))
            while not ws.recv().startswith("40"):
                pass
        if count:  # health counts the clients every worker reports: until it shows them all
            wait_for(
                lambda: requests.get(f"http://{address}/api/health", timeout=TIMEOUT_S).json(),
                5,
                f"health counting {count} clients",
                until=lambda health: health.get("clients", 0) >= count,
            )
        yield
    finally:
        for ws in held:
            with contextlib.suppress(Exception):
                ws.close(timeout=1)


def tls_site(fleet: Fleet, host, redirect: bool, fingerprint: str) -> str:
    """The site as deployed with nginx_tls = True, the test certificates' paths in it."""
    from wsready.deploy.nginx_config import render_site  # noqa: PLC0415 - the deploy's own renderer

    data = HostConfig.from_data(
        host.name,
        {
            **host_data(fleet.inventory)[host.name],
            "nginx_tls": True,
            "nginx_tls_redirect": redirect,
        },
    )
    workers = int(host_ssh(host, "grep -c '^ *server 127.0.0.1' " + catalogue.NGINX_SITE))
    text = render_site(data, workers, fingerprint)
    cert, key = "/etc/wsready/tls/self-signed-cert.pem", "/etc/wsready/tls/self-signed-key.pem"
    assert cert in text and key in text
    return text.replace(cert, f"{catalogue.TLS_DIR}/current.pem").replace(
        key, f"{catalogue.TLS_DIR}/key.pem"
    )


def live_fingerprint(host) -> str:
    line = host_ssh(host, f"grep -m1 'X-Wsready-Config' {catalogue.NGINX_SITE}")
    return line.split('"')[1]


# --- the run --------------------------------------------------------------------------------


def host_values(host) -> dict[str, str]:
    """The host's address and its serving generation's first two workers and ports (the
    catalogue's {w0} {w1} {p0} {p1} {upstream}): slot a or b, whichever the fleet's deploys left."""
    slot = generations.serving(host_ssh(host, f"cat {generations.ACTIVE_FILE} || true"))
    first = generations.base(slot)
    return {
        "address": host.address,
        "w0": str(first),
        "w1": str(first + 1),
        "p0": str(APP_PORT + first),
        "p1": str(APP_PORT + first + 1),
        "upstream": generations.UPSTREAMS[slot],
    }


def run_fault(host, fault: catalogue.Fault, base: Target, values: dict[str, str]) -> Outcome:
    address = values["address"]
    sees = tuple((probe, catalogue.expand(text, values)) for probe, text in fault.sees)
    fault = replace(fault, sees=sees)
    token = {"good": values["good"], "bad": values["bad"], None: None}[fault.token]
    target = replace(
        base,
        url=catalogue.expand(fault.url, values),
        token=token,
        origin=catalogue.expand(fault.origin, values) if fault.origin else None,
    )
    started = time.monotonic()
    for local, remote in fault.uploads:
        upload_tree(host, ROOT / local, remote)
    host_ssh(host, catalogue.expand(fault.inject, values))
    try:
        if catalogue.RESTART_APP in fault.inject and fault.layer != "app":
            # the app restarted with the fault: wait until it answers (a crash loop never does)
            _wait_answering(address)
        with clients_held(address, fault.hold_clients):
            results = run_probes(target, timeout_s=TIMEOUT_S, idle=fault.idle)
            options = CheckOptions(timeout_s=TIMEOUT_S, retries=0, idle=fault.idle)
            check = check_all([target], options).outcomes[0]
            clients = official_clients(host, fault, target, results, values)
    finally:
        host_ssh(host, catalogue.expand(fault.revert, values))
        wait_healthy(base)
    diagnosis = diagnose(target, results)
    outcome = Outcome(fault, diagnosis, results, time.monotonic() - started, check, clients)
    print(f"  {fault.key}: {diagnosis.layer} ({diagnosis.code}) {diagnosis.status.name}, check "
          f"{check.status.name}; official clients: {clients.describe()}", flush=True)  # fmt: skip
    return outcome


def idle_period(results: list[ProbeResult]) -> float:
    """pingInterval + pingTimeout + 1.5 s, as the server announced them (the idle probe's
    hold): how long the official clients stay idle before the broadcast in an idle fault."""
    opened = next((r for r in results if r.probe == "open" and r.ok), None)
    if opened is None:
        return 0.0
    return (opened.detail["ping_interval_ms"] + opened.detail["ping_timeout_ms"]) / 1000 + 1.5


def official_clients(
    host,
    fault: catalogue.Fault,
    target: Target,
    results: list[ProbeResult],
    values: dict[str, str],
) -> OracleOutcome:
    """The official socket.io-client 4, ORACLE_CLIENTS with the default options and as many
    WebSocket-only, in the fault's state: the judge of wsready's verdict."""
    ports = (int(values["p0"]), int(values["p1"]))
    send = broadcast_trigger(lambda command: host_ssh(host, command), ports, ORACLE_EVENT)
    hold_s = idle_period(results) if fault.idle else 0.0

    def trigger(nonce: str) -> object:
        if hold_s:  # the fault's stimulus: the clients stay idle past the proxy's timeout
            threading.Event().wait(hold_s)
        return send(nonce)

    if fault.oracle == "browser":  # CORS: only a browser enforces it
        return run_browser_oracle(
            target.http_url("").rstrip("/"),
            trigger=trigger,
            path=target.socketio_path,
            clients=ORACLE_CLIENTS // 2,
            event=ORACLE_EVENT,
            token=target.token,
        )
    ca = target.tls_verify if target.secure and isinstance(target.tls_verify, str) else None
    return run_oracle(
        target.http_url("").rstrip("/"),
        trigger=trigger,
        path=target.socketio_path,
        clients=ORACLE_CLIENTS,
        event=ORACLE_EVENT,
        token=target.token,
        origin=target.origin,
        ca=ca,
        connect_timeout_s=6.0,
        broadcast_timeout_s=3.0,
    )


def _wait_answering(address: str, within_s: float = 15.0) -> None:
    """Until the restarted app answers through nginx: /api/health 200 from every worker and
    polling not a gateway error. Plain GETs only: a failed upgrade would make nginx take the
    worker out of the upstream for its fail_timeout (10 s). Fails at the deadline."""

    def answers() -> tuple[int, dict, int]:
        health = requests.get(f"http://{address}/api/health", timeout=TIMEOUT_S)
        polling = requests.get(f"http://{address}/ws/?EIO=4&transport=polling", timeout=TIMEOUT_S)
        workers = health.json().get("workers", {}) if health.status_code == 200 else {}
        return health.status_code, workers, polling.status_code

    wait_for(
        answers,
        within_s,
        "the app answering through nginx (health, workers, polling)",
        until=lambda seen: (
            seen[0] == 200 and seen[1].get("up") == seen[1].get("total") and seen[2] < 500
        ),
        interval_s=0.3,
    )


def confusion_matrix(outcomes: list[Outcome]) -> str:
    """Rows: faults (expected layer); columns: every layer named or expected. `X` on the
    diagonal, `!` where a wrong layer was named."""
    layers = list(
        dict.fromkeys([o.fault.layer for o in outcomes] + [o.diagnosis.layer for o in outcomes])
    )
    width = max(len(o.fault.key) for o in outcomes)
    head = " " * (width + 2) + " ".join(f"{k + 1:>2}" for k in range(len(layers)))
    lines = ["columns: " + ", ".join(f"{k + 1} {layer}" for k, layer in enumerate(layers)), head]
    for outcome in outcomes:
        cells = []
        for layer in layers:
            named = outcome.diagnosis.layer == layer
            expected = outcome.fault.layer == layer
            cells.append(
                " X" if named and expected else " !" if named else " ." if not expected else " ?"
            )
        mark = "" if outcome.named == outcome.expected else f"   <- named {outcome.named}"
        lines.append(f"{outcome.fault.key:<{width}}  " + " ".join(cells) + mark)
    wrong = sum(o.diagnosis.layer != o.fault.layer for o in outcomes)
    lines.append(f"{len(outcomes)} faults, {len(outcomes) - wrong} on the diagonal, {wrong} off it")
    return "\n".join(lines)


def agreement_matrix(outcomes: list[Outcome]) -> str:
    """Per fault: wsready's verdicts (diagnose, check) against the official clients'."""
    width = max(len(o.fault.key) for o in outcomes)
    lines = [f"{'fault':<{width}}  {'diagnose':<8}  {'check':<8}  agree  official clients"]
    for o in outcomes:
        mark = "yes" if o.agrees else "NO"
        said = o.diagnosis.status.name + ("*" if o.diagnosis.forecast else "")
        lines.append(
            f"{o.fault.key:<{width}}  {said:<8}  {o.check.status.name:<8}  "
            f"{mark:<5}  {o.clients.describe()}"
        )
    disagree = sum(not o.agrees for o in outcomes)
    lines.append("* a forecast: the clients still work today (a certificate about to expire)")
    lines.append(f"{len(outcomes)} faults, {len(outcomes) - disagree} agree, {disagree} disagree")
    return "\n".join(lines)


def run_queue(host, faults: queue.SimpleQueue, values: dict[str, str]) -> list[Outcome]:
    """Take plain faults from `faults` until it is empty, each injected on `host` alone."""
    plain, outcomes = Target(f"http://{host.address}"), []
    while True:
        try:
            fault = faults.get_nowait()
        except queue.Empty:
            return outcomes
        outcomes.append(run_fault(host, fault, plain, {**values, **host_values(host)}))


def test_every_fault_of_the_catalogue_is_named_exactly(fleet: Fleet, tmp_path: Path) -> None:
    """The plain faults run on both fleet hosts at once (each host takes the next fault
    from one queue, one fault per host at a time); the TLS ones then on host 0."""
    assert fleet.deploy.returncode == 0, fleet.deploy.output[-3000:]
    host, other = fleet.hosts[0], fleet.hosts[1]
    address = host.address
    plain = Target(f"http://{address}")
    for each in (host, other):
        wait_healthy(Target(f"http://{each.address}"))
    before = {each.name: host_ssh(each, SNAPSHOT) for each in (host, other)}
    good, bad = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    values = {
        **host_values(host),
        "tls": catalogue.TLS_DIR,
        "digest": hashlib.sha256(good.encode()).hexdigest(),
        "good": good,
        "bad": bad,
    }
    started = time.monotonic()
    faults: queue.SimpleQueue = queue.SimpleQueue()
    for fault in [f for f in catalogue.FAULTS if f.group == "plain"]:
        faults.put(fault)
    with ThreadPoolExecutor(max_workers=1) as pool:
        beside = pool.submit(run_queue, other, faults, values)
        outcomes = run_queue(host, faults, values) + beside.result()

    # TLS and redirect: the live site replaced by the nginx_tls rendering, then put back.
    ca_pem, key_pem, certificates = make_certificates(address)
    ca_file = tmp_path / "fault-ca.pem"
    ca_file.write_bytes(ca_pem)
    fingerprint = live_fingerprint(host)
    site = catalogue.NGINX_SITE
    secure = Target(f"wss://{address}/ws", tls_verify=str(ca_file))
    host_ssh(host, f"mkdir -p {catalogue.TLS_DIR} && cp -p {site} {site}.wsr-fault-tls && "
                   f"iptables -I {OPEN_443}")  # fmt: skip
    try:
        for name, pem in certificates.items():
            upload(host, f"{catalogue.TLS_DIR}/{name}.pem", pem)
        upload(host, f"{catalogue.TLS_DIR}/key.pem", key_pem, "0600")
        host_ssh(host, f"ln -sfn {catalogue.TLS_DIR}/good.pem {catalogue.TLS_DIR}/current.pem")
        for group in ("tls", "redirect"):
            upload(host, site, tls_site(fleet, host, group == "redirect", fingerprint).encode())
            host_ssh(host, catalogue.RELOAD_NGINX)
            wait_healthy(secure)
            for fault in [f for f in catalogue.FAULTS if f.group == group]:
                outcomes.append(run_fault(host, fault, secure, values))
        # The redirect's fix works: wss:// with the certificate passes every probe.
        wait_healthy(secure)
    finally:
        host_ssh(host, f"mv -f {site}.wsr-fault-tls {site} && {catalogue.RELOAD_NGINX} && "
                       f"rm -rf {catalogue.TLS_DIR} && iptables -D {OPEN_443}")  # fmt: skip
        wait_healthy(plain)
    elapsed = time.monotonic() - started
    order = {fault.key: k for k, fault in enumerate(catalogue.FAULTS)}
    outcomes.sort(key=lambda outcome: order[outcome.fault.key])

    after = {each.name: host_ssh(each, SNAPSHOT) for each in (host, other)}
    print(
        f"\nfault catalogue on {host.name} and {other.name}: {len(outcomes)} faults in "
        f"{elapsed:.0f} s\n"
    )
    print(confusion_matrix(outcomes))
    for outcome in outcomes:
        d = outcome.diagnosis
        print(
            f"  {outcome.fault.key:<24} {outcome.seconds:5.1f} s  {d.layer} ({d.code}) — {d.title}"
        )
    print("\n" + agreement_matrix(outcomes))
    assert after == before, "a host is not as it was"
    disagree = [
        f"{o.fault.key}: diagnose {o.diagnosis.status.name}, check {o.check.status.name}, "
        f"official clients {o.clients.describe()}"
        for o in outcomes
        if not o.agrees
    ]
    assert not disagree, "wsready and the official client disagree:\n" + "\n".join(disagree)
    assert len(outcomes) >= 40
    wrong = [f"{o.fault.key}: named {o.named}, expected {o.expected}: {o.diagnosis.title}\n    "
             + "\n    ".join(f"[{r.state}] {r}" for r in o.results)
             for o in outcomes if o.named != o.expected]  # fmt: skip
    unseen = [f"{o.fault.key}: {line}" for o in outcomes for line in o.unseen()]
    assert not wrong, "\n".join(wrong)
    assert not unseen, "\n".join(unseen)
    assert len([o for o in outcomes if o.fault.status != "OK"]) >= 25
