"""Every data key wsready reads, declared once: its kind of value, its default, its doc.

    key: "kind" = default  # what it does

Keys are prefixed by their concern. Override them per group (`group_data/<group>.py`), per
host (host data in the inventory), or per run (`pyinfra --data key=value`). `deploy.py`
validates all of them before it changes anything on any host, each by its rule in
wsready/hostdata/contract.py; HostConfig (wsready/hostdata/config.py) holds each as a typed
field. The kind says what values the key takes ("url", "cidr_list", "secret", ...;
"... or None" when None is one of them): secrets are kept out of output, "local" keys are
paths on the machine running wsready, and tests/unit/test_hostile_data.py tries that kind's
hostile values on the key. tests/unit/test_data_keys.py holds the rule, the field and the
kind of every key together.
"""

# --- network egress -------------------------------------------------------------------------
# HTTP(S) proxy the host must use to reach package registries (apt, dnf, npm) and that the
# app gets as HTTP_PROXY/HTTPS_PROXY. For EC2 hosts in private subnets. None: direct access
# (wsready's proxy settings are removed; a dnf.conf proxy line it did not write stays).
# No credentials in it (they would be readable on the host): allow the hosts by address.
proxy_url: "url" = None

# --- Node.js (tasks/nodejs.py) ----------------------------------------------------------------
# Where Node.js comes from on Debian/Ubuntu: "nodesource" (apt repo, pinned major),
# "distro" (the OS's own nodejs + npm) or "binary" (an official build tarball from
# nodejs_binary_url, checked against nodejs_binary_sha256). Amazon Linux 2023 always uses
# `dnf install nodejs<major>`.
nodejs_source: "word" = "nodesource"
# Major version for nodesource and Amazon Linux 2023.
nodejs_major: "number" = 22
# For nodejs_source="binary": URL of a .tar.gz/.tar.xz/.tgz holding bin/node, and its sha256.
nodejs_binary_url: "url" = None
nodejs_binary_sha256: "word" = None
# Where the binary build is unpacked; bin/node and bin/npm are linked into /usr/local/bin.
nodejs_binary_dir: "path" = "/opt/nodejs"

# --- the Socket.IO app (tasks/app.py, files/app/) ---------------------------------------------
# Local directory with the Node app to deploy (package.json + package-lock.json + server.js).
# None: the bundled server in files/app. package.json's main must be a relative path of the
# app; symlinks leading out of it are refused. npm ci and its install scripts run as app_user.
app_source: "local" = None
# systemd unit name and log identifier (/etc/<app_name>, <app_name>.target): never a name the
# system uses (default, ssh, ...: wsready/hostdata/system_names.txt) or that the host has.
app_name: "word" = "wsready-app"
# System user the service runs as, made by wsready (never an existing user or group).
app_user: "word" = "wsready"
app_dir: "path" = "/opt/wsready-app"  # inside /opt, /srv or /var/lib; never a system directory
app_port: "number" = 3000  # worker i listens on app_bind:(app_port + i), never on a public address
app_bind: "ip" = "127.0.0.1"
# App worker processes on each host: systemd instances app_name@0 .. app_name@(N-1) on
# consecutive loopback ports, behind one nginx upstream. None: one per CPU of the host.
app_workers: "number or None" = None
# Concurrent Socket.IO clients one host must hold. The preflight refuses limits below it
# (nginx workers x connections, app workers x LimitNOFILE); /api/health reports it.
app_max_clients: "number" = 20000
# Redis for the Socket.IO Redis adapter, so a broadcast reaches the clients of every worker
# and every host: "redis://HOST:PORT". None: the first host of the inventory's `redis` group
# (at its redis_address) when there is one; else, with more than one worker, a Redis on the
# host itself, reached over a unix socket only the app's user may use; else no adapter.
app_redis_url: "url" = None
app_log_connections: "bool" = False  # one journal line per connect/disconnect (costly at scale)
app_max_http_buffer_size: "number" = 1000000  # Socket.IO maxHttpBufferSize, bytes per message
app_listen_backlog: "number" = 4096  # each worker's accept queue (bounded by net.core.somaxconn)
app_socketio_path: "urlpath" = "/ws"  # Socket.IO `path`; nginx proxies exactly this location
# Browser origins allowed by CORS (Socket.IO and REST). Never "*" in production.
app_cors_origins: "url_list" = ["http://localhost"]
app_ping_interval_ms: "number" = 25000  # Engine.IO pingInterval
app_ping_timeout_ms: "number" = 20000  # Engine.IO pingTimeout
# systemd LimitNOFILE per worker (systemd lowers it to a lower hard cap).
app_limit_nofile: "number" = 65536
# Extra environment variables for the service (written to the 0600 env file); not the ones
# wsready writes itself (APP_BIND, JWT_SECRET, ...: set their keys instead).
app_env: "env" = {}
# Token check shared by REST (/api/* except /api/health) and the socket: "off", "jwt"
# (HS256 with app_jwt_secret) or "static" (sha256 hashes in app_static_token_hashes).
app_auth: "word" = "off"
app_jwt_secret: "secret" = None  # secret string; lands only in the 0600 environment file
app_jwt_audience: "text" = None  # optional `aud` the token must carry
# Optional `iss` the token must carry (wsready token and verify set it).
app_jwt_issuer: "text" = None
app_static_token_hashes: "word_list" = []  # hex sha256 of each accepted static token
# When the probes after a deploy (verify_enabled) fail and this run switched to a new release:
# put the previous release (and its environment file and unit) back, restart, probe again;
# the deploy still fails. See docs/app.md.
app_rollback_on_failure: "bool" = True
# Socket.IO connection state recovery (docs/deploy.md "Nothing lost"): a client that
# reconnects within this many ms gets its id, rooms and missed broadcasts back, on any
# worker or host sharing the Redis. 0 turns recovery off. A host with one worker and no
# Redis keeps sessions in that worker's memory only: they do not outlive its restart.
app_recovery_max_disconnection_ms: "number" = 120000
# Paced draining: a stopping worker (restart, deploy, reboot) hands its clients over at
# this many a second per host (shared by the host's workers); whatever is left after
# app_drain_deadline_s is closed at once. None: app_max_clients / app_drain_rate + 10 s
# (20 s for 20,000 clients). systemd's TimeoutStopSec is the deadline + 10 s.
app_drain_rate: "number" = 2000
app_drain_deadline_s: "number or None" = None
# How a deploy replaces the workers when the release, units, environment or Node.js
# changed: "generations" (a new generation of workers starts beside the old one on other
# ports, is proven through nginx, nginx switches to it, then the old one drains at the paced
# rate: each client moves once; docs/deploy.md), "one-at-a-time" (each worker drains at the
# paced rate, restarts and listens again before the next: up to N moves per client) or "all"
# (every worker at once: clients wait for the restart). The last two are the benchmark's
# baselines.
app_restart: "word" = "generations"

# --- nginx (tasks/nginx.py, files/nginx/) -----------------------------------------------------
nginx_server_name: "server_name" = "_"
nginx_listen_port: "number" = 80
nginx_ipv6: "bool" = True  # also listen on [::]
# Where /api/ and / go: None for the app itself, or an existing REST backend URL
# such as "http://127.0.0.1:8080".
nginx_rest_upstream: "url" = None
# Must exceed (app_ping_interval_ms + app_ping_timeout_ms) / 1000 or idle sockets drop.
nginx_proxy_read_timeout_s: "number" = 75
# Worker processes: None sizes them for app_max_clients (each proxied WebSocket holds two
# connections: client and upstream), at least one per CPU; "auto" is nginx's one per CPU.
nginx_worker_processes: "number or None" = None
nginx_worker_connections: "number" = 16384  # per nginx worker (Debian's default is 768)
# Open files per nginx worker (worker_rlimit_nofile); None: not set (systemd's limit).
# Must not exceed the host's hard limit: nginx cannot raise it.
nginx_worker_rlimit_nofile: "number or None" = 17408
# The longest an old generation of nginx workers may live after a reload
# (worker_shutdown_timeout): old workers keep serving their open WebSockets until then, and
# then close them (the clients reconnect to the new workers and recover their sessions,
# docs/deploy.md). Bounds how many generations long-lived clients keep around. None: no
# bound (nginx waits for every connection).
nginx_worker_shutdown_timeout_s: "number or None" = 1800
# Accept queue of nginx's listening sockets; None: nginx's 511.
nginx_listen_backlog: "number or None" = 4096
# One listening socket per nginx worker (`listen ... reuseport`): the kernel spreads new
# connections evenly over the workers instead of waking whichever is free.
nginx_reuseport: "bool" = True
# Sandbox nginx with a systemd drop-in (nginx.service.d/wsready-hardening.conf: read-only
# system, few capabilities, filtered syscalls; docs/security.md). False removes the drop-in.
# A change restarts nginx once (open connections are dropped): sandboxing applies at start.
nginx_hardening: "bool" = True
# Addresses of load balancers in front of nginx (e.g. the VPC's CIDR for an ALB): from
# them, the client address is taken from X-Forwarded-For (logs, X-Real-IP for the app).
# Private ranges only (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7).
nginx_trusted_proxies: "cidr_list" = []
# Serve 443 (wss://) too: False (plain HTTP only); True (the pair below, or a self-signed
# one); "acme" (a certificate for nginx_server_name from an ACME CA such as Let's Encrypt,
# obtained with certbot over HTTP-01 and renewed by certbot's timer; docs/tls.md).
nginx_tls: "bool" = False
nginx_tls_cert_file: "local" = None  # local paths of PEM certificate and key; None with nginx_tls:
nginx_tls_key_file: "local" = None  # a self-signed pair is generated on the host (sandboxes)
nginx_tls_redirect: "bool" = True  # with nginx_tls: redirect http:// to https://
nginx_tls_port: "number" = 443
# Mozilla's server-side TLS profile for 443 (ssl-config.mozilla.org; docs/tls.md lists the
# clients each supports): "intermediate" (TLS 1.2 and 1.3, AEAD suites with forward secrecy)
# or "modern" (TLS 1.3 only; a generated pair is then ECDSA, a given one must be ECDSA too).
nginx_tls_profile: "word" = "intermediate"
# Strict-Transport-Security on https:// answers: False (none), or max-age in seconds (Mozilla:
# 63072000, two years). Browsers then refuse plain http:// to the name for that long: turn it
# on once HTTPS is there to stay (0 tells them to forget it).
nginx_tls_hsts: "number" = False
# With nginx_tls = "acme": the ACME account's e-mail (expiry notices; required), the CA's
# directory (Let's Encrypt production by default; its staging directory for trials), and a
# local CA bundle for a private ACME server's own HTTPS (None: the host's system CAs).
# The certificate names are nginx_server_name's (plain DNS names: HTTP-01 proves each one
# on port 80, so every name must resolve to this host and 80 must be open to the CA).
acme_email: "word" = None
acme_directory_url: "url" = "https://acme-v02.api.letsencrypt.org/directory"
acme_ca_file: "local" = None
# nginx directive lines added to every wsready server block: one directive each (e.g.
# "client_max_body_size 5m;") or one block of them ("if ($http_upgrade) { return 403; }"),
# braces balanced, no include. Their meaning is judged by `nginx -t` on the host before any
# reload (a refused config leaves the previous one serving), and by the verify step after.
nginx_extra_directives: "nginx_list" = []

# --- kernel (tasks/kernel.py) --------------------------------------------------------------
# sysctl settings for many concurrent connections, written to /etc/sysctl.d/60-wsready.conf
# and applied where /proc/sys is writable (skipped with a notice in containers). Settings
# that weaken the host (ASLR, ptrace, fs.protected_*, forwarding, ...) are refused
# (docs/security.md).
kernel_sysctls: "sysctls" = {
    "net.core.somaxconn": 4096,
    "net.ipv4.tcp_max_syn_backlog": 4096,
    "net.ipv4.ip_local_port_range": "1024 65000",
}

# --- Redis for the Socket.IO adapter (tasks/redis.py; hosts in the `redis` group) ------------
# Hosts of the `redis` group get Debian's redis-server, bound to redis_address only, with
# redis_password required, and reachable (firewall, security group) from the app hosts only.
# Private address the app hosts use; None: the host's private_address, else its SSH address.
redis_address: "host" = None
redis_port: "number" = 6379
redis_password: "secret" = None  # secret, at least 32 characters; lands only in 0600/0640 files
# Who may connect besides the app hosts' private_address (CIDRs).
redis_allow_cidrs: "cidr_list" = []
# This host's address inside the private network (VPC), from which it reaches the redis
# group; None: its SSH address.
private_address: "ip" = None

# --- host firewall (tasks/firewall.py) --------------------------------------------------------
firewall_enabled: "bool" = True
# Which firewall: "auto" = ufw on Debian/Ubuntu, an nftables table of wsready's own elsewhere
# (wsready/deploy/families.py); "ufw" or "nftables" to choose (nftables on Debian/Ubuntu too).
# Switching turns the other one off: ufw disabled, or wsready's nftables table removed.
firewall_backend: "word" = "auto"
firewall_ssh_port: "number" = 22
firewall_ssh_cidrs: "cidr_list" = ["0.0.0.0/0", "::/0"]  # who may SSH in (allowed first, always)
firewall_allow_cidrs: "cidr_list" = ["0.0.0.0/0", "::/0"]  # who may reach 80 (and 443 with TLS)

# --- EC2 security group (tasks/security_group.py, wsready/aws/) ----------------------------------
sg_enabled: "bool" = False
sg_id: "word" = None  # None: looked up from instance_id, or from the host's IP
sg_allow_cidrs: "cidr_list" = ["0.0.0.0/0", "::/0"]
# Who may SSH in through the group; never the world unless the next key.
sg_ssh_cidrs: "cidr_list" = []
sg_allow_ssh_from_world: "bool" = False
# The widest public range SSH may be opened to, all SSH CIDRs together (sg_ssh_cidrs, or a
# port-22 rule from any other key or option): IPv4 /16 = 65,536 addresses, IPv6 /48 = one
# site. Wider needs sg_allow_ssh_from_world = True. Private ranges do not count.
sg_ssh_max_public_prefix_v4: "number" = 16
sg_ssh_max_public_prefix_v6: "number" = 48
sg_purge: "bool" = False  # revoke rules wsready added that are no longer wanted
sg_purge_all: "bool" = False  # like sg_purge, but also unwanted CIDR rules wsready did not add
aws_region: "word" = None  # None: boto3's standard chain (AWS_REGION, profile, ...)
aws_endpoint_url: "url" = None  # private VPC endpoint, or a test endpoint
instance_id: "word" = None

# --- the front door: an EC2 Application Load Balancer, or the sandbox's balancer host ---------
# (wsready/aws/alb.py, `wsready lb`; tasks/balancer.py on hosts of the `balancer` group).
# One balancer for the fleet: every app host carries the same lb_* values (group data).
# Create/update the ALB, its listeners and target group; register the hosts.
lb_enabled: "bool" = False
lb_name: "word" = "wsready"  # the ALB's name; its target group is "<lb_name>-app"
lb_scheme: "word" = "internet-facing"  # or "internal"
lb_subnet_ids: "word_list" = []  # the ALB's subnets: at least two, in two zones (the VPC is theirs)
# The balancer's security group. When set, the app hosts' group admits nginx's ports (80, 443)
# from this group only, instead of sg_allow_cidrs.
lb_security_group_id: "word" = None
lb_listen_port: "number" = 80  # the HTTP listener (forwards to the app hosts' nginx_listen_port)
lb_certificate_arn: "word" = None  # an ACM certificate ARN: adds an HTTPS listener on lb_tls_port
lb_tls_port: "number" = 443
lb_tls_policy: "word" = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# Seconds a connection may stay idle. Must exceed (app_ping_interval_ms +
# app_ping_timeout_ms) / 1000 (the preflight refuses less): the ALB's default 60 s is close.
lb_idle_timeout_s: "number" = 120
# Cookie stickiness (lb_cookie on the ALB, an inserted cookie on the sandbox's HAProxy): the
# polling transport's requests must reach the host that holds the session. Turning it off is
# refused unless lb_websocket_only = True (every client uses transports: ['websocket']).
lb_stickiness: "bool" = True
lb_stickiness_s: "number" = 86400  # how long the stickiness cookie holds
# WebSocket-only mode: the app offers only the websocket transport (APP_TRANSPORTS=websocket,
# polling refused with Engine.IO 0), the probes judge that mode, stickiness may be off.
# Clients must connect with transports: ['websocket'].
lb_websocket_only: "bool" = False
# Seconds a deregistered host keeps its connections before the balancer closes them; rollout
# waits for this draining before it deploys the host.
lb_deregistration_delay_s: "number" = 60
# The health check: GET /api/health on the app host's nginx, every interval, timeout below it.
lb_health_interval_s: "number" = 10
lb_health_timeout_s: "number" = 5
lb_healthy_threshold: "number" = 2  # consecutive passes before a target takes traffic
lb_unhealthy_threshold: "number" = 2  # consecutive failures before it is taken out

# --- proof after every deploy (tasks/verify.py) -----------------------------------------------
verify_enabled: "bool" = True
verify_address: "host" = None  # address probed from the machine running pyinfra; None: the SSH host
verify_timeout_s: "number" = 10
verify_retries: "number" = 3  # the app may need a moment after a restart
# Name of an environment variable holding a token for the socket probe.
verify_token_env: "word" = None
# CA bundle (local path) the probes verify nginx's certificate against (the deploy's verify,
# `wsready check --inventory`, the monitor): for a certificate not from a public CA. None: a
# given nginx_tls_cert_file is verified against the system's CAs; a generated self-signed pair
# is not verified.
verify_tls_ca_file: "local" = None

# --- fleet monitor (tasks/monitor.py; hosts in the `monitors` group) --------------------------
monitor_interval_s: "number" = 60  # how often the systemd timer runs `wsready check` (10-86400)
# URLs to check, such as ["http://10.0.1.5", "https://ws.example.com/ws"]. None: every
# inventory host outside the `monitors` group, at the address and port its deploy serves.
monitor_targets: "url_list" = None
monitor_alert_webhook: "secret_url" = None  # URL POSTed a JSON message when a target changes state
# Certificate days left under which a target is WARNING / CRITICAL (every TLS mode; an
# ACME certificate is renewed 30 days ahead, so a WARNING means its renewal is failing).
monitor_tls_warn_days: "number" = 21
monitor_tls_crit_days: "number" = 7
# Token for the Socket.IO probe: the name of an environment variable where pyinfra runs, or
# a local file holding it. It lands only in a 0600 root file that systemd gives the service.
monitor_token_env: "word" = None
monitor_token_file: "local" = None
# Local directory of wheels for wsready and its dependencies, for monitor hosts that reach no
# package index: `pip wheel -w DIR 'setuptools>=68' /path/to/wsready`. It is uploaded and pip
# installs with --no-index from it. None: pip installs from the index through proxy_url.
monitor_wheelhouse: "local" = None
# node_exporter textfile collector file, written atomically after every run.
monitor_prometheus_file: "prom_path" = "/var/lib/node_exporter/textfile/wsready.prom"
# The status page (`wsready check --html`, rewritten every run), served by the monitor host's
# nginx at this path of its site. None: no page served. Hosts outside `monitors` never serve it.
monitor_status_path: "urlpath" = "/status"
# Who may see it: source CIDRs (default: private and loopback ranges only; others get 403).
monitor_status_allow_cidrs: "cidr_list" = [
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "fc00::/7", "::1/128",
]  # fmt: skip
# Secret data: htpasswd lines "USER:HASH" (`openssl passwd -apr1` or `-6`; plain passwords
# are refused) to ask for basic auth as well. Lands in a 0640 root:www-data file, never shown.
monitor_status_htpasswd: "secret" = None
