"""The fault catalogue: real breakages of a deployed sandbox host, each with the layer (and
code) `wsready diagnose` must name, what the probes see, and the fix.

One source for two users:
- tests/e2e/test_fault_catalogue.py injects every fault on a fleet host by real means
  (edits of live files, stopped units, kernel firewall, other processes, certificates, DNS,
  limits), runs the probes and `diagnose` in-process, checks `sees` against the probes'
  actual values, reverts, and prints the confusion matrix (fault × named layer);
- `python -m tests.e2e.fault_catalogue [--check]` writes (or checks) docs/diagnosis.md, whose
  catalogue table is generated from FAULTS (tests/unit/test_diagnosis_doc.py fails when the
  file differs from what this makes).

Shell snippets run as root on the host; `{tls}` is the directory of the test certificates.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

NGINX_SITE = "/etc/nginx/conf.d/wsready.conf"
OTHER_SITE = "/etc/nginx/conf.d/00-wsr-fault-other.conf"
APP_ENV = "/etc/wsready-app/env"
BACKUP = ".wsr-fault"


def wait_on_host(condition: str, within_s: float, what: str) -> str:
    """Shell (one command, to chain with &&): poll `condition` every 0.05 s until it holds;
    after `within_s` say `what` did not happen and fail (host_ssh then fails the test)."""
    tries = int(within_s / 0.05)
    return (
        f"{{ i=0; until {condition}; do i=$((i+1)); if [ $i -ge {tries} ]; then "
        f"echo 'not within {within_s:g} s: {what}' >&2; exit 1; fi; sleep 0.05; done; }}"
    )


# `systemctl reload nginx` returns before the new workers serve: wait (at most 5 s) until
# none of the workers from before the reload still takes requests.
RELOAD_NGINX = (
    "old=\" $(pgrep -d ' ' -f '^nginx: worker process$') \"; nginx -t -q && "
    "systemctl reload nginx && "
    + wait_on_host(
        "{ now=$(pgrep -f '^nginx: worker process$'); left=0; for pid in $now; do "
        'case "$old" in *" $pid "*) left=1;; esac; done; [ -n "$now" ] && [ $left = 0 ]; }',
        5,
        "only nginx workers started by the reload",
    )
)
# The instances themselves (a restart of the target returns before theirs are done), then
# fresh nginx workers: the old ones hold keepalive connections to the stopped processes and,
# after one failure each, keep both workers out of the upstream for fail_timeout (10 s).
RESTART_ONLY = "systemctl restart 'wsready-app@*.service'"
RESTART_APP = (
    f"{RESTART_ONLY} && n=$(systemctl list-units --plain --no-legend 'wsready-app@*.service' "
    "| wc -l) && "
    + wait_on_host(
        # both generations' ports: slot a on 3000 + i, slot b on 3100 + i
        "[ $(ss -ltnH 'sport >= :3000 and sport <= :3199' | wc -l) -ge $n ]",
        15,
        "every app worker listening",
    )
    + " && {reload}"
)
FIREWALL_TAG = "-m comment --comment wsready-fault-catalogue"
TLS_DIR = "/etc/wsready/fault-tls"
RESTART_APP = RESTART_APP.replace("{reload}", RELOAD_NGINX)


def edit(path: str, sed_script: str, then: str) -> str:
    """Edit a live file with sed, keeping the original beside it."""
    return f"cp -p {path} {path}{BACKUP} && sed -i {sed_script} {path} && {then}"


def undo(path: str, then: str) -> str:
    return f"mv -f {path}{BACKUP} {path} && {then}"


def site_edit(sed_script: str) -> tuple[str, str]:
    return edit(NGINX_SITE, sed_script, RELOAD_NGINX), undo(NGINX_SITE, RELOAD_NGINX)


def env_edit(sed_script: str, restart: str = "") -> tuple[str, str]:
    return edit(APP_ENV, sed_script, restart or RESTART_APP), undo(APP_ENV, RESTART_APP)


def tls_cert(name: str) -> tuple[str, str]:
    """Point the TLS site at certificate `name` (the TLS group's site uses current.pem)."""
    use = f"ln -sfn {{tls}}/{name}.pem {{tls}}/current.pem && {RELOAD_NGINX}"
    return use, f"ln -sfn {{tls}}/good.pem {{tls}}/current.pem && {RELOAD_NGINX}"


@dataclass(frozen=True)
class Fault:
    """One breakage. `url` is a template ({address}); so are the commands and `sees`, which
    also name the serving generation's first two workers ({w0}, {w1}), their ports ({p0},
    {p1}) and its nginx upstream ({upstream}):
    a host serves slot a or slot b, whichever its deploys left it on. `group` says which site
    the host runs while it is injected ("plain": the deployed one; "tls": nginx_tls = True without
    the redirect; "redirect": nginx_tls = True with it). `sees`: (probe, a regular expression
    its actual value must match). `hold_clients`: Socket.IO clients the test keeps connected
    meanwhile.
    `token`: "good" / "bad" / None, sent by the probes (the static token of the auth group)."""

    key: str
    fault: str
    means: str
    inject: str
    revert: str
    layer: str
    code: str
    fix: str
    sees: tuple[tuple[str, str], ...] = ()
    url: str = "http://{address}"
    group: str = "plain"
    idle: bool = False
    origin: str | None = None
    token: str | None = None
    hold_clients: int = 0
    runbook: str = ""
    status: str = "CRITICAL"
    notes: tuple[str, ...] = field(default_factory=tuple)
    # What the official socket.io-client 4 sees (default options / WebSocket-only), and which
    # client judges it: "node" (tests/oracle), or "browser" where only a browser enforces the
    # fault (CORS), judged by headless Chromium.
    clients: str = ""
    oracle: str = "node"
    # Directories of this repository copied to the host before `inject` (local, remote);
    # `revert` removes them.
    uploads: tuple[tuple[str, str], ...] = ()


STATIC_TOKEN_ENV = (
    '\'s/^APP_AUTH=.*/APP_AUTH="static"/; '
    's/^STATIC_TOKEN_SHA256=.*/STATIC_TOKEN_SHA256="{digest}"/\''
)
SHORT_HEARTBEAT = (
    '\'s/^PING_INTERVAL_MS=.*/PING_INTERVAL_MS="4000"/; '
    's/^PING_TIMEOUT_MS=.*/PING_TIMEOUT_MS="2000"/\''
)


WORKER_DROPIN = "/etc/systemd/system/wsready-app@{w1}.service.d"
WORKER_FAULT_ENV = "/etc/wsready-app/fault-worker-1.env"
RESTART_WORKER_1 = (
    "systemctl daemon-reload && systemctl restart wsready-app@{w1} && "
    + wait_on_host("ss -ltnH 'sport = :{p1}' | grep -q .", 15, "worker 1 listening")
    + " && "
    + RELOAD_NGINX
)


def worker_1_env(line: str) -> tuple[str, str]:
    """Worker 1 only gets `line` (a drop-in adds an EnvironmentFile read after the shared
    one): a fault of one worker among several."""
    inject = (
        f"mkdir -p {WORKER_DROPIN} && printf '%s\\n' {line!r} > {WORKER_FAULT_ENV} && "
        f"printf '[Service]\\nEnvironmentFile={WORKER_FAULT_ENV}\\n' > {WORKER_DROPIN}/fault.conf"
        f" && {RESTART_WORKER_1}"
    )
    revert = f"rm -rf {WORKER_DROPIN} {WORKER_FAULT_ENV} && {RESTART_WORKER_1}"
    return inject, revert


def ws_location_line(directive: str) -> tuple[str, str]:
    """`directive` added as the first line of `location /ws/`."""
    return site_edit(f"'s|location /ws/ {{|location /ws/ {{\\n        {directive}|'")


LEGACY_DIR = "/opt/wsr-fault-legacy"
LEGACY_UNITS = "wsr-fault-legacy-0 wsr-fault-legacy-1"


def legacy_app() -> tuple[str, str]:
    """The workers replaced by a Socket.IO 2 app on their ports (tests/oracle/legacy), run as
    transient units: an old release deployed by hand."""
    start = " && ".join(
        f"systemd-run --quiet --unit=wsr-fault-legacy-{n} --property=User=nobody "
        f'"$(command -v node)" {LEGACY_DIR}/server.js {{p{n}}}'
        for n in (0, 1)
    )
    listening = wait_on_host(
        "[ $(ss -ltnH 'sport = :{p0} or sport = :{p1}' | wc -l) -ge 2 ]", 15, "both ports served"
    )
    inject = (
        "systemctl stop wsready-app@{w0} wsready-app@{w1} && "
        f"{start} && {listening} && {RELOAD_NGINX}"
    )
    revert = (
        f"systemctl stop {LEGACY_UNITS} && rm -rf {LEGACY_DIR} && "
        "systemctl start wsready-app@{w0} wsready-app@{w1} && "
        + wait_on_host(
            "[ $(ss -ltnH 'sport = :{p0} or sport = :{p1}' | wc -l) -ge 2 ]", 15, "workers back"
        )
        + f" && {RELOAD_NGINX}"
    )
    return inject, revert


REDIS_CLI = "redis-cli -s /run/redis/redis-server.sock"


def _idle(directive: str) -> tuple[str, str]:
    """A short nginx timeout plus a 4 s + 2 s heartbeat, so the idle probe takes ~8 s."""
    nginx = edit(NGINX_SITE, f"'s/{directive} [0-9]*s;/{directive} 2s;/'", "true")
    app = edit(APP_ENV, SHORT_HEARTBEAT, "true")
    return (
        f"{nginx} && {app} && {RELOAD_NGINX} && {RESTART_APP}",
        f"{undo(NGINX_SITE, 'true')} && {undo(APP_ENV, 'true')} && {RELOAD_NGINX} && {RESTART_APP}",
    )


def _faults() -> list[Fault]:
    faults = [
        Fault(
            "dns-nxdomain",
            "the client's host name does not resolve",
            "DNS: a name under .invalid (never resolves, no query leaves the machine)",
            "true",
            "true",
            "dns",
            "name-unresolved",
            "fix the name in the client URL or its DNS record",
            (("dns", "wsr-fault.invalid"),),
            url="http://wsr-fault.invalid",
        ),
        Fault(
            "nginx-stopped",
            "nginx stopped",
            "stopped unit: `systemctl stop nginx`",
            "systemctl stop nginx",
            "systemctl start nginx",
            "tcp",
            "connection-refused",
            "start nginx (`systemctl status nginx`, `ss -ltnp`)",
            (("tcp", "connection refused"),),
            runbook="Server listening on port 80",
        ),
        Fault(
            "firewall-drop",
            "a firewall drops port 80",
            "kernel firewall: iptables DROP for 80/tcp",
            f"iptables -I INPUT -p tcp --dport 80 -j DROP {FIREWALL_TAG}",
            f"iptables -D INPUT -p tcp --dport 80 -j DROP {FIREWALL_TAG}",
            "tcp",
            "connection-timeout",
            "open 80/tcp in the security group and the host firewall",
            (("tcp", "packets dropped"),),
            runbook="firewall / security group closed",
        ),
        Fault(
            "firewall-reject",
            "a firewall rejects port 80 (TCP reset)",
            "kernel firewall: iptables REJECT --reject-with tcp-reset",
            f"iptables -I INPUT -p tcp --dport 80 -j REJECT --reject-with tcp-reset {FIREWALL_TAG}",
            f"iptables -D INPUT -p tcp --dport 80 -j REJECT --reject-with tcp-reset {FIREWALL_TAG}",
            "tcp",
            "connection-refused",
            "remove the REJECT rule (the diagnosis lists it as the second candidate)",
            (("tcp", "connection refused"),),
        ),
        Fault(
            "nginx-hung",
            "nginx hung: its processes stopped (SIGSTOP)",
            "other process state: `kill -STOP` nginx's master and workers",
            "kill -STOP $(pgrep -x nginx)",
            "kill -CONT $(pgrep -x nginx)",
            "server",
            "server-silent",
            "restart nginx; look at its error log",
            (("server", "no HTTP answer"),),
        ),
        Fault(
            "other-server",
            "another program answers port 80 instead of nginx",
            "other process: nginx stopped, `python3 -m http.server 80` started in its place",
            "systemctl stop nginx && mkdir -p /run/wsr-fault-empty && systemd-run "
            "--unit wsr-fault-other --property=Type=exec python3 -m http.server 80 "
            "--directory /run/wsr-fault-empty && "
            + wait_on_host("ss -Hltn 'sport = :80' | grep -q .", 5, "http.server on port 80"),
            "systemctl stop wsr-fault-other; systemctl reset-failed wsr-fault-other "
            "2>/dev/null; rmdir /run/wsr-fault-empty; systemctl start nginx",
            "listener",
            "other-server",
            "stop what owns the port (`ss -ltnp`), start nginx",
            (("server", "SimpleHTTP"), ("health", "404")),
        ),
        Fault(
            "other-site",
            "another nginx site takes the requests (loaded before wsready's)",
            "config edit: a server block in conf.d/00-wsr-fault-other.conf",
            f"printf 'server {{\\n    listen 80;\\n    listen [::]:80;\\n    root /var/www/html;\\n"
            f"}}\\n' > {OTHER_SITE} && {RELOAD_NGINX}",
            f"rm -f {OTHER_SITE} && {RELOAD_NGINX}",
            "site",
            "other-site",
            "remove the other server block (or default_server), reload nginx",
            (("server", "no X-Wsready-Config"), ("health", "404")),
        ),
        Fault(
            "redirect-elsewhere",
            "/ws redirected to a maintenance page",
            "config edit: `return 302 http://maintenance.invalid/;` in `location /ws/`",
            *site_edit(
                r"'s|location /ws/ {|location /ws/ {\n        return 302 http://maintenance.invalid/;|'"
            ),
            "redirect",
            "redirect",
            "remove the redirect in front of /ws",
            (("upgrade", "302 to http://maintenance.invalid/"),),
        ),
        Fault(
            "app-stopped",
            "the app's workers stopped",
            "stopped units: `systemctl stop wsready-app.target`",
            # stop returns while the workers still drain (paced): until none is left
            "systemctl stop wsready-app.target && for i in $(seq 300); do "
            "systemctl list-units --plain --no-legend --state=active,activating,deactivating "
            "'wsready-app@*.service' | grep -q . || exit 0; sleep 0.1; done; exit 1",
            "systemctl start wsready-app.target",
            "app",
            "app-down",
            "start the workers (`systemctl restart wsready-app.target`)",
            (("health", "502"), ("upgrade", "502")),
            runbook="1. Socket.IO server not running",
        ),
        Fault(
            "app-crash-loop",
            "the app crashes at start, systemd restarts it every second",
            'config edit: APP_AUTH="bogus" in the app\'s environment (exit 78 at start)',
            *env_edit("'s/^APP_AUTH=.*/APP_AUTH=\"bogus\"/'", RESTART_ONLY),
            "app",
            "app-down",
            "`journalctl -u wsready-app@0` says why; fix the setting, restart",
            (("health", "502"), ("upgrade", "502")),
            runbook="1. Socket.IO server not running",
        ),
        Fault(
            "app-slow",
            "the app accepts but does not answer (workers stopped with SIGSTOP)",
            "other process state: `kill -STOP` every worker's node process",
            "kill -STOP $(systemctl show -p MainPID --value 'wsready-app@*')",
            "kill -CONT $(systemctl show -p MainPID --value 'wsready-app@*')",
            "app",
            "app-slow",
            "find why the app is blocked; restart the workers",
            (("server", "400"), ("health", "no response"), ("upgrade", "no response")),
        ),
        Fault(
            "worker-down",
            "one of two app workers stopped",
            "stopped unit: `systemctl stop wsready-app@1`",
            "systemctl stop wsready-app@{w1}",
            "systemctl start wsready-app@{w1}",
            "capacity",
            "workers-down",
            "start the missing worker (`systemctl restart wsready-app@1`)",
            (("health", "workers=1/2"),),
            status="WARNING",
        ),
        Fault(
            "client-limit",
            "the host is at its client limit",
            'resource limit: APP_MAX_CLIENTS="1" and one Socket.IO client held open',
            *env_edit("'s/^APP_MAX_CLIENTS=.*/APP_MAX_CLIENTS=\"1\"/'"),
            "capacity",
            "capacity-limit",
            "raise app_max_clients / app_workers / nginx_worker_connections, or add a host",
            (("health", r"clients \d+/1,"),),
            hold_clients=1,
            status="WARNING",
        ),
        Fault(
            "redis-down",
            "Redis (the Socket.IO adapter) is down",
            "stopped unit: `systemctl stop redis-server`",
            "systemctl stop redis-server",
            "systemctl start redis-server",
            "redis",
            "redis-down",
            "start Redis / make it reachable; the app reconnects by itself",
            (("health", "redis=down"), ("broadcast", "none on worker")),
            clients="every client connects; those on the other worker miss the broadcast",
        ),
        Fault(
            "session-routing",
            "`location /ws/` proxied over every worker without the session routing",
            "config edit: `proxy_pass http://wsready_app;` (least_conn) in `location /ws/`",
            *site_edit(
                "'0,/proxy_pass http:\\/\\/$wsready_socketio_upstream;/"
                "s//proxy_pass http:\\/\\/{upstream};/'"
            ),
            "routing",
            "session-routing",
            "route every request of a session to its worker (`map $arg_sid`), or sticky sessions",
            (("session", "Session ID unknown"),),
            clients="default: most fail (`xhr post error`, `xhr poll error`, `transport error`); "
            "WebSocket-only: ok",
        ),
        Fault(
            "session-post-too-large",
            "nginx refuses the session's POST: `client_max_body_size 1` in `location /ws/`",
            "config edit: `client_max_body_size 1;` in `location /ws/`",
            *ws_location_line("client_max_body_size 1;"),
            "proxy polling",
            "polling-session-refused",
            "a `client_max_body_size` of at least the app's maxHttpBufferSize in `location /ws/`",
            (("session", "413"),),
            clients="default: `xhr post error`; WebSocket-only: ok",
        ),
        Fault(
            "session-post-denied",
            "nginx allows only GET in `location /ws/`",
            "config edit: `limit_except GET { deny all; }` in `location /ws/`",
            *ws_location_line("limit_except GET { deny all; }"),
            "proxy polling",
            "polling-session-refused",
            "allow POST in `location /ws/`",
            (("session", "403"),),
            clients="default: `xhr post error`; WebSocket-only: ok",
        ),
        Fault(
            "upgrade-blocked",
            "nginx answers 403 to every WebSocket upgrade on /ws/ itself",
            'config edit: `if ($http_upgrade = "websocket") { return 403; }` in `location /ws/`',
            *ws_location_line('if ($http_upgrade = \\"websocket\\") { return 403; }'),
            "proxy upgrade",
            "upgrade-refused-by-proxy",
            "remove the rule that refuses the upgrade",
            (("upgrade", "403"),),
            clients="default: connect over polling, never upgrade; "
            "WebSocket-only: `websocket error`",
        ),
        Fault(
            "server-polling-only",
            "the Socket.IO server allows only the polling transport",
            'config edit: APP_TRANSPORTS="polling" in the app\'s environment (`transports: '
            "['polling']`)",
            *env_edit("'$a APP_TRANSPORTS=\"polling\"'"),
            "app socket.io",
            "server-transports",
            "allow 'websocket' in the server's `transports`: not an nginx edit",
            (("upgrade", "400"), ("session-upgrade", "offers no WebSocket upgrade")),
            clients="default: stay on polling (no upgrade offered); WebSocket-only: "
            "`websocket error`",
        ),
        Fault(
            "server-websocket-only",
            "the Socket.IO server allows only the WebSocket transport",
            'config edit: APP_TRANSPORTS="websocket" in the app\'s environment',
            *env_edit("'$a APP_TRANSPORTS=\"websocket\"'"),
            "app socket.io",
            "server-transports",
            "allow 'polling' in the server's `transports`, or have every client connect with "
            "`transports: ['websocket']`",
            (("polling", "400"),),
            clients="default: `xhr poll error` (Engine.IO 0 on the handshake); WebSocket-only: ok",
        ),
        Fault(
            "server-no-upgrades",
            "the Socket.IO server does not offer the upgrade (`allowUpgrades: false`)",
            'config edit: APP_ALLOW_UPGRADES="0" in the app\'s environment',
            *env_edit("'$a APP_ALLOW_UPGRADES=\"0\"'"),
            "app socket.io",
            "upgrade-not-offered",
            "`allowUpgrades: true` (the default) on the server",
            (("session-upgrade", "offers no WebSocket upgrade"),),
            clients="default: connected, but stay on long-polling; WebSocket-only: ok",
        ),
        Fault(
            "payload-too-large",
            "the app's maxHttpBufferSize is smaller than a CONNECT packet",
            'config edit: MAX_HTTP_BUFFER_SIZE="1" in the app\'s environment',
            *env_edit("'s/^MAX_HTTP_BUFFER_SIZE=.*/MAX_HTTP_BUFFER_SIZE=\"1\"/'"),
            "app socket.io",
            "payload-too-large",
            "raise app_max_http_buffer_size above what clients send",
            (("session", "413"),),
            clients="default: `xhr post error`; WebSocket-only: `transport close` before connect",
        ),
        Fault(
            "one-worker-path",
            "one of two workers serves Socket.IO at another path",
            "one instance's environment: WS_PATH=/other for wsready-app@1 (a drop-in)",
            *worker_1_env('WS_PATH="/other"'),
            "workers",
            "some-workers",
            "restart the odd worker with the deployed configuration (remove the drop-in)",
            (("workers", "worker {w1}"),),
            clients="the clients that land on worker 1 fail (`xhr poll error`, `websocket error`)",
        ),
        Fault(
            "one-worker-polling-only",
            "one of two workers allows only polling",
            "one instance's environment: APP_TRANSPORTS=polling for wsready-app@1 (a drop-in)",
            *worker_1_env('APP_TRANSPORTS="polling"'),
            "workers",
            "some-workers",
            "restart the odd worker with the deployed configuration (remove the drop-in)",
            (("workers", "worker {w1}"),),
            clients="the clients that land on worker 1 stay on polling or fail WebSocket-only",
        ),
        Fault(
            "server-socketio-v2",
            "the app behind /ws runs Socket.IO 2 (Engine.IO 3), the clients Socket.IO 4",
            "other program: the workers replaced by a socket.io 2.5 app on their ports "
            "(tests/oracle/legacy)",
            *legacy_app(),
            "app socket.io",
            "protocol-version",
            "deploy an app on socket.io 4: the server's major version must match the clients'",
            (("polling", r"\d+:0\{"), ("connect", "without a sid")),
            clients='default: `server error` (Engine.IO 3 framing); WebSocket-only: "It seems '
            'you are trying to reach a Socket.IO server in v2.x with a v3.x client"',
            uploads=(("tests/oracle/legacy", LEGACY_DIR),),
        ),
        Fault(
            "adapter-not-delivering",
            "Redis refuses the adapter's XADD (its broadcast stream): connected, but broadcasts "
            "stay on one worker",
            "Redis ACL: `ACL SETUSER default -xadd`",
            f"{REDIS_CLI} ACL SETUSER default -xadd",
            f"{REDIS_CLI} ACL SETUSER default +xadd",
            "redis adapter",
            "adapter-not-delivering",
            "let the adapter append to its stream (ACL: XADD), restart the workers if they gave up",
            (("broadcast", "none on worker"), ("health", "redis=ok")),
            clients="every client connects; those on the other worker miss the broadcast",
        ),
        Fault(
            "no-upgrade-header",
            "nginx does not pass `Upgrade`",
            "config edit: `proxy_set_header Upgrade $http_upgrade;` removed from `location /ws/`",
            *site_edit("'/proxy_set_header Upgrade/d'"),
            "proxy upgrade",
            "upgrade-headers",
            "`proxy_set_header Upgrade $http_upgrade;` in `location /ws/`",
            (("upgrade", "400"),),
            runbook="4. nginx without WebSocket upgrade headers",
        ),
        Fault(
            "no-connection-header",
            "nginx does not pass `Connection: upgrade`",
            "config edit: `proxy_set_header Connection …;` removed from `location /ws/`",
            *site_edit("'/proxy_set_header Connection $wsready_connection_upgrade;/d'"),
            "proxy upgrade",
            "upgrade-headers",
            '`proxy_set_header Connection "upgrade";` in `location /ws/`',
            (("upgrade", "400"),),
            runbook="4. nginx without WebSocket upgrade headers",
        ),
        Fault(
            "wrong-connection-header",
            "nginx sends `Connection: keep-alive` to the app",
            'config edit: `proxy_set_header Connection "keep-alive";` in `location /ws/`',
            *site_edit(
                "'s/proxy_set_header Connection $wsready_connection_upgrade;/"
                'proxy_set_header Connection "keep-alive";/\''
            ),
            "proxy upgrade",
            "upgrade-headers",
            '`proxy_set_header Connection "upgrade";` in `location /ws/`',
            (("upgrade", "400"),),
        ),
        Fault(
            "http-1.0-upstream",
            "no `proxy_http_version 1.1` in `location /ws/` (not a fault here: shown to rule "
            "it out)",
            "config edit: the first `proxy_http_version 1.1;` (in `location /ws/`) removed",
            *site_edit("'0,/proxy_http_version 1.1;/{/proxy_http_version 1.1;/d}'"),
            "none",
            "ok",
            "nothing breaks with nginx 1.22 and Node: the app accepts the upgrade nginx sends "
            "as HTTP/1.0 with Upgrade/Connection; keep 1.1 (the runbook's config, upstream "
            "keepalive)",
            (("upgrade", "101"),),
            status="OK",
        ),
        Fault(
            "ws-location-missing",
            "no `location /ws/`: the catch-all location (no upgrade headers) takes /ws",
            "config edit: `location /ws/` renamed `location /wsx/`",
            *site_edit("'s|location /ws/ {|location /wsx/ {|'"),
            "proxy upgrade",
            "upgrade-headers",
            "a `location /ws/` with the upgrade headers",
            (("upgrade", "400"), ("polling", "200")),
        ),
        Fault(
            "read-timeout-short",
            "`proxy_read_timeout` shorter than pingInterval + pingTimeout",
            "config edit: `proxy_read_timeout 2s;`, heartbeat 4 s + 2 s",
            *_idle("proxy_read_timeout"),
            "proxy idle",
            "idle-drop",
            "raise nginx_proxy_read_timeout_s above pingInterval + pingTimeout",
            (("idle", "dropped after"),),
            idle=True,
        ),
        Fault(
            "buffering-on",
            "`proxy_buffering on` in `location /ws/` (not a fault: shown to rule it out)",
            "config edit: `proxy_buffering on;`",
            *site_edit("'s/proxy_buffering off;/proxy_buffering on;/'"),
            "none",
            "ok",
            "nothing: WebSocket frames are never buffered and every polling answer is a "
            "complete response; the probes pass",
            (("upgrade", "101"), ("polling", "200")),
            status="OK",
        ),
        Fault(
            "ws-upstream-wrong-port",
            "`location /ws/` proxies to a port where nothing runs, REST fine",
            "config edit: `proxy_pass http://127.0.0.1:3999;` in `location /ws/`",
            *site_edit(
                "'0,/proxy_pass http:\\/\\/$wsready_socketio_upstream;/"
                "s//proxy_pass http:\\/\\/127.0.0.1:3999;/'"
            ),
            "websocket",
            "rest-ok-websocket-broken",
            "point `location /ws/` at the app (runbook: WebSocket server not running)",
            (("health", "200"), ("upgrade", "502")),
            runbook="the runbook's own situation (REST works, /ws does not)",
        ),
        Fault(
            "socketio-path",
            "Socket.IO attached at /socket instead of /ws",
            'config edit: WS_PATH="/socket" in the app\'s environment',
            *env_edit("'s|^WS_PATH=.*|WS_PATH=\"/socket\"|'"),
            "websocket path",
            "socketio-path",
            "the same path on server (app_socketio_path) and client",
            (("polling", "404"),),
            runbook="3. wrong path",
        ),
        Fault(
            "token-refused",
            "the socket refuses the client's token",
            "config edit: APP_AUTH=static with another token's digest",
            *env_edit(STATIC_TOKEN_ENV),
            "auth",
            "auth-refused",
            "a valid token (`wsready token`), same secret on both sides",
            (("connect", "44"), ("rest-auth", "401")),
            token="bad",
            runbook="auth error vs transport error; the socket validates REST's token",
        ),
        Fault(
            "no-token",
            "the client sends no token to a socket that requires one",
            "config edit: APP_AUTH=static; the probes send no token",
            *env_edit(STATIC_TOKEN_ENV),
            "auth",
            "auth-refused",
            "pass a token (auth: {token})",
            (("connect", "44"),),
            runbook="auth error vs transport error",
        ),
        Fault(
            "cors-origin",
            "the browser's origin is not allowed",
            'config edit: CORS_ORIGINS="https://app.example"; the probes send Origin http://HOST',
            *env_edit("'s|^CORS_ORIGINS=.*|CORS_ORIGINS=\"https://app.example\"|'"),
            "cors",
            "cors-origin",
            "add the origin to app_cors_origins",
            (("cors", "Access-Control-Allow-Origin missing"),),
            origin="http://{address}",
            runbook="2. CORS not configured",
            clients="in a browser: default `xhr poll error` (CORS); WebSocket-only: ok. Node's "
            "client ignores CORS",
            oracle="browser",
        ),
        Fault(
            "https-redirect",
            "nginx_tls = True redirects http:// to https://, the client still uses ws://",
            "config: the site as deployed with nginx_tls = True (redirect on)",
            "true",
            "true",
            "redirect",
            "https-redirect",
            "connect with wss://HOST/ws, or nginx_tls_redirect = False",
            (("health", "200"), ("upgrade", "301 to https://")),
            url="ws://{address}/ws",
            group="redirect",
        ),
        Fault(
            "tls-untrusted",
            "self-signed certificate the client does not trust",
            "certificate: self-signed, not from the client's CA",
            *tls_cert("untrusted"),
            "tls",
            "tls-untrusted",
            "a certificate from a CA the clients trust",
            (("tls", "self-signed certificate"),),
            url="wss://{address}/ws",
            group="tls",
        ),
        Fault(
            "tls-expired",
            "expired certificate",
            "certificate: from the client's CA, expired yesterday",
            *tls_cert("expired"),
            "tls",
            "tls-expired",
            "renew the certificate",
            (("tls", "expired"),),
            url="wss://{address}/ws",
            group="tls",
        ),
        Fault(
            "tls-not-yet-valid",
            "certificate not valid yet",
            "certificate: from the client's CA, valid from tomorrow (a clock behind)",
            *tls_cert("future"),
            "tls",
            "tls-not-yet-valid",
            "check the clocks",
            (("tls", "not yet valid"),),
            url="wss://{address}/ws",
            group="tls",
        ),
        Fault(
            "tls-expiring",
            "certificate expires in 3 days",
            "certificate: from the client's CA, valid 3 more days",
            *tls_cert("soon"),
            "tls",
            "tls-expiring",
            "renew the certificate",
            (("tls", r"^[23]\.\d, TLSv1\.[23] \S+$"),),
            url="wss://{address}/ws",
            group="tls",
        ),
        Fault(
            "tls-wrong-name",
            "certificate for another name",
            "certificate: from the client's CA, for other.example only",
            *tls_cert("name"),
            "tls",
            "tls-name",
            "a certificate whose subjectAltName covers the host",
            (("tls", "mismatch"),),
            url="wss://{address}/ws",
            group="tls",
        ),
        Fault(
            "tls-plain-http",
            "plain HTTP on the TLS port",
            "config edit: `listen 443 ssl http2` → `listen 443`",
            edit(
                NGINX_SITE,
                "'s/listen \\(\\[::\\]:\\)\\?443 ssl http2/listen \\1443/'",
                RELOAD_NGINX,
            ),
            undo(NGINX_SITE, RELOAD_NGINX),
            "tls",
            "tls-plain-http",
            "`listen 443 ssl` with the certificate (nginx_tls = True)",
            (("tls", "plain HTTP answers"),),
            url="wss://{address}/ws",
            group="tls",
        ),
    ]
    keys = [fault.key for fault in faults]
    assert len(keys) == len(set(keys)), keys
    faults = [replace(fault, clients=fault.clients or CLIENTS_SEE[fault.key]) for fault in faults]
    return faults


# What the official client sees for the faults that predate the oracle (measured on sandbox
# hosts by tests/e2e/test_fault_catalogue.py; the newer faults say it in their own entry).
ALL_FAIL = "every client fails: `xhr poll error` (default), `websocket error` (WebSocket-only)"
NO_ANSWER = "every client fails: no answer before its timeout"
ALL_WORK = "every client connects, upgrades and gets the broadcast"
UPGRADE_FAILS = (
    "default: connected over polling, the upgrade fails; WebSocket-only: `websocket error`"
)
CLIENTS_SEE = {
    **dict.fromkeys(
        ("dns-nxdomain", "nginx-stopped", "firewall-reject", "other-server", "other-site",
         "redirect-elsewhere", "app-stopped", "app-crash-loop", "ws-upstream-wrong-port",
         "socketio-path", "tls-untrusted", "tls-expired", "tls-not-yet-valid", "tls-wrong-name",
         "tls-plain-http", "https-redirect"),
        ALL_FAIL,
    ),
    **dict.fromkeys(("firewall-drop", "nginx-hung", "app-slow"), NO_ANSWER),
    **dict.fromkeys(
        ("worker-down", "client-limit", "http-1.0-upstream", "buffering-on"), ALL_WORK
    ),
    "tls-expiring": ALL_WORK + " (today)",
    **dict.fromkeys(("no-upgrade-header", "no-connection-header", "wrong-connection-header"),
                    UPGRADE_FAILS),
    "ws-location-missing": "default: `xhr post error` / `xhr poll error` (the catch-all "
    "location has no session routing either); WebSocket-only: `websocket error`",
    "read-timeout-short": "every client is dropped once idle past the proxy's timeout "
    "(`transport close`)",
    **dict.fromkeys(("token-refused", "no-token"), "every client: `unauthorized` (the "
                    "server's connect_error)"),
}  # fmt: skip


FAULTS = _faults()
GROUPS = ("plain", "tls", "redirect")
ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "diagnosis.md"
START = "<!-- fault catalogue: generated by `python -m tests.e2e.fault_catalogue`; do not edit -->"
END = "<!-- end of fault catalogue -->"


# The document shows the faults as on a host that serves slot a.
SLOT_A = {"w0": "0", "w1": "1", "p0": "3000", "p1": "3001", "upstream": "wsready_app"}


def expand(text: str, values: dict[str, str]) -> str:
    """`text` with each {name} of `values` replaced (the commands are shell: no str.format)."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalogue_table() -> str:
    """The catalogue as Markdown: fault → what the probes see → layer → fix."""
    lines = [
        "| # | fault | injected by | what the probes see (probe: pattern in its actual value) "
        "| layer (code) | status | the official client | fix |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for number, fault in enumerate(FAULTS, 1):
        sees = "; ".join(f"{probe}: `{expand(text, SLOT_A)}`" for probe, text in fault.sees)
        sees = sees or "—"
        clients = fault.clients
        if fault.oracle == "browser":
            clients += " (judged in headless Chromium)"
        lines.append(
            f"| {number} | {_cell(fault.fault)} | {_cell(fault.means)} | {_cell(sees)} | "
            f"`{fault.layer}` (`{fault.code}`) | {fault.status} | {_cell(clients)} | "
            f"{_cell(fault.fix)} |"
        )
    return "\n".join(lines)


def render(document: str) -> str:
    """`document` with the text between START and END replaced by the generated table."""
    head, _, rest = document.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{catalogue_table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    current = DOC.read_text()
    wanted = render(current)
    if "--check" in argv:
        if current != wanted:
            print(f"{DOC} is out of date: run python -m tests.e2e.fault_catalogue")
            return 1
        return 0
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
