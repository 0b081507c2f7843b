"""`HostConfig`: one host's data resolved once, typed and frozen.

`HostConfig.from_data(name, data)` lays `data` over the defaults of
`inventory/group_data/all.py`, validates every key (`contract.validate`: all problems at once,
raised as one `HostDataError`), then parses the values into narrow types: lists become
tuples, dicts read-only mappings, local paths `Path`s. Secrets stay out of `repr`.

Values several places derive (the address the probes use, scheme and port, the probe
`Target`, the TLS verification rule, the private and Redis addresses) are properties here, so
each rule is written once. `host_config(host)` builds it once per pyinfra host (and again only
when that host's data changes); code that has no pyinfra host (`wsready check --inventory`,
onboard, rollout, `wsready sg`) calls `HostConfig.from_data`.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from wsready.hostdata import acme, contract
from wsready.probes.model import Target
from wsready.validate import ConfigError

ParsedMap = Mapping[str, Any]
# Keys holding local paths (on the machine running wsready; declared "local" in all.py):
# parsed into Path.
LOCAL_PATHS = frozenset(
    key for key, declared in contract.declared().items() if declared.kind == contract.LOCAL_KIND
)


class HostDataError(ConfigError):
    """Every problem of one host's data: `errors` holds one ConfigError per problem."""

    def __init__(self, name: str, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.key, first.value, first.why)
        self.name = name
        self.errors = errors
        self.args = (contract.report(errors, name),)

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True, slots=True)
class SshSettings:
    """pyinfra's connector keys (`ssh_*`) that code outside pyinfra connects with."""

    hostname: str | None = None
    port: int = 22
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    key: str | None = None
    key_password: str | None = field(default=None, repr=False)
    known_hosts_file: str | None = None
    strict_host_key_checking: str = "accept-new"

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SshSettings:
        port = data.get("ssh_port") or 22
        if isinstance(port, bool) or not isinstance(port, (int, str)) or not str(port).isdigit():
            raise ConfigError("ssh_port", port, "must be a TCP port between 1 and 65535")
        return cls(
            hostname=data.get("ssh_hostname") or None,
            port=int(port),
            user=data.get("ssh_user") or None,
            password=data.get("ssh_password"),
            key=data.get("ssh_key"),
            key_password=data.get("ssh_key_password"),
            known_hosts_file=data.get("ssh_known_hosts_file"),
            strict_host_key_checking=str(
                data.get("ssh_strict_host_key_checking", "accept-new")
            ).lower(),
        )


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Every key of inventory/group_data/all.py for one host (see it for what each means)."""

    name: str  # the inventory name
    ssh: SshSettings
    # network egress
    proxy_url: str | None
    # Node.js
    nodejs_source: Literal["nodesource", "distro", "binary"]
    nodejs_major: int
    nodejs_binary_url: str | None
    nodejs_binary_sha256: str | None
    nodejs_binary_dir: str
    # the app
    app_source: Path | None
    app_name: str
    app_user: str
    app_dir: str
    app_port: int
    app_bind: str
    app_workers: int | None
    app_max_clients: int
    app_redis_url: str | None
    app_log_connections: bool
    app_max_http_buffer_size: int
    app_listen_backlog: int
    app_socketio_path: str
    app_cors_origins: tuple[str, ...]
    app_ping_interval_ms: int
    app_ping_timeout_ms: int
    app_limit_nofile: int
    app_env: ParsedMap = field(repr=False)  # values are often secrets
    app_auth: Literal["off", "jwt", "static"]
    app_jwt_secret: str | None = field(repr=False)
    app_jwt_audience: str | None
    app_jwt_issuer: str | None
    app_static_token_hashes: tuple[str, ...]
    app_rollback_on_failure: bool
    app_recovery_max_disconnection_ms: int
    app_restart: Literal["generations", "one-at-a-time", "all"]
    app_drain_rate: int
    app_drain_deadline_s: int | None
    # nginx
    nginx_server_name: str
    nginx_listen_port: int
    nginx_ipv6: bool
    nginx_rest_upstream: str | None
    nginx_proxy_read_timeout_s: int | float
    nginx_worker_processes: int | Literal["auto"] | None
    nginx_worker_connections: int
    nginx_worker_rlimit_nofile: int | None
    nginx_worker_shutdown_timeout_s: int | None
    nginx_listen_backlog: int | None
    nginx_reuseport: bool
    nginx_hardening: bool
    nginx_trusted_proxies: tuple[str, ...]
    nginx_tls: bool | Literal["acme"]
    nginx_tls_cert_file: Path | None
    nginx_tls_key_file: Path | None
    nginx_tls_redirect: bool
    nginx_tls_port: int
    nginx_tls_profile: Literal["intermediate", "modern"]
    nginx_tls_hsts: int | Literal[False]
    acme_email: str | None
    acme_directory_url: str
    acme_ca_file: Path | None
    nginx_extra_directives: tuple[str, ...]
    # kernel
    kernel_sysctls: ParsedMap
    # Redis
    redis_address: str | None
    redis_port: int
    redis_password: str | None = field(repr=False)
    redis_allow_cidrs: tuple[str, ...]
    private_address: str | None
    # host firewall
    firewall_enabled: bool
    firewall_backend: Literal["auto", "ufw", "nftables"]
    firewall_ssh_port: int
    firewall_ssh_cidrs: tuple[str, ...]
    firewall_allow_cidrs: tuple[str, ...]
    # EC2 security group
    sg_enabled: bool
    sg_id: str | None
    sg_allow_cidrs: tuple[str, ...]
    sg_ssh_cidrs: tuple[str, ...]
    sg_allow_ssh_from_world: bool
    sg_ssh_max_public_prefix_v4: int
    sg_ssh_max_public_prefix_v6: int
    sg_purge: bool
    sg_purge_all: bool
    aws_region: str | None
    aws_endpoint_url: str | None
    instance_id: str | None
    # the front door (ALB, or the sandbox's balancer host)
    lb_enabled: bool
    lb_name: str
    lb_scheme: Literal["internet-facing", "internal"]
    lb_subnet_ids: tuple[str, ...]
    lb_security_group_id: str | None
    lb_listen_port: int
    lb_certificate_arn: str | None
    lb_tls_port: int
    lb_tls_policy: str
    lb_idle_timeout_s: int
    lb_stickiness: bool
    lb_stickiness_s: int
    lb_websocket_only: bool
    lb_deregistration_delay_s: int
    lb_health_interval_s: int
    lb_health_timeout_s: int
    lb_healthy_threshold: int
    lb_unhealthy_threshold: int
    # proof after every deploy
    verify_enabled: bool
    verify_address: str | None
    verify_timeout_s: int | float
    verify_retries: int
    verify_token_env: str | None
    verify_tls_ca_file: Path | None
    # fleet monitor
    monitor_interval_s: int
    monitor_targets: tuple[str, ...] | None
    monitor_alert_webhook: str | None = field(repr=False)  # its path: a secret
    monitor_tls_warn_days: int
    monitor_tls_crit_days: int
    monitor_token_env: str | None
    monitor_token_file: Path | None
    monitor_wheelhouse: Path | None
    monitor_prometheus_file: str
    monitor_status_path: str | None
    monitor_status_allow_cidrs: tuple[str, ...]
    monitor_status_htpasswd: str | None = field(repr=False)

    @classmethod
    def from_data(
        cls, name: str, data: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
    ) -> HostConfig:
        """`data` (one host's, as pyinfra resolves it) over the defaults of all.py, validated
        and parsed. HostDataError lists every problem."""
        defaults = contract.cached_defaults() if defaults is None else defaults
        errors = contract.validate(data, defaults)
        if errors:
            raise HostDataError(name, errors)
        merged = {**defaults, **{key: data[key] for key in defaults if key in data}}
        values = {key: _parse(key, merged[key]) for key in DATA_KEYS}
        return cls(name=name, ssh=SshSettings.from_data(data), **values)

    # --- derived values: each rule once ---------------------------------------------------

    @property
    def drain_deadline_s(self) -> int:
        """How long a stopping worker may take to hand its clients over: app_drain_deadline_s,
        else a full host's clients at app_drain_rate plus 10 s."""
        if self.app_drain_deadline_s is not None:
            return self.app_drain_deadline_s
        return -(-self.app_max_clients // self.app_drain_rate) + 10

    @property
    def ssh_address(self) -> str:
        """Where pyinfra reaches the host: `ssh_hostname`, else the inventory name."""
        return self.ssh.hostname or self.name

    @property
    def probe_address(self) -> str:
        """Where the probes reach the host: verify_address, else the SSH address."""
        return self.verify_address or self.ssh_address

    @property
    def network_address(self) -> str:
        """Where the host's connections to the private network come from."""
        return self.private_address or self.ssh_address

    @property
    def redis_server_address(self) -> str:
        """Where the app hosts reach this host when it is in the `redis` group."""
        return self.redis_address or self.network_address

    @property
    def scheme(self) -> Literal["http", "https"]:
        return "https" if self.nginx_tls else "http"

    @property
    def public_port(self) -> int:
        """The port the probes use: nginx_tls_port with TLS, else nginx_listen_port."""
        return self.nginx_tls_port if self.nginx_tls else self.nginx_listen_port

    @property
    def served_ports(self) -> tuple[int, ...]:
        """Every port nginx listens on for the site."""
        if self.nginx_tls:
            return (self.nginx_listen_port, self.nginx_tls_port)
        return (self.nginx_listen_port,)

    @property
    def certificate_names(self) -> list[str]:
        """The names an ACME certificate is ordered for (nginx_server_name's)."""
        return acme.certificate_names(self.nginx_server_name)

    @property
    def url_host(self) -> str:
        """The host part of the URL clients use: an ACME certificate's first name (the
        probes still connect to probe_address), else probe_address."""
        return self.certificate_names[0] if self.nginx_tls == "acme" else self.probe_address

    @property
    def url(self) -> str:
        """scheme://host:port the outside world uses for this host."""
        host = self.url_host
        shown = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{shown}:{self.public_port}"

    @property
    def tls_verify(self) -> bool | str:
        """How the probes verify nginx's certificate: against verify_tls_ca_file when it is
        set; a given (nginx_tls_cert_file) or ACME certificate against the system's CAs; a
        pair generated on the host is self-signed: not verified."""
        if self.verify_tls_ca_file is not None:
            return str(self.verify_tls_ca_file)
        return self.nginx_tls == "acme" or self.nginx_tls_cert_file is not None

    @property
    def origin(self) -> str | None:
        """The Origin the probes send: the first CORS origin."""
        return self.app_cors_origins[0] if self.app_cors_origins else None

    def target(self, token: str | None = None) -> Target:
        """What `wsready check`, the monitor and the deploy's verify step probe."""
        if self.probe_address.startswith("@"):
            raise ConfigError(
                f"{self.name}.verify_address", None, "is needed for a connector host such as @local"
            )
        return Target(
            url=self.url,
            socketio_path=self.app_socketio_path,
            token=token,
            origin=self.origin,
            name=self.name,
            tls_verify=self.tls_verify,
            websocket_only=self.lb_websocket_only,
            # An ACME host is probed at its certificate's name, connecting to its address.
            connect_address=self.probe_address if self.nginx_tls == "acme" else None,
        )


DATA_KEYS = tuple(item.name for item in dataclasses.fields(HostConfig))[2:]


def _parse(key: str, value: Any) -> Any:
    """A validated value in its HostConfig type."""
    if value is None:
        return None
    if key in LOCAL_PATHS:
        return Path(value)
    if isinstance(value, list | tuple):
        return tuple(value)
    if isinstance(value, Mapping):
        return MappingProxyType(dict(value))
    return value


# --- one HostConfig per pyinfra host ---------------------------------------------------------

_CACHE: weakref.WeakKeyDictionary[Any, tuple[dict[str, Any], HostConfig]] = (
    weakref.WeakKeyDictionary()
)


def host_config(host: Any) -> HostConfig:
    """The HostConfig of pyinfra host `host`: built on first use, then the same object for
    as long as the host's data is unchanged."""
    data = host.data.dict()
    cached = _CACHE.get(host)
    if cached is not None and cached[0] == data:
        return cached[1]
    config = HostConfig.from_data(host.name, data)
    _CACHE[host] = (data, config)
    return config
