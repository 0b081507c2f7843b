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

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from wsready.exitstatus import ExitStatus
from wsready.probes import ProbeResult, Target
from wsready.probes.http import HEALTH_FIGURES, NEAR_LIMIT

RUNBOOK_SYMPTOM = "TransportError: websocket error while REST works"
GATEWAY_ERRORS = (502, 503, 504)
# How a socket fails when the host has no room: an error status, or the connection is
# reset / closed / left unanswered (nginx out of worker_connections, the app refusing).
OVERLOAD_STATUSES = (500, 502, 503, 504)
OVERLOAD_ERRORS = ("timeout", "closed", "network")
SOCKET_STEPS = {"upgrade": "upgrade", "open": "Engine.IO open", "connect": "Socket.IO CONNECT"}
APP_UNIT = "wsready-app"  # app_name's default: units wsready-app@0 … and wsready-app.target


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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.name
        data["exit_code"] = int(self.status)
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

    def get(self, name: str) -> ProbeResult | None:
        return self.by_name.get(name)

    def failed(self, name: str) -> bool:
        result = self.get(name)
        return result is not None and not result.ok and not result.skipped

    def ok(self, name: str) -> bool:
        result = self.get(name)
        return result is not None and result.ok and not result.skipped

    def status(self, name: str) -> int | None:
        result = self.get(name)
        return None if result is None else result.detail.get("status")

    def error(self, name: str) -> str | None:
        result = self.get(name)
        return None if result is None else result.detail.get("error")

    def figures(self) -> dict[str, Any]:
        """What a healthy /api/health said about the host (clients, workers, redis)."""
        health = self.get("health")
        if health is None or not self.ok("health"):
            return {}
        return {key: health.detail[key] for key in HEALTH_FIGURES if key in health.detail}

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
    if not seen.failed("dns"):
        return None
    return _critical(
        "dns",
        "name-unresolved",
        f"{seen.target.host} does not resolve",
        seen.lines("dns"),
        f"Fix the host name in the client URL or its DNS record (A/AAAA for "
        f"{seen.target.host}); check with `getent hosts {seen.target.host}`.",
    )


def _tcp(seen: _Seen) -> Diagnosis | None:
    if not seen.failed("tcp"):
        return None
    evidence = seen.lines("dns", "tcp")
    port = seen.target.port
    if seen.error("tcp") == "refused":
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


def _tls(seen: _Seen) -> Diagnosis | None:
    if not seen.failed("tls"):
        return None
    result = seen.get("tls")
    detail = result.detail if result is not None else {}
    host = seen.target.host
    if "days_left" in detail:
        code = "tls-expiring"
        title = f"TLS certificate expires in {detail['days_left']} days (or has expired)"
        fix = TLS_RENEW
    elif detail.get("error") == "verify":
        reason = detail.get("reason")
        kind = detail.get("verify", "untrusted")
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
    elif detail.get("plain_http"):
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
    return _critical("tls", code, title, seen.lines("tls"), fix)


ANSWERING = ("server", "health", "upgrade", "polling", "cors", "rest-auth")


def _server(seen: _Seen) -> Diagnosis | None:
    """The port accepts connections, but what owns it does not answer HTTP at all."""
    if not seen.failed("server") or any(seen.status(name) for name in ANSWERING):
        return None  # a server that only dislikes the bare request still answers the others
    port = seen.target.port
    closed = seen.error("server") in ("closed", "not-http")
    what = "closes them without an HTTP answer" if closed else "never answers"
    return _critical(
        "server",
        "server-closes" if closed else "server-silent",
        f"Port {port} accepts connections but the server {what} (not even nginx's own 400)",
        seen.lines("tcp", "server", "health"),
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
        seen.get(name)
        for name in ANSWERING
        if seen.get(name) is not None
        and not seen.get(name).skipped
        and "fingerprint" in seen.get(name).detail
    ]
    failures = [r for r in seen.by_name.values() if not r.ok and not r.skipped]
    if not answered or not failures or seen.ok("polling") or seen.ok("health"):
        return None
    if any(result.detail.get("fingerprint") for result in answered):
        return None
    if any(
        result.detail.get("status") in GATEWAY_ERRORS or result.detail.get("engineio_error")
        for result in answered
    ):
        return None
    servers = [result.detail.get("server") or "" for result in answered]
    server = next((name for name in servers if name), "")
    port = seen.target.port
    evidence = [
        f"no answer carries X-Wsready-Config (wsready's site sends it on every answer); "
        f"Server: {server or '(none)'}",
        *seen.lines("server", "health", "upgrade", "polling"),
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
            for name in ("upgrade", "polling", "health")
            if seen.failed(name) and seen.status(name) in REDIRECTS
        ),
        None,
    )
    if redirected is None:
        return None
    status = redirected.detail["status"]
    location = redirected.detail.get("location") or "(no Location)"
    evidence = seen.lines("health", "upgrade", "polling")
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
    health, upgrade = seen.status("health"), seen.status("upgrade")
    polling = seen.status("polling")
    if polling is not None and polling < 500 and not seen.ok("polling"):
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
            seen.lines("health", "upgrade", "polling"),
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
    if not (seen.ok("server") and _no_answer(seen, "health") and _no_answer(seen, "upgrade")):
        return None
    return _critical(
        "app",
        "app-slow",
        f"nginx answers, but the app answers neither /api/health nor the upgrade on "
        f"{seen.path} in time: it is hung or too slow",
        seen.lines("server", "health", "upgrade", "polling"),
        "The app accepts connections but does not answer: a blocked event loop, workers "
        f"stopped (SIGSTOP: state T in `ps -o pid,stat,cmd -C node`) or starved of CPU. On "
        f"the host: `systemctl status '{APP_UNIT}@*'`, `top`, "
        f"`journalctl -u '{APP_UNIT}@*' -n 50`; `systemctl restart {APP_UNIT}.target` "
        "brings them back. nginx gives up after proxy_read_timeout with a 504.",
    )


def _host_strain(figures: dict[str, Any]) -> tuple[str, str, str] | None:
    """(code, what the host says, fix) when health reports workers down or clients at the
    limit; None when it does not (or an older app does not report them)."""
    up, total = figures.get("workers_up"), figures.get("workers_total")
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
    clients, limit = figures.get("clients"), figures.get("max_clients")
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
    status = result.detail.get("status")
    if status is not None:
        return status in OVERLOAD_STATUSES
    return result.detail.get("error") in OVERLOAD_ERRORS


def _capacity(seen: _Seen) -> Diagnosis | None:
    """The upgrade (or Engine.IO open, Socket.IO CONNECT) fails like an overload while health
    answers and says workers are down or the host is at its limit."""
    figures = seen.figures()
    strain = _host_strain(figures)
    failed = next((seen.get(name) for name in SOCKET_STEPS if seen.failed(name)), None)
    if failed is None or not _overloaded(failed):
        return None
    if strain is None and not figures and seen.ok("health") and "status" not in failed.detail:
        # An older app says nothing about workers or clients: an overload and a WebSocket
        # server that is not running look the same from here.
        return _undecided(
            "overload-or-websocket",
            f"the {SOCKET_STEPS[failed.probe]} on {seen.path} fails ({failed.actual}) while "
            "REST works, and /api/health does not say whether the host has room",
            seen.lines("health", "upgrade", "open", "connect", "polling"),
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
    polling_status = seen.status("polling")
    if polling_status is not None and polling_status < 500 and not seen.ok("polling"):
        return None  # polling reaches something that is not Socket.IO: a path, not capacity
    code, host_says, fix = strain
    return _critical(
        "capacity",
        code,
        f"The {SOCKET_STEPS[failed.probe]} on {seen.path} fails ({failed.actual}) "
        f"while {host_says}",
        seen.lines("health", "upgrade", "open", "connect", "polling"),
        fix,
    )


def _websocket_evidence(seen: _Seen) -> list[str]:
    evidence = seen.lines("health", "upgrade", "open", "polling")
    upgrade = seen.get("upgrade")
    if upgrade is not None and upgrade.detail.get("body"):
        after_upgrade = evidence.index(evidence_line(upgrade)) + 1
        evidence.insert(after_upgrade, f"upgrade body: {upgrade.detail['body']}")
    if seen.ok("health"):
        evidence.insert(0, f"{RUNBOOK_SYMPTOM} (the runbook's exact situation)")
    return evidence


def _path_mismatch(seen: _Seen, evidence: list[str]) -> Diagnosis | None:
    """Nothing Socket.IO-like at the path: upgrade 404, polling 404 / not `0{`, or a 101
    from a WebSocket server that does not speak Engine.IO."""
    status, polling_status = seen.status("upgrade"), seen.status("polling")
    polling_not_socketio = polling_status == 404 or (
        polling_status is not None and polling_status < 500 and not seen.ok("polling")
    )
    open_failed = seen.failed("open")
    if not (open_failed or status == 404 or (seen.failed("upgrade") and polling_not_socketio)):
        return None
    if open_failed:
        what = "no Engine.IO open packet after the 101"
    else:
        what = f"upgrade {status or seen.error('upgrade')}, polling {polling_status}"
    path = seen.path
    return _critical(
        "websocket path",
        "socketio-path",
        f"Socket.IO is not attached at {path} ({what})"
        + (f" — {RUNBOOK_SYMPTOM}" if seen.ok("health") else ""),
        evidence,
        f"Runbook issue 3, 'Wrong path configuration': the server's Socket.IO `path` must be "
        f"'{path}' (app_socketio_path, WS_PATH in the app's environment) and nginx's "
        f"`location {path}` must proxy to the app. The client's path and the server's must "
        "match exactly.",
    )


def _upgrade_not_passed(seen: _Seen, evidence: list[str]) -> Diagnosis | None:
    """Polling reaches Socket.IO but the upgrade gets a non-101 answer below 500: the proxy
    drops `Upgrade`/`Connection` (Engine.IO then says code 3 "Bad request")."""
    status = seen.status("upgrade")
    if status is None or status >= 500 or not seen.ok("polling"):
        return None
    engineio_error = seen.get("upgrade").detail.get("engineio_error")
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
    if not seen.ok("health"):
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
    if not seen.failed("upgrade") and not seen.failed("open"):
        return None
    evidence = _websocket_evidence(seen)
    if seen.status("upgrade") == 403 and seen.target.origin:
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
        evidence or seen.lines("cors", "polling", "upgrade"),
        f"Runbook checklist 'CORS configured to allow connections': add {origin} to "
        "app_cors_origins (CORS_ORIGINS in the app's environment; never '*' in production) "
        "and redeploy.",
    )


def _auth(seen: _Seen) -> Diagnosis | None:
    connect = seen.get("connect")
    if connect is None or connect.skipped:
        return None
    evidence = seen.lines("upgrade", "open", "connect", "rest-auth", "auth-match")
    if connect.detail.get("accepted") is False:
        message = connect.detail.get("message", "")
        rest = seen.get("rest-auth")
        rest_accepted = rest is not None and rest.detail.get("accepted") is True
        if rest_accepted:
            why = (
                "REST accepts this token but the socket refuses it: the socket does not use "
                "REST's token validation"
            )
            fix = (
                "The runbook's closing item: validate `socket.handshake.auth.token` with the "
                "same function as the REST middleware (same secret, audience, expiry rules)."
            )
        elif not connect.detail.get("token_sent"):
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
    if seen.failed("auth-match"):
        return _critical(
            "auth",
            "auth-mismatch",
            "The socket accepts a token that REST refuses: socket auth is not enforced",
            evidence,
            "Enable the same token check on the socket as on REST (app_auth, the Socket.IO "
            "middleware): REST accepts ⇔ socket accepts.",
        )
    if seen.failed("connect"):
        return _critical(
            "socket.io",
            "socketio-connect",
            "Socket.IO did not answer CONNECT on namespace /",
            evidence,
            "Check the app's logs (`journalctl -u 'wsready-app@*'`) for middleware errors.",
        )
    return None


def _idle(seen: _Seen) -> Diagnosis | None:
    ping, idle = seen.get("ping"), seen.get("idle")
    dropped = [
        result
        for result in (ping, idle)
        if result is not None and not result.ok and not result.skipped
    ]
    if not dropped:
        return None
    if any(result.detail.get("error") == "closed" for result in dropped):
        opened = seen.get("open")
        interval = opened.detail.get("ping_interval_ms", 0) if opened else 0
        timeout = opened.detail.get("ping_timeout_ms", 0) if opened else 0
        needed = (interval + timeout) / 1000
        return _critical(
            "proxy idle",
            "idle-drop",
            "Idle connections are dropped: the proxy's read timeout is shorter than "
            f"pingInterval + pingTimeout ({needed:g} s)",
            seen.lines("open", "ping", "idle"),
            f"Raise nginx `proxy_read_timeout` in `location {seen.path}` above {needed:g} s "
            "(nginx_proxy_read_timeout_s) — or lower app_ping_interval_ms — and reload nginx.",
        )
    return _critical(
        "heartbeat",
        "heartbeat",
        "The server sends no Engine.IO ping within pingInterval",
        seen.lines("open", "ping", "idle"),
        "Check the app's event loop (blocked?) and its pingInterval setting.",
    )


def _rest(seen: _Seen) -> Diagnosis | None:
    if not seen.failed("health"):
        return None
    status = seen.status("health")
    return _critical(
        "http",
        "rest-broken",
        f"/api/health fails ({status or seen.error('health')}) while the socket works",
        seen.lines("health"),
        "Check nginx's `location /api/` (nginx_rest_upstream) and the REST backend's logs.",
    )


def _cors_failed(seen: _Seen) -> Diagnosis | None:
    return _cors(seen) if seen.target.origin and seen.failed("cors") else None


def _redis(seen: _Seen) -> Diagnosis | None:
    """Health says Redis is down: every probe may pass, but broadcasts stop at this host."""
    figures = seen.figures()
    if figures.get("redis") != "down":
        return None
    return Diagnosis(
        "redis",
        "Redis is down for the app (health: redis=down): this host serves its own clients, "
        "but broadcasts no longer reach clients on other workers or hosts",
        seen.lines("health"),
        "Check that Redis is up and reachable from every app host: app_redis_url (else the "
        "inventory's `redis` group) and redis_password, the Redis host's firewall and its "
        "security group allowing 6379/tcp (redis_port) from the app hosts; from an app host, "
        "`redis-cli -h HOST -a PASSWORD ping` (a local Redis: `redis-cli -s "
        "/run/redis/redis-server.sock ping`) must answer PONG. The app reconnects by itself "
        "(health says redis=ok again, no restart needed).",
        ExitStatus.WARNING,
        "redis-down",
    )


def _capacity_warning(seen: _Seen) -> Diagnosis | None:
    """Every socket probe passes, but workers are down or the host is at its limit."""
    strain = _host_strain(seen.figures())
    if strain is None:
        return None
    code, host_says, fix = strain
    return Diagnosis(
        "capacity",
        f"Degraded: {host_says}; the probes still connect",
        seen.lines("health"),
        fix,
        ExitStatus.WARNING,
        code,
    )


def _degraded(seen: _Seen) -> Diagnosis | None:
    warnings = [result for result in seen.by_name.values() if result.ok and result.warning]
    if seen.failed("polling"):
        return Diagnosis(
            "polling",
            "The long-polling transport fails; WebSocket-only clients still work",
            seen.lines("polling"),
            f"Check nginx's `location {seen.path}` passes GET/POST with query strings to the app.",
            ExitStatus.WARNING,
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


RULES: tuple[Callable[[_Seen], Diagnosis | None], ...] = (
    _dns,
    _tcp,
    _tls,
    _server,
    _who_answered,
    _redirect,
    _app_down,
    _app_slow,
    _capacity,
    _websocket,
    _auth,
    _idle,
    _rest,
    _cors_failed,
    _redis,
    _capacity_warning,
    _degraded,
)


def diagnose(target: Target, results: Sequence[ProbeResult]) -> Diagnosis:
    """The first broken layer, in layer order; `status` OK only when nothing is wrong."""
    seen = _Seen(target, results)
    notes = [str(result) for result in results if result.skipped and result.detail.get("note")]
    for rule in RULES:
        diagnosis = rule(seen)
        if diagnosis is not None:
            diagnosis.notes = notes
            return diagnosis
    return Diagnosis(
        "none",
        f"All layers work: Socket.IO at {target.socketio_path} on {seen.where} is ready",
        seen.lines("health", "upgrade", "connect", "auth-match"),
        "Nothing to fix.",
        ExitStatus.OK,
        "ok",
        notes,
    )
