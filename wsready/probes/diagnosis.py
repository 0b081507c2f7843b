"""Name the first broken layer from probe results, with the evidence and the runbook's fix.

The runbook (`websocket-server-not-running.md`) separates a *transport* error (the socket
never opens: server not running, wrong path, proxy without upgrade headers, firewall) from an
*auth* error (the socket opened, then the token was refused). `diagnose` makes that call
from what the probes actually saw, layer by layer: DNS → TCP → TLS → HTTP/WebSocket →
Engine.IO → Socket.IO → auth → CORS → heartbeat/idle → polling. Since the scale-out, the
health answer also says what the host itself sees: a failing upgrade while workers are down
or the host is at its client limit is `capacity`, and Redis down is `redis` (a WARNING).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from wsready import tls_profile
from wsready.exitstatus import ExitStatus
from wsready.probes import ProbeResult, Target
from wsready.probes import names as n
from wsready.probes.http import NEAR_LIMIT
from wsready.probes.observed import (
    Answer,
    Certificate,
    EngineOpened,
    Failure,
    FrontDoorHosts,
    Health,
    Observed,
    Sessions,
    SocketConnect,
    WorkerRow,
    WorkerSays,
)

RUNBOOK_SYMPTOM = "TransportError: websocket error while REST works"
REDIS_FIX = (
    "Check that Redis is up and reachable from every app host: app_redis_url (else the "
    "inventory's `redis` group) and redis_password, the Redis host's firewall and its "
    "security group allowing 6379/tcp (redis_port) from the app hosts; from an app host, "
    "`redis-cli -h HOST -a PASSWORD ping` (a local Redis: `redis-cli -s "
    "/run/redis/redis-server.sock ping`) must answer PONG. The app reconnects by itself "
    "(health says redis=ok again, no restart needed)."
)
GATEWAY_ERRORS = (502, 503, 504)
# How a socket fails when the host has no room: an error status, or the connection is
# reset / closed / left unanswered (nginx out of worker_connections, the app refusing).
OVERLOAD_STATUSES = (500, 502, 503, 504)
OVERLOAD_ERRORS = ("timeout", "closed", "network")
SOCKET_STEPS = {n.UPGRADE: "upgrade", n.OPEN: "Engine.IO open", n.CONNECT: "Socket.IO CONNECT"}
APP_UNIT = "wsready-app"  # app_name's default: units wsready-app@0 … and wsready-app.target
V = TypeVar("V", bound=Observed)


@dataclass
class Diagnosis:
    """`layer` that is broken (or "none"), a one-line `title`, `evidence` (actual values),
    the `fix`, and the exit `status`. `code` is a stable machine name for the cause."""

    layer: str
    title: str
    evidence: list[str]
    fix: str
    status: ExitStatus
    code: str = "ok"
    notes: list[str] = field(default_factory=list)
    # When the evidence cannot decide: the possible causes, most likely first, each a dict
    # {layer, cause, tell} (`tell`: what tells it apart from the others). With candidates
    # in more than one layer, `layer` is "undecided".
    candidates: list[dict[str, str]] = field(default_factory=list)
    # True when clients still work now and the status warns of what is coming (a certificate
    # that expires within tls_crit_days): what the official client would see is OK today.
    forecast: bool = False

    @property
    def clients_work(self) -> bool:
        """Whether the official client connects, upgrades and gets broadcasts, by this
        verdict: OK, WARNING (degraded but working), or a forecast."""
        return self.status in (ExitStatus.OK, ExitStatus.WARNING) or self.forecast

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.name
        data["exit_code"] = int(self.status)
        data["clients_work"] = self.clients_work
        return data


def evidence_line(result: ProbeResult) -> str:
    """One line of evidence, marked with whether it held: `[FAIL] upgrade status (404) == 101`."""
    if result.skipped:
        return f"[skipped] {result.probe}: {result.actual}"
    return f"[{result.state}] {result}"


class _Seen:
    """Probe results by name, with the questions the rules ask of them."""

    def __init__(self, target: Target, results: Sequence[ProbeResult]) -> None:
        self.target = target
        self.by_name = {result.probe: result for result in results}
        self._views: dict[tuple[str, type[Observed]], Observed] = {}

    def get(self, name: str) -> ProbeResult | None:
        return self.by_name.get(name)

    def failed(self, name: str) -> bool:
        result = self.get(name)
        return result is not None and not self._passed(result) and not result.skipped

    def ok(self, name: str) -> bool:
        result = self.get(name)
        return result is not None and self._passed(result) and not result.skipped

    def _passed(self, result: ProbeResult) -> bool:
        """Whether a probe passed; WebSocket-only (lb_websocket_only), polling passes the
        rules when Engine.IO answered it, refusing (its mode) or still offering it (named
        by _websocket_only_not_enforced, after every layer that breaks the clients)."""
        if result.probe == n.POLLING and self.target.websocket_only:
            return result.ok or bool(self.answer(n.POLLING).offered)
        return result.ok

    def view(self, name: str, kind: type[V]) -> V:
        """What probe `name` saw, read as `kind` (every field absent without a result); read
        once per diagnosis, as the rules ask the same questions many times."""
        key = (name, kind)
        if key not in self._views:
            self._views[key] = kind.of(self.get(name))
        return self._views[key]  # type: ignore[return-value]

    def answer(self, name: str) -> Answer:
        """What probe `name` saw, read as an HTTP answer (all absent without a result)."""
        return self.view(name, Answer)

    def status(self, name: str) -> int | None:
        return self.answer(name).status

    def error(self, name: str) -> str | None:
        return self.view(name, Observed).error

    def health(self) -> Health:
        return self.view(n.HEALTH, Health)

    def host_says(self) -> Health:
        """What a healthy /api/health said about the host (clients, workers, redis): every
        field absent unless health passed."""
        return self.health() if self.ok(n.HEALTH) else Health.of(None)

    def failures(self, *names: str) -> list[Failure]:
        """The failed sessions of the sampled probes `names` that ran."""
        found: list[Failure] = []
        for name in names:
            result = self.get(name)
            if result is not None and not result.skipped:
                found += self.view(name, Sessions).failed_sessions
        return found

    def lines(self, *names: str) -> list[str]:
        return [evidence_line(self.by_name[name]) for name in names if name in self.by_name]

    @property
    def where(self) -> str:
        return f"{self.target.host}:{self.target.port}"

    @property
    def path(self) -> str:
        return self.target.socketio_path


def _critical(
    layer: str,
    code: str,
    title: str,
    evidence: list[str],
    fix: str,
    candidates: list[dict[str, str]] | None = None,
) -> Diagnosis:
    return Diagnosis(layer, title, evidence, fix, ExitStatus.CRITICAL, code, [], candidates or [])


def _candidate(layer: str, cause: str, tell: str) -> dict[str, str]:
    return {"layer": layer, "cause": cause, "tell": tell}


def _undecided(
    code: str, title: str, evidence: list[str], candidates: list[dict[str, str]], fix: str
) -> Diagnosis:
    """The evidence fits several layers: name them in order instead of picking one."""
    layers = " or ".join(dict.fromkeys(candidate["layer"] for candidate in candidates))
    return _critical("undecided", code, f"{layers}: {title}", evidence, fix, candidates)


def _dns(seen: _Seen) -> Diagnosis | None:
    if not seen.failed(n.DNS):
        return None
    return _critical(
        "dns",
        "name-unresolved",
        f"{seen.target.host} does not resolve",
        seen.lines(n.DNS),
        f"Fix the host name in the client URL or its DNS record (A/AAAA for "
        f"{seen.target.host}); check with `getent hosts {seen.target.host}`.",
    )


def _tcp(seen: _Seen) -> Diagnosis | None:
    if not seen.failed(n.TCP):
        return None
    evidence = seen.lines(n.DNS, n.TCP)
    port = seen.target.port
    if seen.error(n.TCP) == "refused":
        return _critical(
            "tcp",
            "connection-refused",
            f"Connection refused on {seen.where}: nothing is listening",
            evidence,
            f"Start the server that should listen on port {port} (nginx): "
            "`systemctl status nginx`, `ss -ltnp | grep :"
            f"{port}` on the host (runbook: 'Server listening on port 80'). If something "
            "listens there, a firewall REJECT rule answers for it: remove the rule.",
            [
                _candidate(
                    "tcp",
                    f"nothing listens on port {port} (nginx stopped, failed or on another port)",
                    f"`ss -ltnp 'sport = :{port}'` on the host shows no listener",
                ),
                _candidate(
                    "tcp",
                    f"a firewall rule rejects port {port} (REJECT answers like a closed port)",
                    f"a listener shows in `ss -ltnp 'sport = :{port}'` and `iptables -S` / "
                    "`nft list ruleset` / `ufw status` has a REJECT for the port",
                ),
            ],
        )
    return _critical(
        "tcp",
        "connection-timeout",
        f"No answer from {seen.where}: packets are dropped (firewall or security group)",
        evidence,
        f"Open port {port}/tcp in the EC2 security group (`wsready sg plan`, "
        f"`wsready sg apply`) and in the host firewall (`ufw allow {port}/tcp`) "
        "— runbook checklist: 'Firewall allows WebSocket connections'.",
        [
            _candidate(
                "tcp",
                "the host firewall drops the port",
                "`iptables -S` / `nft list ruleset` / `ufw status` on the host shows a DROP; "
                f"`curl http://127.0.0.1:{port}/api/health` on the host itself works",
            ),
            _candidate(
                "tcp",
                "the EC2 security group (or a network ACL) does not allow the port",
                "`wsready sg plan` lists the missing ingress rule; from another host of the "
                "same subnet the port answers",
            ),
            _candidate(
                "tcp",
                "the host is down or the address is wrong",
                "SSH to the address does not answer either; the DNS evidence shows the address",
            ),
        ],
    )


TLS_RENEW = (
    "Renew the certificate (nginx_tls_cert_file / nginx_tls_key_file) and redeploy; with "
    'nginx_tls = "acme" certbot.timer renews it 30 days ahead: on the host, '
    "`systemctl status certbot.timer` and `certbot renew --dry-run` show why it did not."
)
TLS_TRUSTED = (
    'Serve a certificate the clients trust for this name (nginx_tls = "acme" gets one from '
    "Let's Encrypt, or nginx_tls_cert_file), or "
)


# OpenSSL's reasons for a handshake that fails because client and server share no protocol
# version or cipher suite: what a client outside the server's TLS profile (nginx_tls_profile)
# sees, or this client against a server configured for older clients only.
TLS_PROFILE_ALERTS = {
    "TLSV1_ALERT_PROTOCOL_VERSION": "the server accepts none of the TLS versions offered",
    "UNSUPPORTED_PROTOCOL": "the server speaks only TLS versions this client refuses",
    "NO_PROTOCOLS_AVAILABLE": "this client has no TLS version enabled",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the server shares no cipher suite or curve with this client",
    "TLSV1_ALERT_INSUFFICIENT_SECURITY": "the server requires stronger suites than offered",
    "NO_CIPHERS_AVAILABLE": "this client has no cipher suite enabled",
}


def _profile_clients() -> str:
    return "; ".join(
        f"{name}: {', '.join(profile.clients)}" for name, profile in tls_profile.PROFILES.items()
    )


def _tls_profile_mismatch(seen: _Seen, certificate: Certificate) -> Diagnosis | None:
    """The handshake was refused for want of a common protocol version or cipher suite."""
    alert = certificate.alert
    if certificate.error != "handshake" or alert not in TLS_PROFILE_ALERTS:
        return None
    return _critical(
        "tls",
        "tls-profile",
        f"TLS handshake with {seen.where} refused ({alert}): {TLS_PROFILE_ALERTS[alert]} — "
        "client and server TLS profiles share no protocol version or cipher suite",
        seen.lines(n.TLS),
        "The server's TLS profile (nginx_tls_profile, docs/tls.md) admits only clients at "
        f"least as new as these — {_profile_clients()}. An older client (TLS 1.0/1.1 only, "
        "or only CBC/RSA key-exchange suites) cannot connect: update the client, or serve "
        'nginx_tls_profile = "intermediate" if the host runs "modern" and such clients '
        f"must connect. `openssl s_client -connect {seen.where} -tls1_2` (or -tls1_3) "
        "shows which versions the server takes.",
    )


def _tls(seen: _Seen) -> Diagnosis | None:
    if not seen.failed(n.TLS):
        return None
    certificate = Certificate.of(seen.get(n.TLS))
    host = seen.target.host
    mismatch = _tls_profile_mismatch(seen, certificate)
    if mismatch is not None:
        return mismatch
    if certificate.has("days_left"):
        code = "tls-expiring"
        title = f"TLS certificate expires in {certificate.days_left} days (or has expired)"
        fix = TLS_RENEW
    elif certificate.error == "verify":
        reason = certificate.reason
        kind = certificate.verify if certificate.has("verify") else "untrusted"
        code = f"tls-{kind}"
        if kind == "expired":
            title = f"TLS certificate of {seen.where} has expired ({reason})"
            fix = TLS_RENEW + " `openssl x509 -noout -enddate -in CERT` shows the date."
        elif kind == "not-yet-valid":
            title = f"TLS certificate of {seen.where} is not valid yet ({reason})"
            fix = (
                "The certificate's notBefore is in the future for this client: check the "
                "clock of this machine and of the host (`timedatectl`, NTP/chrony); "
                "`openssl x509 -noout -startdate -in CERT` shows the date."
            )
        elif kind == "name":
            title = f"TLS certificate of {seen.where} is not valid for {host} ({reason})"
            fix = (
                f"Serve a certificate whose subjectAltName covers {host} "
                '(nginx_tls_cert_file, or nginx_server_name with nginx_tls = "acme"), or '
                "connect with the name the certificate is for; "
                "`openssl x509 -noout -ext subjectAltName -in CERT` lists its names."
            )
        else:
            title = f"TLS certificate of {seen.where} is not trusted: {reason}"
            fix = TLS_TRUSTED + "probe a self-signed sandbox with --insecure / --ca-file."
    elif certificate.plain_http:
        code = "tls-plain-http"
        title = (
            f"Plain HTTP answers on the TLS port {seen.target.port}: the server there does "
            "not speak TLS"
        )
        fix = (
            f"Serve TLS on port {seen.target.port} (nginx `listen {seen.target.port} ssl` with "
            "ssl_certificate: nginx_tls = True, nginx_tls_port), or use the http:// / ws:// "
            "URL if this port is meant to be plain."
        )
    else:
        code = "tls-handshake"
        title = f"TLS handshake with {seen.where} fails"
        fix = TLS_TRUSTED + "probe a self-signed sandbox with --insecure / a CA bundle."
    diagnosis = _critical("tls", code, title, seen.lines(n.TLS), fix)
    # A certificate still valid but too close to its end: clients connect today.
    diagnosis.forecast = code == "tls-expiring" and certificate.days_left > 0
    return diagnosis


ANSWERING = (n.SERVER, n.HEALTH, n.UPGRADE, n.POLLING, n.CORS, n.REST_AUTH)


def _server(seen: _Seen) -> Diagnosis | None:
    """The port accepts connections, but what owns it does not answer HTTP at all."""
    if not seen.failed(n.SERVER) or any(seen.status(name) for name in ANSWERING):
        return None  # a server that only dislikes the bare request still answers the others
    port = seen.target.port
    closed = seen.error(n.SERVER) in ("closed", "not-http")
    what = "closes them without an HTTP answer" if closed else "never answers"
    return _critical(
        "server",
        "server-closes" if closed else "server-silent",
        f"Port {port} accepts connections but the server {what} (not even nginx's own 400)",
        seen.lines(n.TCP, n.SERVER, n.HEALTH),
        f"The process on port {port} is hung, stopped or out of connections: on the host "
        f"`ss -ltnp 'sport = :{port}'` names it; for nginx `systemctl status nginx` (a "
        "stopped process shows state T in `ps -o pid,stat,cmd -C nginx`), "
        "`tail /var/log/nginx/error.log` ('worker_connections are not enough'), then "
        "`systemctl restart nginx`.",
    )


def _who_answered(seen: _Seen) -> Diagnosis | None:
    """Whose answers these are: wsready's site sends X-Wsready-Config on every answer. When
    a probe failed, no answer carried it, and nothing answered like our stack does (health
    JSON, Socket.IO on polling, Engine.IO's own error, a gateway error from a proxy whose
    app is down), the failure is about who owns the port or the request, not our paths.
    A Socket.IO service deployed without wsready is still judged by the other rules."""
    answered = [
        seen.answer(name)
        for name in ANSWERING
        if seen.get(name) is not None
        and not seen.get(name).skipped
        and seen.answer(name).has("fingerprint")
    ]
    failures = [r for r in seen.by_name.values() if not r.ok and not r.skipped]
    if not answered or not failures or seen.ok(n.POLLING) or seen.ok(n.HEALTH):
        return None
    if any(answer.fingerprint for answer in answered):
        return None
    if any(answer.status in GATEWAY_ERRORS or answer.engineio_error for answer in answered):
        return None
    servers = [answer.server or "" for answer in answered]
    server = next((name for name in servers if name), "")
    port = seen.target.port
    evidence = [
        f"no answer carries X-Wsready-Config (wsready's site sends it on every answer); "
        f"Server: {server or '(none)'}",
        *seen.lines(n.SERVER, n.HEALTH, n.UPGRADE, n.POLLING),
    ]
    if "nginx" not in server.lower():
        return _critical(
            "listener",
            "other-server",
            f"Something else answers port {port} (Server: {server or 'none'}), not wsready's nginx",
            evidence,
            f"Find what owns the port — `ss -ltnp 'sport = :{port}'` on the host — stop and "
            "disable it (or move it to another port), then `systemctl restart nginx` and "
            "check `systemctl status nginx` (it fails to start while the port is taken).",
        )
    return _critical(
        "site",
        "other-site",
        f"nginx answers port {port}, but not with wsready's site: another server block takes "
        "these requests",
        evidence,
        "On the host `nginx -T | grep -nE 'server_name|listen|default_server'` shows the "
        "server blocks: remove the one that takes these requests (e.g. "
        "/etc/nginx/sites-enabled/default or a conf.d file with `default_server`), or give "
        "wsready's site the name the clients use (nginx_server_name); then "
        "`nginx -t && systemctl reload nginx` (a redeploy does both). A wsready deploy from "
        "before X-Wsready-Config also looks like this: redeploy it.",
    )


REDIRECTS = range(300, 400)


def _redirect(seen: _Seen) -> Diagnosis | None:
    """A redirect on the upgrade or polling request: WebSocket clients never follow one."""
    redirected = next(
        (
            seen.get(name)
            for name in (n.UPGRADE, n.POLLING, n.HEALTH)
            if seen.failed(name) and seen.status(name) in REDIRECTS
        ),
        None,
    )
    if redirected is None:
        return None
    answer = Answer.of(redirected)
    status = answer.status
    location = answer.location or "(no Location)"
    evidence = seen.lines(n.HEALTH, n.UPGRADE, n.POLLING)
    moved = urlsplit(location)
    path = seen.path
    if not seen.target.secure and moved.scheme in ("https", "wss"):
        # The checked host, never the one the answer names: a fix carries no URL the
        # target chose.
        netloc = seen.target.host
        wss = f"wss://{netloc}{path}"
        return _critical(
            "redirect",
            "https-redirect",
            f"http:// is redirected to https:// ({status} on {path} to {location}): "
            "WebSocket clients do not follow redirects, so ws:// fails with "
            "TransportError: websocket error",
            evidence,
            f"Connect with {wss} (Socket.IO clients: io('https://{netloc}', "
            f"{{path: '{path}'}})); check it with `wsready diagnose {wss}`. Or keep plain "
            "ws:// served as well: nginx_tls_redirect = False, then redeploy.",
        )
    return _critical(
        "redirect",
        "redirect",
        f"{path} is redirected ({status} to {location}): WebSocket clients do not follow redirects",
        evidence,
        f"Remove the redirect in front of {path} (an nginx `return`/`rewrite` in "
        f"`location {path}/`, a load balancer or maintenance rule), or point the clients at "
        "the URL it redirects to.",
    )


FIX_APP_DOWN = (
    "Runbook issue 1, 'WebSocket server not running': nginx answers but the Node app behind "
    "it does not. On the host: `systemctl status 'wsready-app@*'`, "
    "`journalctl -u 'wsready-app@*' -n 50`, `ss -ltnp | grep :300`; start the workers "
    "(`systemctl restart wsready-app.target`) or redeploy."
)


def _app_down(seen: _Seen) -> Diagnosis | None:
    health, upgrade = seen.status(n.HEALTH), seen.status(n.UPGRADE)
    polling = seen.status(n.POLLING)
    if polling is not None and polling < 500 and not seen.ok(n.POLLING):
        # The app answered polling, but not as Socket.IO (e.g. Express's 404): it is up and
        # Socket.IO is elsewhere. nginx's 502s come from workers it took out of the upstream
        # after failed upgrades (max_fails / fail_timeout): a path, not a down app.
        return None
    if health in GATEWAY_ERRORS and upgrade in GATEWAY_ERRORS:
        return _critical(
            "app",
            "app-down",
            f"nginx is up but the app behind it is down ({health} on /api/health and "
            f"{upgrade} on {seen.path})",
            seen.lines(n.HEALTH, n.UPGRADE, n.POLLING),
            FIX_APP_DOWN,
            [
                _candidate(
                    "app",
                    "the workers are stopped",
                    f"`systemctl is-active '{APP_UNIT}@*'` says inactive (or failed)",
                ),
                _candidate(
                    "app",
                    "the workers crash at start and systemd restarts them in a loop",
                    f"`systemctl status {APP_UNIT}@0` says activating (auto-restart) and "
                    f"`systemctl show -p NRestarts {APP_UNIT}@0` grows; "
                    f"`journalctl -u {APP_UNIT}@0 -n 20` says why (e.g. Configuration error)",
                ),
            ],
        )
    return None


def _no_answer(seen: _Seen, name: str) -> bool:
    return seen.error(name) == "timeout" or seen.status(name) == 504


def _app_slow(seen: _Seen) -> Diagnosis | None:
    """nginx answers by itself, but neither /api/health nor the upgrade gets an answer."""
    if not (seen.ok(n.SERVER) and _no_answer(seen, n.HEALTH) and _no_answer(seen, n.UPGRADE)):
        return None
    return _critical(
        "app",
        "app-slow",
        f"nginx answers, but the app answers neither /api/health nor the upgrade on "
        f"{seen.path} in time: it is hung or too slow",
        seen.lines(n.SERVER, n.HEALTH, n.UPGRADE, n.POLLING),
        "The app accepts connections but does not answer: a blocked event loop, workers "
        f"stopped (SIGSTOP: state T in `ps -o pid,stat,cmd -C node`) or starved of CPU. On "
        f"the host: `systemctl status '{APP_UNIT}@*'`, `top`, "
        f"`journalctl -u '{APP_UNIT}@*' -n 50`; `systemctl restart {APP_UNIT}.target` "
        "brings them back. nginx gives up after proxy_read_timeout with a 504.",
    )


def _host_strain(health: Health) -> tuple[str, str, str] | None:
    """(code, what the host says, fix) when health reports workers down or clients at the
    limit; None when it does not (or an older app does not report them)."""
    up, total = health.workers_up, health.workers_total
    if up is not None and total is not None and up < total:
        units = f"{APP_UNIT}@0" if total == 1 else f"{APP_UNIT}@0 … {APP_UNIT}@{total - 1}"
        return (
            "workers-down",
            f"{total - up} of {total} app workers are down (health: workers {up}/{total})",
            f"Start the missing workers: on the host `systemctl list-units '{APP_UNIT}@*' --all` "
            f"shows which of {units} is not running; then `systemctl status {APP_UNIT}@i`, "
            f"`journalctl -u {APP_UNIT}@i -n 50` and `systemctl restart {APP_UNIT}@i` (all: "
            f"`systemctl restart {APP_UNIT}.target`). The unit is app_name@i.",
        )
    clients, limit = health.clients, health.max_clients
    if clients is not None and limit and clients >= NEAR_LIMIT * limit:
        return (
            "capacity-limit",
            f"the host is at its client limit (health: clients {clients}/{limit}, "
            f">= {NEAR_LIMIT:.0%} of max_clients)",
            "Give the host room, then redeploy: raise app_max_clients (APP_MAX_CLIENTS) and "
            "app_workers (one per core), and nginx_worker_connections / "
            "nginx_worker_processes with them (each WebSocket holds two nginx connections) — "
            "or add a host to the fleet (`wsready onboard`) and spread the clients.",
        )
    return None


def _overloaded(result: ProbeResult) -> bool:
    """This socket probe failed the way a host without room fails (not 404, 400, 44 …)."""
    if result.ok or result.skipped:
        return False
    answer = Answer.of(result)
    if answer.status is not None:
        return answer.status in OVERLOAD_STATUSES
    return answer.error in OVERLOAD_ERRORS


def _capacity(seen: _Seen) -> Diagnosis | None:
    """The upgrade (or Engine.IO open, Socket.IO CONNECT) fails like an overload while health
    answers and says workers are down or the host is at its limit."""
    health = seen.host_says()
    strain = _host_strain(health)
    failed = next((seen.get(name) for name in SOCKET_STEPS if seen.failed(name)), None)
    if failed is None or not _overloaded(failed):
        return None
    if (
        strain is None
        and not health.figures
        and seen.ok(n.HEALTH)
        and not Answer.of(failed).has("status")
    ):
        # An older app says nothing about workers or clients: an overload and a WebSocket
        # server that is not running look the same from here.
        return _undecided(
            "overload-or-websocket",
            f"the {SOCKET_STEPS[failed.probe]} on {seen.path} fails ({failed.actual}) while "
            "REST works, and /api/health does not say whether the host has room",
            seen.lines(n.HEALTH, n.UPGRADE, n.OPEN, n.CONNECT, n.POLLING),
            [
                _candidate(
                    "capacity",
                    "the host is out of room (workers down, clients at the limit, nginx "
                    "worker_connections used up)",
                    "/api/health of an app with the scale-out fields reports workers and "
                    "clients; `tail /var/log/nginx/error.log` says 'worker_connections are "
                    "not enough'",
                ),
                _candidate(
                    "websocket",
                    f"nothing serves the WebSocket at {seen.path} (Socket.IO not running or "
                    "not attached there)",
                    "the failure stays the same with no other clients connected; "
                    f"`journalctl -u '{APP_UNIT}@*'` shows no connection",
                ),
            ],
            "Look at the host first: `systemctl status 'wsready-app@*'`, "
            "`tail /var/log/nginx/error.log`, then the fix of the layer it shows.",
        )
    if strain is None:
        return None
    polling_status = seen.status(n.POLLING)
    if polling_status is not None and polling_status < 500 and not seen.ok(n.POLLING):
        return None  # polling reaches something that is not Socket.IO: a path, not capacity
    code, host_says, fix = strain
    return _critical(
        "capacity",
        code,
        f"The {SOCKET_STEPS[failed.probe]} on {seen.path} fails ({failed.actual}) "
        f"while {host_says}",
        seen.lines(n.HEALTH, n.UPGRADE, n.OPEN, n.CONNECT, n.POLLING),
        fix,
    )


def _websocket_evidence(seen: _Seen) -> list[str]:
    evidence = seen.lines(n.HEALTH, n.UPGRADE, n.OPEN, n.POLLING)
    upgrade = seen.get(n.UPGRADE)
    body = Answer.of(upgrade).body
    if upgrade is not None and body:
        after_upgrade = evidence.index(evidence_line(upgrade)) + 1
        evidence.insert(after_upgrade, f"upgrade body: {body}")
    if seen.ok(n.HEALTH):
        evidence.insert(0, f"{RUNBOOK_SYMPTOM} (the runbook's exact situation)")
    return evidence


def _path_mismatch(seen: _Seen, evidence: list[str]) -> Diagnosis | None:
    """Nothing Socket.IO-like at the path: upgrade 404, polling 404 / not `0{`, or a 101
    from a WebSocket server that does not speak Engine.IO."""
    status, polling_status = seen.status(n.UPGRADE), seen.status(n.POLLING)
    polling_not_socketio = polling_status == 404 or (
        polling_status is not None and polling_status < 500 and not seen.ok(n.POLLING)
    )
    open_failed = seen.failed(n.OPEN)
    if not (open_failed or status == 404 or (seen.failed(n.UPGRADE) and polling_not_socketio)):
        return None
    if open_failed:
        what = "no Engine.IO open packet after the 101"
    else:
        what = f"upgrade {status or seen.error(n.UPGRADE)}, polling {polling_status}"
    path = seen.path
    return _critical(
        "websocket path",
        "socketio-path",
        f"Socket.IO is not attached at {path} ({what})"
        + (f" — {RUNBOOK_SYMPTOM}" if seen.ok(n.HEALTH) else ""),
        evidence,
        f"Runbook issue 3, 'Wrong path configuration': the server's Socket.IO `path` must be "
        f"'{path}' (app_socketio_path, WS_PATH in the app's environment) and nginx's "
        f"`location {path}` must proxy to the app. The client's path and the server's must "
        "match exactly.",
    )


def _upgrade_not_passed(seen: _Seen, evidence: list[str]) -> Diagnosis | None:
    """Polling reaches Socket.IO but the upgrade gets a non-101 answer below 500: the proxy
    drops `Upgrade`/`Connection` (Engine.IO then says code 3 "Bad request")."""
    status = seen.status(n.UPGRADE)
    if status is None or status >= 500 or not seen.ok(n.POLLING):
        return None
    upgrade, polling = seen.answer(n.UPGRADE), seen.answer(n.POLLING)
    engineio_error = upgrade.engineio_error
    app_answers_polling = polling.worker is not None
    if not engineio_error and app_answers_polling and upgrade.worker is None:
        return _critical(
            "proxy upgrade",
            "upgrade-refused-by-proxy",
            f"The proxy itself refuses the WebSocket upgrade on {seen.path} ({status}): the "
            "request never reached the app, while polling does (answered by worker "
            f"{polling.worker})",
            evidence,
            f"Find the rule in front of the app that answers {status} to `Upgrade: websocket` "
            f"on {seen.path} (an nginx `if ($http_upgrade …) {{ return … }}`, `deny`, a WAF "
            "or a load balancer rule) and remove it; then reload.",
        )
    if engineio_error:
        said = f'Engine.IO error {engineio_error["code"]} "{engineio_error["message"]}"'
    else:
        said = f"status {status}"
    path = seen.path
    return _critical(
        "proxy upgrade",
        "upgrade-headers",
        f"The proxy does not pass the WebSocket upgrade on {path}: {said} instead of 101, "
        "while polling reaches Socket.IO",
        evidence,
        f"Runbook issue 4, 'Nginx not configured for WebSocket': in `location {path}` set "
        "`proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
        'proxy_set_header Connection "upgrade";` then `nginx -t && systemctl reload nginx`.',
    )


def _websocket_server_down(seen: _Seen, evidence: list[str]) -> Diagnosis:
    """The runbook's own case when REST works: nothing serves the upgrade at the path."""
    path = seen.path
    if not seen.ok(n.HEALTH):
        return _critical(
            "websocket",
            "websocket-broken",
            f"WebSocket upgrade on {path} fails and REST is not healthy either",
            evidence,
            FIX_APP_DOWN,
        )
    return _critical(
        "websocket",
        "rest-ok-websocket-broken",
        f"{RUNBOOK_SYMPTOM}: the WebSocket server is not running at {path}",
        evidence,
        f"The runbook's diagnosis, 'WebSocket server not running': REST is served but "
        f"nothing answers the upgrade on {path}. Check that the Socket.IO server is started "
        f"and attached to the HTTP server at path '{path}' (runbook issues 1–2), that "
        f"nginx's `location {path}` proxies to it, then test the 101 with the runbook's "
        "curl and `wscat`.",
    )


def _websocket(seen: _Seen) -> Diagnosis | None:
    """The upgrade did not give 101 (or the 101 did not speak Engine.IO)."""
    if not seen.failed(n.UPGRADE) and not seen.failed(n.OPEN):
        return None
    evidence = _websocket_evidence(seen)
    if seen.status(n.UPGRADE) == 403 and seen.target.origin:
        return _cors(seen, evidence)
    return (
        _path_mismatch(seen, evidence)
        or _upgrade_not_passed(seen, evidence)
        or _websocket_server_down(seen, evidence)
    )


def _cors(seen: _Seen, evidence: list[str] | None = None) -> Diagnosis:
    origin = seen.target.origin
    return _critical(
        "cors",
        "cors-origin",
        f"Browser origin {origin} is not allowed by CORS",
        evidence or seen.lines(n.CORS, n.POLLING, n.UPGRADE),
        f"Runbook checklist 'CORS configured to allow connections': add {origin} to "
        "app_cors_origins (CORS_ORIGINS in the app's environment; never '*' in production) "
        "and redeploy.",
    )


def _auth(seen: _Seen) -> Diagnosis | None:
    result = seen.get(n.CONNECT)
    if result is None or result.skipped:
        return None
    connect = SocketConnect.of(result)
    evidence = seen.lines(n.UPGRADE, n.OPEN, n.CONNECT, n.REST_AUTH, n.AUTH_MATCH)
    if connect.accepted is False:
        message = connect.message if connect.has("message") else ""
        rest_accepted = seen.answer(n.REST_AUTH).accepted is True
        if rest_accepted:
            why = (
                "REST accepts this token but the socket refuses it: the socket does not use "
                "REST's token validation"
            )
            fix = (
                "The runbook's closing item: validate `socket.handshake.auth.token` with the "
                "same function as the REST middleware (same secret, audience, expiry rules)."
            )
        elif not connect.token_sent:
            why = "no token was sent and the socket requires one"
            fix = (
                "Pass a token: `--token-env VAR` (mint one with `wsready token`). Clients "
                "send it as `auth: {token}` in io(url, {path, auth})."
            )
        else:
            why = "the token is not valid (expired, wrong secret or audience)"
            fix = (
                "Use a valid token (mint one with `wsready token --inventory …`); check "
                "app_auth, app_jwt_secret and app_jwt_audience match what issued it."
            )
        return _critical(
            "auth",
            "auth-mismatch" if rest_accepted else "auth-refused",
            f"Socket.IO refused the token (44 {message}): an auth error, not a transport "
            f"error — {why}",
            ["Transport works: the upgrade gave 101 and Engine.IO opened", *evidence],
            fix,
        )
    if seen.failed(n.AUTH_MATCH):
        return _critical(
            "auth",
            "auth-mismatch",
            "The socket accepts a token that REST refuses: socket auth is not enforced",
            evidence,
            "Enable the same token check on the socket as on REST (app_auth, the Socket.IO "
            "middleware): REST accepts ⇔ socket accepts.",
        )
    if seen.failed(n.CONNECT):
        return _critical(
            "socket.io",
            "socketio-connect",
            "Socket.IO did not answer CONNECT on namespace /",
            evidence,
            "Check the app's logs (`journalctl -u 'wsready-app@*'`) for middleware errors.",
        )
    return None


def _idle(seen: _Seen) -> Diagnosis | None:
    ping, idle = seen.get(n.PING), seen.get(n.IDLE)
    dropped = [
        result
        for result in (ping, idle)
        if result is not None and not result.ok and not result.skipped
    ]
    if not dropped:
        return None
    if any(Observed.of(result).error == "closed" for result in dropped):
        opened = EngineOpened.of(seen.get(n.OPEN))
        interval = opened.ping_interval_ms if opened.has("ping_interval_ms") else 0
        timeout = opened.ping_timeout_ms if opened.has("ping_timeout_ms") else 0
        needed = (interval + timeout) / 1000
        hosts = session_hosts(seen)
        if len(hosts) > 1:  # several hosts answered one address: a balancer in front
            return _critical(
                "front door",
                "front-door-idle",
                "Idle connections are dropped by the front door in front of hosts "
                f"{', '.join(sorted(hosts))}: its idle timeout is shorter than pingInterval "
                f"+ pingTimeout ({needed:g} s)",
                seen.lines(n.OPEN, n.PING, n.IDLE),
                f"Raise the balancer's idle timeout above {needed:g} s: lb_idle_timeout_s "
                "(the ALB's idle_timeout.timeout_seconds, 60 s by default; the sandbox's "
                "HAProxy: timeout client/server/tunnel), then `wsready lb apply` or redeploy "
                "the balancer host. If the hosts' nginx cut it instead, raise "
                "nginx_proxy_read_timeout_s.",
            )
        return _critical(
            "proxy idle",
            "idle-drop",
            "Idle connections are dropped: the proxy's read timeout is shorter than "
            f"pingInterval + pingTimeout ({needed:g} s)",
            seen.lines(n.OPEN, n.PING, n.IDLE),
            f"Raise nginx `proxy_read_timeout` in `location {seen.path}` above {needed:g} s "
            "(nginx_proxy_read_timeout_s) — or lower app_ping_interval_ms — and reload nginx.",
        )
    return _critical(
        "heartbeat",
        "heartbeat",
        "The server sends no Engine.IO ping within pingInterval",
        seen.lines(n.OPEN, n.PING, n.IDLE),
        "Check the app's event loop (blocked?) and its pingInterval setting.",
    )


def _rest(seen: _Seen) -> Diagnosis | None:
    if not seen.failed(n.HEALTH):
        return None
    status = seen.status(n.HEALTH)
    return _critical(
        "http",
        "rest-broken",
        f"/api/health fails ({status or seen.error(n.HEALTH)}) while the socket works",
        seen.lines(n.HEALTH),
        "Check nginx's `location /api/` (nginx_rest_upstream) and the REST backend's logs.",
    )


def _cors_failed(seen: _Seen) -> Diagnosis | None:
    return _cors(seen) if seen.target.origin and seen.failed(n.CORS) else None


def _redis(seen: _Seen) -> Diagnosis | None:
    """Health says Redis is down: every probe may pass, but broadcasts stop at this host."""
    if seen.host_says().redis != "down":
        return None
    return Diagnosis(
        "redis",
        "Redis is down for the app (health: redis=down): this host serves its own clients, "
        "but broadcasts no longer reach clients on other workers or hosts",
        seen.lines(n.HEALTH),
        REDIS_FIX,
        ExitStatus.WARNING,
        "redis-down",
    )


def _capacity_warning(seen: _Seen) -> Diagnosis | None:
    """Every socket probe passes, but workers are down or the host is at its limit."""
    strain = _host_strain(seen.host_says())
    if strain is None:
        return None
    code, host_says, fix = strain
    return Diagnosis(
        "capacity",
        f"Degraded: {host_says}; the probes still connect",
        seen.lines(n.HEALTH),
        fix,
        ExitStatus.WARNING,
        code,
    )


def _degraded(seen: _Seen) -> Diagnosis | None:
    warnings = [result for result in seen.by_name.values() if result.ok and result.warning]
    if seen.failed(n.POLLING):
        return Diagnosis(
            "polling",
            "The long-polling transport fails: clients with the default options (polling "
            "first) fail with `xhr poll error`; WebSocket-only clients still work",
            seen.lines(n.POLLING),
            f"Check nginx's `location {seen.path}` passes GET/POST with query strings to the app.",
            ExitStatus.CRITICAL,
            "polling-broken",
        )
    if warnings:
        return Diagnosis(
            warnings[0].layer,
            "Degraded: " + "; ".join(f"{result.probe} {result.actual}" for result in warnings),
            [str(result) for result in warnings],
            "Renew certificates before they expire; look at latency on the host and network.",
            ExitStatus.WARNING,
            "degraded",
        )
    return None


# --- what the official client's own sessions saw (probes/sampled.py) -----------------------

CLIENT_PROBES = (n.SESSION, n.SESSION_UPGRADE, n.WEBSOCKET_ONLY, n.WORKERS, n.BROADCAST)
SESSION_ROUTING_FIX = (
    "Every request of one Engine.IO session must reach the worker that created it (the "
    "Socket.IO docs, 'Using multiple nodes': sticky sessions). wsready's site routes by the "
    'session id: `map $arg_sid $wsready_socketio_upstream` with one `"~^N-"` line per worker '
    "and `proxy_pass http://$wsready_socketio_upstream;` in `location {path}/` — redeploy to "
    "restore it. Behind a load balancer: enable stickiness (a cookie) for {path}, or let "
    "clients use `transports: ['websocket']`."
)


def _said(failure: Failure) -> str:
    where = []
    if failure.worker is not None:
        where.append(f"answered by worker {failure.worker}")
    if failure.sid_worker not in (None, failure.worker):
        where.append(f"session of worker {failure.sid_worker}")
    suffix = f" ({', '.join(where)})" if where else ""
    return f"{failure.mode} session, {failure.step}: {failure.said}{suffix}"


def _health_says(seen: _Seen) -> list[WorkerSays]:
    return seen.host_says().workers_said


def _self_report(rows: list[WorkerSays]) -> str:
    """`worker 0: path /ws, transports polling,websocket, config ab12…` for the evidence."""
    parts = []
    for row in rows:
        transports = ",".join(row.transports or []) or "?"
        path = row.path if row.has("path") else "?"
        parts.append(
            f"worker {row.worker}: path {path}, transports {transports}, "
            f"upgrade {'offered' if row.upgrades else 'not offered'}, "
            f"config {str(row.config or '?')[:12]}"
        )
    return "health says " + "; ".join(parts) if parts else "health lists no workers"


FRONT_DOOR_STICKINESS_FIX = (
    "Polling clients need every request of a session on the host that made it. Turn on the "
    "balancer's stickiness: lb_stickiness = True (the ALB's target group: stickiness.type "
    "lb_cookie; the sandbox's HAProxy: `cookie … insert`), and let clients keep its cookie "
    "(browsers do for the same origin, cross-origin with `withCredentials: true`; Node.js "
    "clients need `withCredentials: true`). Or connect with `transports: ['websocket']` "
    "(one request per session) and set lb_websocket_only = True."
)


def session_hosts(seen: _Seen) -> set[str]:
    """The app hosts (X-Wsready-Host) that answered the sampled sessions' steps."""
    hosts: set[str] = set()
    for name in CLIENT_PROBES:
        hosts.update(Sessions.of(seen.get(name)).step_hosts)
    for name in (n.HEALTH, n.POLLING, n.UPGRADE):
        answer = seen.answer(name)
        if answer.host:
            hosts.add(str(answer.host))
    return hosts


def _front_door_stickiness(seen: _Seen) -> Diagnosis | None:
    """`1 Session ID unknown` from another host than the one that made the session: the
    balancer in front of the hosts does not keep a session on its host."""
    lost = [
        f
        for f in seen.failures(n.SESSION, n.SESSION_UPGRADE)
        if f.code == 1 and f.host and f.session_host and f.host != f.session_host
    ]  # fmt: skip
    if not lost:
        return None
    first = lost[0]
    evidence = [
        f"{len(lost)} sessions made on one host were answered by another: "
        f"{_said(first)}, session made by host {first.session_host}, "
        f"request answered by host {first.host}"
    ]
    evidence += seen.lines(n.SESSION, n.SESSION_UPGRADE)
    return _critical(
        "front door",
        "front-door-stickiness",
        "The front door sends the requests of one session to different hosts (Engine.IO 1 "
        '"Session ID unknown" from another host): no stickiness — the official client fails '
        "with `xhr poll error`",
        evidence,
        FRONT_DOOR_STICKINESS_FIX,
    )


# What a balancer's own error page says in `Server`: an ALB's, or nothing (HAProxy).
BALANCER_SERVERS = ("awselb", "elb")


def _front_door_targets(seen: _Seen) -> Diagnosis | None:
    """A gateway error that no app host's nginx sent (no X-Wsready-Config, no host named) from
    a balancer (an ALB's `Server: awselb/2.0`, or none as HAProxy): the balancer itself
    answered, with no healthy host behind it."""
    health = seen.health()
    if seen.get(n.HEALTH) is None or health.status not in GATEWAY_ERRORS:
        return None
    if not health.has("fingerprint"):
        return None  # who answered was not looked at
    if health.fingerprint or health.host:
        return None  # our nginx answered: the app behind it (see _app_down)
    server = str(health.server or "")
    if server and not server.lower().startswith(BALANCER_SERVERS):
        return None  # a proxy of another kind (nginx, …) whose app is down: see _app_down
    said = f"{seen.status(n.HEALTH)}" + (f" from {server!r}" if server else " (no Server header)")
    return _critical(
        "front door",
        "front-door-no-healthy-host",
        f"The front door answers {said} itself: no app host behind it is healthy or "
        "registered (no answer came from a host's nginx)",
        seen.lines(n.HEALTH, n.POLLING, n.UPGRADE),
        "Look at the balancer's targets: `wsready lb deregister/register` and the target "
        "group's health (AWS console or `aws elbv2 describe-target-health`); the sandbox's "
        "HAProxy: `echo 'show stat' | socat stdio /run/haproxy/admin.sock` on the balancer "
        "host. Each app host must answer GET /api/health with 200 on nginx_listen_port from "
        "the balancer (its security group: lb_security_group_id; its firewall), and be "
        "registered (`wsready lb register INVENTORY HOST`, or a deploy of the host).",
    )


def _websocket_only_not_enforced(seen: _Seen) -> Diagnosis | None:
    """lb_websocket_only, yet the app still offers long-polling: the WebSocket-only clients
    work, but a client left on the default transports starts on polling and fails behind a
    balancer without stickiness (`xhr poll error`)."""
    if not seen.target.websocket_only or not seen.answer(n.POLLING).offered:
        return None
    return Diagnosis(
        "app socket.io",
        "WebSocket-only mode (lb_websocket_only) is not enforced: the app still offers "
        "long-polling, so a client on the default transports starts a polling session that "
        "fails without stickiness (`xhr poll error`); WebSocket-only clients work",
        seen.lines(n.POLLING, n.WEBSOCKET_ONLY),
        "Redeploy the app hosts: with lb_websocket_only = True the deploy writes "
        "APP_TRANSPORTS=websocket into the app's environment (Socket.IO `transports: "
        "['websocket']`); `systemctl cat wsready-app@N` shows a drop-in that overrides it.",
        ExitStatus.WARNING,
        "websocket-only-not-enforced",
    )


def _front_door_host_missing(seen: _Seen) -> Diagnosis | None:
    """An app host expected behind the front door (healthy on its own address, `check
    --inventory`; or `--expect-host`) never answered a step of the sampled sessions: the
    balancer does not send it clients (not registered, or its health check fails there).
    The clients still work, on the other hosts: a WARNING, the fleet's capacity is lower."""
    result = seen.get(n.HOSTS)
    if result is None or result.skipped or result.ok:
        return None
    hosts = FrontDoorHosts.of(result)
    missing = [str(host) for host in hosts.missing or []]
    if not missing:
        return None
    reached = [str(host) for host in hosts.reached or []]
    names = ", ".join(missing)
    return Diagnosis(
        "front door",
        f"Host(s) {names} never answer through the front door: not registered with the "
        "balancer (or unhealthy there); clients land only on " + (", ".join(reached) or "no host"),
        [evidence_line(result), *seen.lines(n.WORKERS)],
        f"Register {names} with the balancer: `wsready lb register INVENTORY HOST` (or a "
        "deploy of the host); the ALB's target group: `aws elbv2 describe-target-health`; the "
        "sandbox's HAProxy: `echo 'show stat' | socat stdio /run/haproxy/admin.sock` on the "
        "balancer host (a server in MAINT is deregistered, DOWN fails /api/health from the "
        "balancer: its firewall or security group, lb_security_group_id).",
        ExitStatus.WARNING,
        "front-door-host-not-registered",
    )


def _routing(seen: _Seen) -> Diagnosis | None:
    """Engine.IO says `1 Session ID unknown` to a request of a live session: it reached a
    worker that did not create it."""
    lost = [f for f in seen.failures(n.SESSION, n.SESSION_UPGRADE) if f.code == 1]
    if not lost:
        return None
    total = Sessions.of(seen.get(n.SESSION)).sessions
    path = seen.path
    evidence = [f"{len(lost)} of {total} sessions lost: " + _said(lost[0])]
    evidence += seen.lines(n.SESSION, n.SESSION_UPGRADE, n.WORKERS)
    return _critical(
        "routing",
        "session-routing",
        'Requests of one Engine.IO session reach another worker (Engine.IO 1 "Session ID '
        'unknown"): the official client fails with `xhr poll error` / `xhr post error` — '
        "no session stickiness",
        evidence,
        SESSION_ROUTING_FIX.replace("{path}", path),
    )


EIO3_PAYLOAD = re.compile(r"^\d+:0\{")  # Engine.IO 3 polling framing: `97:0{"sid":…}`


def _socketio_v2(seen: _Seen) -> Diagnosis | None:
    """The server speaks Socket.IO 2 (Engine.IO 3): length-prefixed polling payloads and a
    CONNECT answer without a sid. The official client 4 refuses it ("It seems you are trying
    to reach a Socket.IO server in v2.x with a v3.x client")."""
    body = str(seen.answer(n.POLLING).body or "")
    said_v2 = SocketConnect.of(seen.get(n.CONNECT)).protocol == "socket.io 2"
    if not (EIO3_PAYLOAD.match(body) or said_v2):
        return None
    return _critical(
        "app socket.io",
        "protocol-version",
        "The server speaks Socket.IO 2 (Engine.IO 3): Socket.IO 4 clients cannot connect — "
        '"It seems you are trying to reach a Socket.IO server in v2.x with a v3.x client"',
        seen.lines(n.POLLING, n.CONNECT, n.SESSION, n.WEBSOCKET_ONLY),
        "Deploy an app built on socket.io 4 (the server's major version must match the "
        "clients': socket.io-client 4 needs socket.io 3 or 4); `allowEIO3` is for the "
        "opposite case, an old client and a new server. `npm ls socket.io` in the app shows "
        "the version.",
    )


def _refused_transport(failure: Failure) -> str:
    """Which transport a request asked for: a polling session's handshake and requests ask for
    polling, its upgrade and every WebSocket-only step for websocket."""
    if failure.mode == "polling" and failure.step in SESSION_POLLING_STEPS:
        return "polling"
    return "websocket"


SESSION_POLLING_STEPS = ("handshake", "connect", "connect answer")


def _server_refuses(seen: _Seen) -> Diagnosis | None:
    """Engine.IO itself refused a transport (code 0) or the protocol version (code 5): the
    server's own settings, not the proxy. What the app says of itself decides which."""
    found = [f for f in seen.failures(*CLIENT_PROBES) if f.code in (0, 5)]
    for name, mode, step in (
        (n.UPGRADE, "websocket", "upgrade"),
        (n.POLLING, "polling", "handshake"),
    ):
        if name == n.POLLING and seen.target.websocket_only:
            continue  # refusing polling is the mode (lb_websocket_only), not a fault
        answer = seen.answer(name)
        said = answer.engineio_error
        if isinstance(said, dict) and said.get("code") in (0, 5):
            found.insert(0, Failure(engineio_error=said, step=step, mode=mode,
                                    said=seen.get(name).actual, worker=answer.worker))  # fmt: skip
    if not found:
        return None
    first = found[0]
    rows = _health_says(seen)
    evidence = [_said(first), _self_report(rows), *seen.lines(n.POLLING, n.UPGRADE)]
    if first.code == 5:
        return _critical(
            "app socket.io",
            "protocol-version",
            "The server refuses the client's protocol version (Engine.IO 5 \"Unsupported "
            'protocol version"): Socket.IO 4 clients speak EIO=4',
            evidence,
            "Match client and server major versions (socket.io 4 server with socket.io-client "
            "4; `allowEIO3: true` on the server only for v2 clients).",
        )
    refused = _refused_transport(first)
    says_refused = bool(rows) and all(refused not in (r.transports or []) for r in rows)
    if not says_refused:
        return _undecided(
            "server-transports",
            f'Engine.IO answered 0 "Transport unknown" to {refused}, yet '
            + ("the app says it allows it" if rows else "the app does not say its transports"),
            evidence,
            [
                _candidate(
                    "app socket.io",
                    f"the server's `transports` option excludes {refused}",
                    "the app's Socket.IO options (APP_TRANSPORTS)",
                ),
                _candidate(
                    "app socket.io",
                    "the server that answered is not the one health "
                    "describes (another process at the path)",
                    "the answering worker's X-Wsready-Worker header and fingerprint",
                ),
            ],  # fmt: skip
            "Compare the Socket.IO server options of the process behind the path with health.",
        )
    other = "polling" if refused == "websocket" else "websocket"
    clients = (
        "WebSocket-only clients fail and default clients never upgrade"
        if refused == "websocket"
        else "clients with the default options fail their polling handshake (`xhr poll error`)"
    )
    return _critical(
        "app socket.io",
        "server-transports",
        f'The Socket.IO server itself refuses the {refused} transport (Engine.IO 0 "Transport '
        f'unknown"): its `transports` option allows only {other} — not the proxy. {clients}',
        evidence,
        f"Allow '{refused}' in the server's options: `new Server(httpServer, {{transports: "
        "['polling', 'websocket']})` (the bundled app: APP_TRANSPORTS unset). nginx is not to "
        "blame: Engine.IO answered, so the request reached it.",
    )


def _worker_difference(bad: WorkerSays | None, good: list[WorkerSays]) -> str:
    """What a failing worker says of itself that the good ones do not."""
    if bad is None or not bad.present or not good:
        return ""
    for key, label in (("path", "path"), ("transports", "transports"),
                       ("upgrades", "upgrade offer"), ("config", "config fingerprint"),
                       ("version", "release")):  # fmt: skip
        mine, theirs = getattr(bad, key), {repr(getattr(row, key)) for row in good}
        if repr(mine) not in theirs:
            return f"its {label} is {mine!r}, the others' {', '.join(sorted(theirs))}"
    return ""


def _some_workers(seen: _Seen) -> Diagnosis | None:
    """Sessions fail on some workers while others serve every session: name them."""
    result = seen.get(n.WORKERS)
    if result is None or result.skipped or result.ok:
        return None
    table = Sessions.of(result).table
    # Evidence only: a worker fails when sessions it answered failed, and is healthy when
    # every session it answered passed (a balancer may have sent it none of some kind).
    failing = [row for row in table if row.failed]
    # The others: listed workers none of whose sessions failed (a failing worker may draw
    # every session from a least-connections balancer, leaving the others unreached).
    others = [row for row in table if not row.failed and row.listed]
    healthy = [row for row in others if row.sessions]
    if not failing or not others:
        return None
    says = {str(row.worker): row for row in _health_says(seen)}
    good = [says[str(row.worker)] for row in others if str(row.worker) in says]

    def told_apart(row: WorkerRow) -> bool:
        """The evidence that this worker, not the requests' kind, fails: a healthy worker
        passed sessions of a kind that failed here, or it says of itself what the healthy
        ones do not (path, transports, upgrade offer, fingerprint, release)."""
        kinds = {f.mode for f in row.failed_sessions}
        passed_same = any(kinds - set(h.unreached or []) for h in healthy)
        return passed_same or bool(_worker_difference(says.get(str(row.worker)), good))

    if not all(told_apart(row) for row in failing):
        return None
    if any(f.code == 1 for f in seen.failures(*CLIENT_PROBES)):
        return None  # sessions lost between workers: routing (see _routing), not some workers
    lines, differences = [], []
    for row in failing:
        worker = str(row.worker)
        difference = _worker_difference(says.get(worker), good)
        differences.append((worker, difference))
        first = (row.failed_sessions or [Failure()])[0]
        if row.failed:
            what = f"{row.failed}/{row.sessions} sessions failed, {_said(first)}"
        else:
            what = f"not reached by {', '.join(row.unreached_failing)}"
        lines.append(f"worker {worker}: {what}" + (f"; {difference}" if difference else ""))
    names = ", ".join(worker for worker, _ in differences)
    fix_parts = [f"worker {w}: {d}" for w, d in differences if d]
    fix = (
        "Bring the failing worker(s) back in line with the others: "
        + ("; ".join(fix_parts) + ". " if fix_parts else "")
        + f"`systemctl restart {APP_UNIT}@N` restarts one with the deployed configuration; a "
        "drop-in or a stale environment on one instance shows in `systemctl cat "
        f"{APP_UNIT}@N`. Until then, the clients that land on it fail (`xhr poll error`)."
    )
    return _critical(
        "workers",
        "some-workers",
        f"{len(failing)} of {len(table)} workers fail the official client's sessions "
        f"(worker {names}) while the others serve them",
        [*lines, _self_report(list(says.values())), evidence_line(result)],
        fix,
    )


def _session_refused_by_proxy(seen: _Seen) -> Diagnosis | None:
    """A session's POST or poll is refused by something that is not a worker (no worker
    header) after a worker answered its handshake: the proxy's rules for polling."""
    failures = [
        f for f in seen.failures(n.SESSION)
        if f.step in ("connect", "connect answer") and f.worker is None
        and isinstance(f.status, int)
    ]  # fmt: skip
    if not failures:
        return None
    first = failures[0]
    path = seen.path
    request = "POST" if first.step == "connect" else "poll"
    return _critical(
        "proxy polling",
        "polling-session-refused",
        f"The proxy refuses the polling session's {request} ({first.status}) that the "
        "client sends after the handshake: the official "
        "client fails with `xhr post error` / `xhr poll error`",
        [_said(first), *seen.lines(n.POLLING, n.SESSION)],
        f"In nginx's `location {path}/`: allow POST (no `limit_except GET`), a "
        "`client_max_body_size` at least the app's maxHttpBufferSize (1 MB), and pass the "
        "query string; then `nginx -t && systemctl reload nginx`.",
    )


def _payload_too_large(seen: _Seen) -> Diagnosis | None:
    """A worker answers the session's POST with 413: the app's maxHttpBufferSize is smaller
    than what the client sends (a CONNECT with its auth payload, an event)."""
    failures = [
        f for f in seen.failures(n.SESSION)
        if f.status == 413 and f.worker is not None
    ]  # fmt: skip
    if not failures:
        return None
    return _critical(
        "app socket.io",
        "payload-too-large",
        "The app refuses the client's packets as too large (413 from worker "
        f"{failures[0].worker}): its maxHttpBufferSize is below what clients send",
        [_said(failures[0]), *seen.lines(n.SESSION, n.CONNECT, n.WEBSOCKET_ONLY)],
        "Raise the server's `maxHttpBufferSize` (app_max_http_buffer_size, "
        "MAX_HTTP_BUFFER_SIZE; Socket.IO's default is 1 MB) above the largest packet clients "
        "send, and restart the workers.",
    )


def _no_upgrade_offered(seen: _Seen) -> Diagnosis | None:
    failures = seen.failures(n.SESSION_UPGRADE)
    if not failures or not all("offers no WebSocket upgrade" in str(f.said) for f in failures):
        return None
    rows = _health_says(seen)
    return _critical(
        "app socket.io",
        "upgrade-not-offered",
        "The server's handshake offers no WebSocket upgrade (`upgrades: []`): default clients "
        "stay on long-polling, WebSocket-only clients are unaffected",
        [_said(failures[0]), _self_report(rows), *seen.lines(n.POLLING, n.WEBSOCKET_ONLY)],
        "Offer the upgrade: `allowUpgrades: true` (the default) and 'websocket' in the "
        "server's `transports` (the bundled app: APP_ALLOW_UPGRADES and APP_TRANSPORTS unset).",
    )


def _session_upgrade(seen: _Seen) -> Diagnosis | None:
    """The upgrade of a polling session fails while WebSocket-only sessions work."""
    failures = seen.failures(n.SESSION_UPGRADE)
    if not failures:
        return None
    first = failures[0]
    if first.code == 3:
        return _upgrade_not_passed_session(seen, first)
    return _undecided(
        "session-upgrade",
        "the upgrade of a polling session fails: " + _said(first),
        [_said(first), *seen.lines(n.SESSION_UPGRADE, n.WEBSOCKET_ONLY)],
        [
            _candidate(
                "proxy upgrade",
                "the proxy drops or delays WebSocket frames of an upgraded session",
                "WebSocket-only sessions pass or fail alike",
            ),
            _candidate(
                "routing",
                "the upgrade reaches another worker than the session's",
                "Engine.IO 1 on the upgrade; the worker header differs from the sid's",
            ),
        ],  # fmt: skip
        "Compare `location {path}/`'s upgrade headers and session routing with wsready's site.",
    )


def _upgrade_not_passed_session(seen: _Seen, first: Failure) -> Diagnosis:
    path = seen.path
    return _critical(
        "proxy upgrade",
        "upgrade-headers",
        f"The proxy does not pass the WebSocket upgrade of a session on {path}: Engine.IO 3 "
        '"Bad request" instead of 101',
        [_said(first), *seen.lines(n.SESSION_UPGRADE, n.UPGRADE)],
        f"In `location {path}/` set `proxy_http_version 1.1; proxy_set_header Upgrade "
        '$http_upgrade; proxy_set_header Connection "upgrade";` then reload nginx.',
    )


def _broadcast(seen: _Seen) -> Diagnosis | None:
    """A message emitted on one worker did not reach clients held on another."""
    result = seen.get(n.BROADCAST)
    delivery = Sessions.of(result)
    if result is None or result.skipped or result.ok or delivery.error:
        return None
    missing = delivery.missing or []
    redis = seen.host_says().redis
    evidence = [evidence_line(result), *seen.lines(n.HEALTH)]
    if redis == "down":
        return _critical(
            "redis",
            "redis-down",
            "Redis is down for the app (health: redis=down): broadcasts no longer reach "
            f"clients on other workers (none on worker {', '.join(map(str, missing))})",
            evidence,
            REDIS_FIX,
        )
    return _critical(
        "redis adapter",
        "adapter-not-delivering",
        f"Broadcasts do not cross workers: emitted on worker {delivery.emitter}, "
        f"none arrived on worker {', '.join(map(str, missing))}, while health says redis="
        f"{redis or '?'} — the adapter is connected but does not deliver",
        evidence,
        "Check Redis for the adapter: broadcasts go through the stream `wsready:socket.io` "
        "(`redis-cli … XINFO STREAM wsready:socket.io` grows with each broadcast), "
        "`redis-cli … ACL LOG` shows refused XADD/XREAD/PUBLISH/SUBSCRIBE, `CLIENT LIST` one "
        "reader per worker; every worker must use the same Redis (app_redis_url) and key "
        "prefix. Restart the workers once Redis allows it.",
    )


def _hosts_broadcast(seen: _Seen) -> Diagnosis | None:
    """Hosts that report the same Redis, yet a message emitted on one does not reach another."""
    result = seen.get(n.HOSTS_BROADCAST)
    if result is None or result.skipped or result.ok:
        return None
    delivery = Sessions.of(result)
    missing = ", ".join(delivery.missing or delivery.unreachable or [])
    return _critical(
        "redis adapter",
        "hosts-not-delivering",
        f"Broadcasts do not cross hosts: emitted on {delivery.emitter or '?'}, "
        f"not received on {missing or '?'}, though every host reports the same Redis",
        [evidence_line(result), *seen.lines(n.HEALTH, n.BROADCAST)],
        "Every app host must publish and subscribe on the same Redis with the same channel "
        "prefix: compare app_redis_url / the `redis` group and REDIS_URL in each host's "
        "/etc/wsready-app/env; on the Redis host `PUBSUB NUMSUB` for the adapter's channels "
        "should count every worker of every host, and `ACL LOG` shows refused commands.",
    )


def _clients_undecided(seen: _Seen) -> Diagnosis | None:
    """A client probe failed and no rule above explained it: say so, with the candidates."""
    failed = [name for name in CLIENT_PROBES if seen.failed(name)]
    if not failed:
        return None
    evidence = seen.lines(*failed)
    return _undecided(
        "client-sessions",
        "the official client's sessions fail in a way no rule names: " + ", ".join(failed),
        evidence,
        [
            _candidate(
                "proxy",
                "the proxy changes requests of a session (method, body, query)",
                "which step failed and whether a worker answered it",
            ),
            _candidate(
                "app socket.io",
                "the server's options refuse what the client sends",
                "an Engine.IO error code in the answer",
            ),
        ],  # fmt: skip
        "Read each failed step's answer above: its status, Engine.IO code and worker.",
    )


RULES: tuple[Callable[[_Seen], Diagnosis | None], ...] = (
    _dns,
    _tcp,
    _tls,
    _server,
    _front_door_targets,
    _who_answered,
    _redirect,
    _socketio_v2,
    _front_door_stickiness,
    _some_workers,
    _app_down,
    _app_slow,
    _capacity,
    _server_refuses,
    _websocket,
    _routing,
    _payload_too_large,
    _auth,
    _idle,
    _rest,
    _cors_failed,
    _session_refused_by_proxy,
    _no_upgrade_offered,
    _session_upgrade,
    _broadcast,
    _hosts_broadcast,
    _clients_undecided,
    _redis,
    _websocket_only_not_enforced,
    _front_door_host_missing,
    _capacity_warning,
    _degraded,
)


def diagnose(target: Target, results: Sequence[ProbeResult]) -> Diagnosis:
    """The first broken layer, in layer order; `status` OK only when nothing is wrong."""
    seen = _Seen(target, results)
    notes = [str(result) for result in results if result.skipped and Observed.of(result).note]
    for rule in RULES:
        diagnosis = rule(seen)
        if diagnosis is not None:
            diagnosis.notes = notes
            return diagnosis
    return Diagnosis(
        "none",
        f"All layers work: Socket.IO at {target.socketio_path} on {seen.where} is ready",
        seen.lines(n.HEALTH, n.UPGRADE, n.CONNECT, n.AUTH_MATCH),
        "Nothing to fix.",
        ExitStatus.OK,
        "ok",
        notes,
    )
