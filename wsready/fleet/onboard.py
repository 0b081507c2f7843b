"""Preflight a new host before its first deploy, over SSH.

Checks, in order: SSH reachable, OS supported (/etc/os-release), root or passwordless sudo,
free space on / (at least 1 GiB), nginx's ports free or already held by nginx, host data
valid. Each check gives a `Finding`; a host is ready when none failed. The parsing of
command output is pure and separate from the SSH transport, so both are testable.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import paramiko

from wsready import inventory, validate
from wsready.deploy import families
from wsready.errors import InputError
from wsready.hostdata import HostConfig, HostDataError
from wsready.validate import ConfigError

MIN_FREE_BYTES = 1 << 30
OUR_LISTENERS = ("nginx",)

# (exit status, stdout, stderr) of one shell command on the host
CommandResult = tuple[int, str, str]
Run = Callable[[str], CommandResult]


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.check}: {self.detail}"


@dataclass
class HostReport:
    name: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(finding.ok for finding in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.ok]


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            values[key.strip()] = " ".join(shlex.split(value)) if value.strip() else ""
    return values


def check_os(os_release: str) -> Finding:
    info = parse_os_release(os_release)
    os_id, version = info.get("ID", ""), info.get("VERSION_ID", "")
    pretty = info.get("PRETTY_NAME") or f"{os_id} {version}".strip() or "unknown"
    try:
        families.release(os_id, version, pretty)
    except families.UnsupportedRelease as error:
        return Finding("os", False, str(error))
    return Finding("os", True, pretty)


def check_privilege(uid_output: str, sudo_status: int | None) -> Finding:
    if uid_output.strip() == "0":
        return Finding("privilege", True, "logged in as root")
    if sudo_status == 0:
        return Finding("privilege", True, "passwordless sudo works")
    return Finding(
        "privilege",
        False,
        "not root and `sudo -n true` fails: give the SSH user passwordless sudo or use root",
    )


def check_disk(df_output: str, minimum: int = MIN_FREE_BYTES) -> Finding:
    """From `df -Pk /`: the available 1K-blocks are the fourth column of the second line."""
    lines = df_output.strip().splitlines()
    try:
        free = int(lines[1].split()[3]) * 1024
    except (IndexError, ValueError):
        return Finding("disk", False, f"cannot read free space from `df -Pk /`: {df_output!r}")
    text = f"{free / (1 << 30):.1f} GiB free on /"
    if free < minimum:
        return Finding("disk", False, f"{text}; need at least {minimum / (1 << 30):.1f} GiB")
    return Finding("disk", True, text)


def listeners_from_ss(ss_output: str) -> list[str]:
    """Process names (or "unknown process") listening, from `ss -Hltnp` lines."""
    names = []
    for line in ss_output.splitlines():
        if not line.strip():
            continue
        found = re.findall(r'\("([^"]+)",pid=(\d+)', line)
        names.extend(f"{name} (pid {pid})" for name, pid in found)
        if not found:
            names.append("unknown process")
    return names


def listening_ports_from_proc(proc_net_tcp: str) -> set[int]:
    """Ports in LISTEN state (0A) from /proc/net/tcp and tcp6 (when `ss` is missing)."""
    ports = set()
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def check_port(port: int, listeners: list[str], key: str = "nginx_listen_port") -> Finding:
    name = f"port {port}"
    if not listeners:
        return Finding(name, True, "free")
    unique = sorted(set(listeners))
    if all(item.split(" ", 1)[0] in OUR_LISTENERS for item in unique):
        return Finding(name, True, "already served by nginx (the deploy configures it)")
    return Finding(
        name,
        False,
        f"taken by {', '.join(unique)}: stop it, or choose another {key}",
    )


def nginx_ports(config: HostConfig) -> list[tuple[str, int]]:
    """(data key, port) of every port nginx will listen on."""
    ports = [("nginx_listen_port", config.nginx_listen_port)]
    if config.nginx_tls:
        ports.append(("nginx_tls_port", config.nginx_tls_port))
    return ports


def preflight(config: HostConfig, run: Run) -> HostReport:
    """Every check over an open connection (`run` executes one shell command)."""
    report = HostReport(config.name)
    status, out, _ = run("cat /etc/os-release")
    report.findings.append(check_os(out if status == 0 else ""))
    _, uid, _ = run("id -u")
    is_root = uid.strip() == "0"
    sudo_status = None if is_root else run("sudo -n true")[0]
    report.findings.append(check_privilege(uid, sudo_status))
    _, df, _ = run("df -Pk /")
    report.findings.append(check_disk(df))
    sudo = "" if is_root or sudo_status != 0 else "sudo -n "
    for key, port in nginx_ports(config):
        report.findings.append(check_port(port, _listeners(run, sudo, port), key))
    return report


def _listeners(run: Run, sudo: str, port: int) -> list[str]:
    port = validate.port("nginx port", port)  # an int, whatever reached here
    status, out, _ = run(f"{sudo}ss -Hltnp {shlex.quote(f'sport = :{port:d}')}")
    if status == 0:
        return listeners_from_ss(out)
    _, proc, _ = run("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null")
    return ["unknown process"] if port in listening_ports_from_proc(proc) else []


def host_config(name: str, data: Mapping[str, Any]) -> tuple[HostConfig | None, list[Finding]]:
    """The host's HostConfig and one finding (valid), or None and one finding per problem."""
    try:
        config = HostConfig.from_data(name, data)
    except HostDataError as error:
        return None, [Finding("host data", False, str(problem)) for problem in error.errors]
    return config, [Finding("host data", True, "valid")]


@dataclass
class SshRunner:
    """Runs commands over one paramiko connection built from pyinfra's ssh_* host data."""

    client: paramiko.SSHClient
    timeout_s: float = 30.0

    def __call__(self, command: str) -> CommandResult:
        _, stdout, stderr = self.client.exec_command(command, timeout=self.timeout_s)
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
        return stdout.channel.recv_exit_status(), out, err


def connect(config: HostConfig, timeout_s: float = 10.0) -> paramiko.SSHClient:
    """Open SSH as pyinfra would from the host's ssh_* data; raises OSError/paramiko errors."""
    client = paramiko.SSHClient()
    ssh = config.ssh
    known_hosts, strict = ssh.known_hosts_file, ssh.strict_host_key_checking
    if known_hosts and known_hosts != "/dev/null":
        client.load_host_keys(known_hosts)
    elif known_hosts is None:
        client.load_system_host_keys()
    if strict in ("yes", "true"):
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    else:
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        config.ssh_address,
        port=ssh.port,
        username=ssh.user,
        password=ssh.password,
        key_filename=ssh.key,
        passphrase=ssh.key_password,
        timeout=timeout_s,
        banner_timeout=timeout_s,
        auth_timeout=timeout_s,
        allow_agent=ssh.key is None,
    )
    return client


def onboard_host(name: str, data: Mapping[str, Any]) -> HostReport:
    """Validate host data (defaults from all.py fill the gaps), connect, run every check."""
    config, findings = host_config(name, data)
    if config is None:
        # Nothing runs on a host whose data is refused: its values would reach commands.
        skipped = Finding("ssh", False, f"not contacted: {name}'s host data is refused")
        return HostReport(name, [skipped, *findings])
    address, user = config.ssh_address, config.ssh.user or "(local user)"
    try:
        client = connect(config)
    except (OSError, paramiko.SSHException) as error:
        report = HostReport(name, [Finding("ssh", False, f"{user}@{address}: {error}")])
        report.findings.extend(findings)
        return report
    try:
        report = preflight(config, SshRunner(client))
    finally:
        client.close()
    report.findings.insert(0, Finding("ssh", True, f"reachable as {user}@{address}"))
    report.findings.extend(findings)
    if config.lb_enabled:
        report.findings.append(
            Finding(
                "front door",
                True,
                f"the deploy registers this host in load balancer {config.lb_name} "
                "(target group) once its probes pass",
            )
        )
    return report


def deploy_command(inventory: str, name: str) -> str:
    return f"pyinfra -y {shlex.quote(inventory)} deploy.py --limit {shlex.quote(name)}"


class InventoryError(InputError, ValueError):
    """The inventory cannot be loaded, or --limit matches no host."""


def load_hosts(path: str, limit: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(name, data) of every host pyinfra loads from inventory `path`, group data included.

    `limit` is a host name, group name or glob, as with `pyinfra --limit`. An inventory with
    no hosts (an EC2 fleet with no tagged instance yet) gives an empty list.
    """
    try:
        hosts = inventory.load(path, limit, require_hosts=False)
    except ConfigError as error:
        raise InventoryError(str(error)) from None
    return [(host.name, host.data) for host in hosts]
