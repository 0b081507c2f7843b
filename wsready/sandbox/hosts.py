"""Throwaway local Debian hosts for deploys and tests: systemd + sshd in network namespaces.

    from wsready import sandbox
    hosts = sandbox.up(1, Path("/tmp/me/sandbox.py"))    # writes a pyinfra inventory
    sandbox.ssh(hosts[0], "systemctl is-active ssh")      # -> CompletedProcess
    sandbox.power_off(hosts[0].name); sandbox.power_on(hosts[0].name)   # same rootfs
    sandbox.host("wsr-3"), sandbox.status(), sandbox.memory_kb("wsr-3")
    sandbox.down(Path("/tmp/me/sandbox.py"))             # or sandbox.down(all_hosts=True)

Each host `wsr-X` is `systemd-nspawn -b` on its own rootfs copy of the cached image, in netns
`wsr-X` at 10.200.X.2, reaching package registries only through its own tinyproxy on
10.200.X.1:8888 (`proxy_url` host data). `down` leaves no netns, veth, mount or process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from wsready.errors import Failed
from wsready.sandbox import image as sandbox_image
from wsready.sandbox import inventory as sandbox_inventory
from wsready.sandbox import mounts as sandbox_mounts
from wsready.sandbox import net as sandbox_net
from wsready.sandbox import proxy as sandbox_proxy
from wsready.sandbox import state as sandbox_state
from wsready.sandbox.prereq import require
from wsready.sandbox.state import HostState, Process

DEFAULT_INVENTORY = Path("inventory/sandbox.py")
READY_TIMEOUT_S = 120.0
BOOT_LOCK = Path("/run/wsready/boot.lock")
NSPAWN_RUN = Path("/run/systemd/nspawn")
# Each host's systemd, journald and logind hold about a dozen inotify instances (all root's):
# the kernel's default of 128 per user runs out near ten hosts, and systemd inside then fails
# with "Failed to create inotify object: Too many open files".
INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_INSTANCES_MIN = 1024
Log = Callable[[str], None]


class SandboxError(Failed, RuntimeError):
    """A sandbox operation could not be carried out; the message says why."""


class HostNotReady(SandboxError):
    """A booted host did not get SSH and a running systemd in time."""


@dataclass(frozen=True)
class SandboxHost:
    name: str
    address: str  # 10.200.X.2: SSH, HTTP, probes
    gateway: str  # 10.200.X.1: the host machine's side, where the proxy listens
    lan_address: str  # 10.201.0.X: where the other sandbox hosts reach this one
    proxy_url: str
    ssh_key: str
    rootfs: str
    inventory: str

    @classmethod
    def of(cls, state: HostState) -> SandboxHost:
        return cls(
            name=state.name,
            address=state.address,
            gateway=state.gateway,
            lan_address=state.lan_address,
            proxy_url=sandbox_proxy.proxy_url(state),
            ssh_key=state.ssh_key,
            rootfs=str(state.rootfs),
            inventory=state.inventory,
        )


@dataclass(frozen=True)
class HostStatus:
    name: str
    address: str
    running: bool
    systemd_state: str  # `systemctl is-system-running`, "-" when stopped
    uptime_s: float | None
    inventory: str


# --- up -------------------------------------------------------------------------------------


def up(
    count: int = 1,
    inventory_path: Path | str = DEFAULT_INVENTORY,
    log: Log = sandbox_image.progress_log,
    ready_timeout_s: float = READY_TIMEOUT_S,
    release: str = sandbox_image.SUITE,
    balancer: bool = False,
    redis: bool = False,
) -> list[SandboxHost]:
    """Start `count` hosts of Debian `release` in parallel, wait until systemd is up, write
    the inventory. With `redis`, one more host after them, in inventory group `redis`: the
    Redis every app host shares (its password made here, kept in a 0600 file). With
    `balancer`, one more host (the last), in inventory group `balancer`: the deploy makes it
    the front door of the others."""
    sandbox_image.check_release(release)
    require()
    _inotify_room()
    inventory = Path(inventory_path).absolute()
    _check_inventory_free(inventory)
    started = time.monotonic()
    image = sandbox_image.ensure_image(log=log, release=release)
    allowed = [*sandbox_image.host_mirrors().hosts(), sandbox_proxy.npm_registry_host()]
    states = _reserve(count + int(redis) + int(balancer), inventory, image.key, release)
    try:
        with ThreadPoolExecutor(max_workers=len(states)) as pool:
            list(pool.map(lambda s: _start_host(s, image, allowed, log, ready_timeout_s), states))
    except BaseException:
        _remove_hosts(states)
        raise
    hosts = [SandboxHost.of(s) for s in states]
    entries = [
        (h.name, sandbox_inventory.host_data(h.address, h.ssh_key, h.proxy_url, h.lan_address))
        for h in hosts
    ]
    if balancer:  # browsers reach the app hosts through the balancer's address too
        front = f"http://{hosts[-1].address}"
        for _name, data in entries[:count]:
            data["app_cors_origins"] = [*data["app_cors_origins"], front]
    password_file = _redis_password_file(states[count]) if redis else None
    sandbox_inventory.write(
        inventory,
        entries[:count],
        balancer=entries[count + int(redis) :],
        redis=entries[count : count + int(redis)],
        redis_password_file=password_file,
    )
    log(f"{len(hosts)} sandbox host(s) up in {time.monotonic() - started:.1f}s: {inventory}")
    return hosts


def _redis_password_file(state: HostState) -> Path:
    """A new random Redis password in a 0600 file of the Redis host's state directory."""
    path = state.directory / "redis-password"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    return path


def _check_inventory_free(inventory: Path) -> None:
    if inventory.exists() and not sandbox_inventory.is_ours(inventory):
        raise SandboxError(f"{inventory} exists and was not written by `wsready sandbox up`")
    running = [s.name for s in _states_of(inventory) if s.nspawn and s.nspawn.alive()]
    if running:
        raise SandboxError(
            f"{inventory} already has running hosts ({', '.join(running)}): "
            f"`wsready sandbox down --inventory {inventory}` first"
        )
    _remove_hosts(_states_of(inventory))  # leftovers of a crashed run of the same inventory


def _reserve(count: int, inventory: Path, key: Path, release: str) -> list[HostState]:
    """Allocate addresses and create the namespaces, atomically against other `up`s."""
    states: list[HostState] = []
    with sandbox_net.allocation_lock():
        try:
            for index in sandbox_net.allocate(sandbox_net.used_indexes(), count):
                state = HostState(
                    sandbox_state.host_name(index), index, str(inventory), str(key), release=release
                )
                state.save()
                states.append(state)
                sandbox_net.create(state)
        except BaseException:
            for state in states:
                _teardown(state)
            sandbox_net.remove_lan_if_unused()
            sandbox_net.tidy_netns_dir()
            raise
    return states


def _start_host(
    state: HostState, image: sandbox_image.Image, allowed: list[str], log: Log, timeout_s: float
) -> None:
    started = time.monotonic()
    sandbox_image.unpack(image, state.rootfs, state.name)
    state.proxy = sandbox_proxy.start(state, allowed)
    state.save()
    with _boot_lock(fcntl.LOCK_SH):
        systemd, failed = _boot_until_ready(state, image, timeout_s, log)
    note = f" (failed units: {', '.join(failed)})" if failed else ""
    log(f"  {state.name} {state.address}: {systemd} in {time.monotonic() - started:.1f}s{note}")


def _boot_until_ready(
    state: HostState, image: sandbox_image.Image, timeout_s: float, log: Log
) -> tuple[str, list[str]]:
    """Boot and wait for systemd. A host that is not up within half of `timeout_s` (a boot
    takes 4-8 s, about 40 s under heavy load) is logged with its boot report, killed,
    unpacked afresh and booted once more with the other half."""
    first_s = timeout_s / 2
    _boot(state)
    try:
        return _wait_ready(state, first_s)
    except HostNotReady as error:
        log(f"  {error}\n  {state.name}: booting it once more from a fresh copy")
    _kill_container(state)
    sandbox_mounts.remove_tree(NSPAWN_RUN / "propagate" / state.name)
    sandbox_mounts.remove_tree(state.rootfs)
    sandbox_image.unpack(image, state.rootfs, state.name)
    _boot(state)
    return _wait_ready(state, timeout_s - first_s)


def _boot(state: HostState) -> None:
    with open(state.directory / "nspawn.log", "ab") as out:
        proc = subprocess.Popen(
            [
                "systemd-nspawn", "--boot", f"--directory={state.rootfs}",
                f"--machine={state.name}",
                f"--network-namespace-path=/run/netns/{state.netns}",
                "--capability=CAP_NET_ADMIN", "--register=no", "--keep-unit",
                "--console=passive", "--link-journal=no", "--resolv-conf=off",
            ],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
    state.nspawn = Process.of(proc.pid)
    state.save()


def _wait_ready(state: HostState, timeout_s: float) -> tuple[str, list[str]]:
    """Wait for `systemctl is-system-running --wait`: running, or degraded + failed units."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if state.nspawn is None or not state.nspawn.alive():
            log_tail = (state.directory / "nspawn.log").read_text(errors="replace")[-2000:]
            raise SandboxError(f"{state.name}: systemd-nspawn exited during boot:\n{log_tail}")
        remaining = max(1.0, deadline - time.monotonic())
        try:
            result = _ssh(state, "systemctl is-system-running --wait", timeout_s=remaining)
        except subprocess.TimeoutExpired:
            break
        output = (result.stdout.strip() or result.stderr.strip()).splitlines()
        last = output[-1] if output else ""
        if last == "running":
            return last, []
        if last == "degraded":
            failed = _ssh(state, "systemctl --failed --plain --no-legend", timeout_s=15)
            return last, [line.split()[0] for line in failed.stdout.splitlines() if line.split()]
        if result.returncode != 255:  # ssh itself worked: systemd said something else
            raise SandboxError(f"{state.name}: systemd is {last!r} after boot")
        time.sleep(0.3)
    raise HostNotReady(
        f"{state.name}: not ready within {timeout_s:.0f}s (last: {last!r}); inside it:\n"
        + _boot_report(state)
    )


# What a host that did not come up has to say for itself, read from inside without SSH.
_BOOT_REPORT = (
    "systemctl is-system-running; systemctl list-jobs --no-pager; "
    "systemctl --failed --no-pager; systemctl status ssh.service --no-pager -n 10; "
    "journalctl -b --no-pager -p warning -n 20"
)


def _boot_report(state: HostState) -> str:
    """systemd's view from inside the container (nsenter into its PID 1), for the error."""
    container = _container_pid1(state.nspawn) if state.nspawn else None
    if container is None:
        return "(the container has no PID 1 any more)"
    try:
        result = subprocess.run(
            ["nsenter", f"--target={container.pid}", "--all", "--", "sh", "-c", _BOOT_REPORT],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"(could not look inside: {error})"
    return (result.stdout + result.stderr)[:6000]


# --- ssh --------------------------------------------------------------------------------------


def ssh(
    host: SandboxHost | str, command: str, timeout_s: float = 120.0, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `command` as root on a sandbox host (by SandboxHost or name)."""
    name = host.name if isinstance(host, SandboxHost) else host
    state = HostState.load(name)
    if state is None:
        raise SandboxError(f"no sandbox host named {name!r}")
    result = _ssh(state, command, timeout_s)
    if check and result.returncode != 0:
        raise SandboxError(f"{name}: `{command}` exited {result.returncode}: {result.stderr}")
    return result


def feed(host: SandboxHost | str, command: str, data: bytes, timeout_s: float = 120.0) -> None:
    """Run `command` as root on a sandbox host with `data` on its stdin (a tar stream, say);
    raises SandboxError when it fails."""
    name = host.name if isinstance(host, SandboxHost) else host
    state = HostState.load(name)
    if state is None:
        raise SandboxError(f"no sandbox host named {name!r}")
    result = subprocess.run(
        _ssh_argv(state, command), input=data, capture_output=True, timeout=timeout_s
    )
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace")
        raise SandboxError(f"{name}: `{command}` exited {result.returncode}: {stderr}")


def _ssh(state: HostState, command: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _ssh_argv(state, command),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
    )


def _ssh_argv(state: HostState, command: str) -> list[str]:
    return [
        "ssh", "-i", state.ssh_key, "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", f"root@{state.address}", command,
    ]  # fmt: skip


# --- power ------------------------------------------------------------------------------------


def power_off(name: str, timeout_s: float = 30.0) -> None:
    """Orderly poweroff (SIGTERM to nspawn); netns, proxy and rootfs stay for power_on."""
    state = _load(name)
    if (
        state.nspawn
        and state.nspawn.signal(signal.SIGTERM)
        and not state.nspawn.wait_gone(timeout_s)
    ):
        _kill_container(state)
    state.nspawn = None
    state.save()


def power_on(name: str, ready_timeout_s: float = READY_TIMEOUT_S) -> SandboxHost:
    """Boot the same rootfs again in the same netns and wait until systemd is up."""
    state = _load(name)
    if state.nspawn and state.nspawn.alive():
        raise SandboxError(f"{name} is already running")
    with _boot_lock(fcntl.LOCK_SH):
        _boot(state)
        _wait_ready(state, ready_timeout_s)
    return SandboxHost.of(state)


def host(name: str) -> SandboxHost:
    """The sandbox host called `name` (e.g. in a subprocess that only knows the name)."""
    return SandboxHost.of(_load(name))


def _load(name: str) -> HostState:
    state = HostState.load(name)
    if state is None:
        raise SandboxError(f"no sandbox host named {name!r}")
    return state


# --- status -----------------------------------------------------------------------------------


def status() -> list[HostStatus]:
    """Every sandbox host on this machine (anyone's), with systemd's state when running."""
    rows = []
    for name in sandbox_state.known_names():
        state = HostState.load(name)
        if state is None:
            continue
        running = bool(state.nspawn and state.nspawn.alive())
        systemd, uptime = "-", None
        if running:
            assert state.nspawn is not None
            container = _container_pid1(state.nspawn)
            uptime = sandbox_state.uptime_s(container) if container else None
            try:
                result = _ssh(state, "systemctl is-system-running", timeout_s=10)
                systemd = result.stdout.strip() or "unreachable"
            except subprocess.TimeoutExpired:
                systemd = "unreachable"
        rows.append(HostStatus(name, state.address, running, systemd, uptime, state.inventory))
    return rows


# --- down -------------------------------------------------------------------------------------


def down(
    inventory_path: Path | str | None = DEFAULT_INVENTORY, all_hosts: bool = False
) -> list[str]:
    """Remove the hosts of one inventory (or every sandbox host); returns their names."""
    require()
    if all_hosts:
        states = [_load_or_stub(n) for n in sandbox_state.known_names()]
    else:
        if inventory_path is None:
            raise ValueError("down() needs an inventory path or all_hosts=True")
        states = _states_of(Path(inventory_path).absolute())
    _remove_hosts(states)
    inventories = {Path(s.inventory) for s in states if s.inventory}
    if not all_hosts and inventory_path is not None:
        inventories.add(Path(inventory_path).absolute())
    for inventory in inventories:
        if sandbox_inventory.is_ours(inventory):
            inventory.unlink()
    return [s.name for s in states]


def _states_of(inventory: Path) -> list[HostState]:
    """Hosts recorded for this inventory, plus those it lists that still exist."""
    names = set(sandbox_inventory.host_names(inventory))
    states = []
    for name in sandbox_state.known_names():
        state = _load_or_stub(name)
        if state.inventory == str(inventory) or name in names:
            states.append(state)
    return states


def _load_or_stub(name: str) -> HostState:
    """The saved state, or a stub for a directory whose state file never got written."""
    index = sandbox_state.index_of(name) or 0
    return HostState.load(name) or HostState(name, index, inventory="")


def _remove_hosts(states: list[HostState]) -> None:
    if states:
        with ThreadPoolExecutor(max_workers=len(states)) as pool:
            list(pool.map(_teardown, states))
    with sandbox_net.allocation_lock():
        sandbox_net.remove_lan_if_unused()
        sandbox_net.tidy_netns_dir()
    _tidy_nspawn_dirs()


def _inotify_room() -> None:
    """Raise the per-user inotify instance limit to INOTIFY_INSTANCES_MIN when it is lower."""
    with contextlib.suppress(OSError, ValueError):
        if int(INOTIFY_INSTANCES.read_text()) < INOTIFY_INSTANCES_MIN:
            INOTIFY_INSTANCES.write_text(str(INOTIFY_INSTANCES_MIN))


@contextmanager
def _boot_lock(mode: int) -> Iterator[bool]:
    """Shared while a host boots; `down` takes it exclusively (never waiting) to tidy up."""
    BOOT_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(BOOT_LOCK, "w") as lock:
        try:
            fcntl.flock(lock, mode)
        except BlockingIOError:
            yield False
            return
        yield True


def _tidy_nspawn_dirs() -> None:
    """Remove the empty /run/systemd/nspawn directories nspawn created (not while booting)."""
    with _boot_lock(fcntl.LOCK_EX | fcntl.LOCK_NB) as nobody_booting:
        if not nobody_booting:
            return
        for directory in (NSPAWN_RUN / "propagate", NSPAWN_RUN / "locks", NSPAWN_RUN):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only succeeds when empty


def _teardown(state: HostState) -> None:
    """Kill what we started, then remove netns, veth, leftover mounts and the rootfs."""
    if state.nspawn:
        _kill_container(state)
    if state.proxy:
        state.proxy.stop()
    sandbox_net.delete(state)
    sandbox_mounts.remove_tree(NSPAWN_RUN / "propagate" / state.name)
    sandbox_mounts.remove_tree(state.directory)


def _kill_container(state: HostState) -> None:
    """SIGKILL the container's PID 1 (fast, nothing to save), then reap nspawn."""
    assert state.nspawn is not None
    container = _container_pid1(state.nspawn)
    if container:
        container.signal(signal.SIGKILL)
    if not state.nspawn.wait_gone(15):
        state.nspawn.signal(signal.SIGKILL)
        state.nspawn.wait_gone(5)


def _container_pid1(nspawn: Process) -> Process | None:
    if not nspawn.alive():
        return None
    kids = sandbox_state.children(nspawn.pid)
    return Process.of(kids[0]) if kids else None


def memory_kb(name: str) -> int | None:
    """Proportional set size (PSS) of a running host's processes, container PID 1 down."""
    state = HostState.load(name)
    if state is None or state.nspawn is None:
        return None
    container = _container_pid1(state.nspawn)
    if container is None:
        return None
    total, todo = 0, [container.pid]
    while todo:
        pid = todo.pop()
        todo += sandbox_state.children(pid)
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):  # the process has just exited
            continue
    return total
