"""Bookkeeping for sandbox hosts: where each host lives and which processes wsready started.

One JSON file per host, `/var/lib/wsready/sandbox/wsr-X/state.json`, next to its rootfs
(`WSREADY_SANDBOX_ROOT` moves that directory, e.g. to keep a test's `down --all` to itself).
A PID is only ever signalled when its start time still matches the one recorded at start,
so a PID reused by someone else's process is never touched.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

STATE_ROOT = Path(os.environ.get("WSREADY_SANDBOX_ROOT", "/var/lib/wsready/sandbox"))
NAME_PREFIX = "wsr-"


@dataclass(frozen=True)
class Process:
    """A process wsready started: its PID and its start time (clock ticks since boot)."""

    pid: int
    start_ticks: int

    @classmethod
    def of(cls, pid: int) -> Process:
        return cls(pid, start_ticks(pid) or 0)

    def alive(self) -> bool:
        """Still running (not a zombie) and still the same process."""
        stat = _stat_fields(self.pid)
        return stat is not None and stat[0] != "Z" and int(stat[19]) == self.start_ticks

    def signal(self, signum: int) -> bool:
        """Send `signum` if this is still our process; False when it is already gone."""
        if not self.alive():
            return False
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def wait_gone(self, timeout_s: float) -> bool:
        """Reap it if it is our child, else poll until it has exited. True when gone."""
        deadline = time.monotonic() + timeout_s
        while True:
            # Seen exited before the reap, so a child that turned zombie between the two
            # looks is still reaped here rather than left behind.
            exited = not self.alive()
            try:
                if os.waitpid(self.pid, os.WNOHANG)[0] == self.pid:
                    return True
            except ChildProcessError:
                pass
            if exited:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout_s`."""
        if self.signal(signal.SIGTERM) and not self.wait_gone(timeout_s):
            self.signal(signal.SIGKILL)
            self.wait_gone(timeout_s)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], starttime is [19])."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def children(pid: int) -> list[int]:
    """Direct children of `pid` (forked by any of its threads)."""
    kids: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):  # the process has just exited
        return kids
    for task in tasks:
        try:
            kids += [int(word) for word in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return kids


def uptime_s(process: Process) -> float | None:
    """Seconds since `process` started, or None when it is not running."""
    if not process.alive():
        return None
    boot_uptime = float(Path("/proc/uptime").read_text().split()[0])
    return boot_uptime - process.start_ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class HostState:
    """Everything `down` needs to remove one host and nothing else."""

    name: str
    index: int
    inventory: str  # absolute path of the inventory listing this host
    ssh_key: str = ""  # private key that logs in as root
    nspawn: Process | None = None
    proxy: Process | None = None
    proxy_port: int = 8888  # tinyproxy listens on gateway:proxy_port
    created_at: float = field(default_factory=time.time)
    release: str = "bookworm"  # the Debian release of its image

    @property
    def netns(self) -> str:
        return self.name

    @property
    def veth(self) -> str:
        return f"v{self.name}"

    @property
    def directory(self) -> Path:
        return STATE_ROOT / self.name

    @property
    def rootfs(self) -> Path:
        return self.directory / "rootfs"

    @property
    def address(self) -> str:
        return f"10.200.{self.index}.2"

    @property
    def gateway(self) -> str:
        return f"10.200.{self.index}.1"

    @property
    def lan_address(self) -> str:
        """On the sandbox LAN that all sandbox hosts share (like a VPC subnet)."""
        return f"10.201.0.{self.index}"

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = dataclasses.asdict(self)
        data.update(netns=self.netns, veth=self.veth, rootfs=str(self.rootfs))
        tmp = self.directory / "state.json.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.directory / "state.json")

    @classmethod
    def load(cls, name: str) -> HostState | None:
        try:
            data = json.loads((STATE_ROOT / name / "state.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return cls(
            name=data["name"],
            index=data["index"],
            inventory=data["inventory"],
            ssh_key=data.get("ssh_key", ""),
            proxy_port=data.get("proxy_port", 8888),
            nspawn=Process(**data["nspawn"]) if data.get("nspawn") else None,
            proxy=Process(**data["proxy"]) if data.get("proxy") else None,
            created_at=data.get("created_at", 0.0),
            release=data.get("release", "bookworm"),
        )


def host_name(index: int) -> str:
    return f"{NAME_PREFIX}{index}"


def known_names() -> list[str]:
    """Host directories wsready created (with or without a readable state file)."""
    if not STATE_ROOT.is_dir():
        return []
    names = [p.name for p in STATE_ROOT.iterdir() if p.is_dir() and index_of(p.name) is not None]
    return sorted(names, key=lambda n: index_of(n) or 0)


def index_of(name: str) -> int | None:
    """`wsr-7` -> 7; anything else -> None."""
    if not name.startswith(NAME_PREFIX):
        return None
    digits = name[len(NAME_PREFIX) :]
    return int(digits) if digits.isdigit() and not digits.startswith("0") else None
