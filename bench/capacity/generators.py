"""The load generator processes (bench/ws_clients.js): started, fed commands, read line by
line; and the ephemeral ports they hold.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from bench.capacity.common import MAX_CLIENTS, ROOT, CapacityError, Log


@dataclass
class Generator:
    index: int
    clients: int
    process: subprocess.Popen[str]
    stderr: IO[str]
    latest: dict[str, Any] = field(default_factory=dict)
    settled: bool = False
    snapshot: dict[str, Any] | None = None
    broadcast_done: bool = False
    result: dict[str, Any] | None = None
    exited: bool = False

    def send(self, command: str) -> None:
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return "\n".join(self.stderr.read().splitlines()[-15:])


class GeneratorFleet:
    """The generator processes and one queue of the JSON lines they print."""

    def __init__(self, log: Log) -> None:
        self.generators: list[Generator] = []
        self.lines: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        self.log = log

    def start(self, argv: list[str], clients: int) -> None:
        index = len(self.generators)
        stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by stop())
        process = subprocess.Popen(
            [*argv, "--id", str(index)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=ROOT,
        )
        self.generators.append(Generator(index, clients, process, stderr))
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(index, process.stdout), daemon=True).start()

    def _read(self, index: int, stream: IO[str]) -> None:
        for line in stream:
            try:
                record = json.loads(line)
            except ValueError:
                record = {"type": "noise", "line": line.rstrip()[:200]}
            self.lines.put((index, record))
        self.lines.put((index, {"type": "eof"}))

    def pump(self, done: Callable[[], bool], deadline: float, tick: Callable[[], None]) -> bool:
        """Handle lines until done() or the deadline (False); tick() at least every 0.5 s."""
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                index, record = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                tick()
                continue
            self._handle(self.generators[index], record)
            tick()
        return True

    def _handle(self, gen: Generator, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind in ("progress", "settled", "snapshot", "broadcast_done", "result"):
            gen.latest = record
        if kind == "settled":
            gen.settled = True
        elif kind == "snapshot":
            gen.snapshot = record
        elif kind == "broadcast_done":
            gen.broadcast_done = True
        elif kind == "result":
            gen.result = record
        elif kind in ("log", "noise"):
            self.log(f"generator {gen.index}: {record.get('message') or record.get('line')}")
        elif kind == "fatal":
            raise CapacityError(f"generator {gen.index}: {record.get('message')}")
        elif kind == "eof":
            gen.exited = True
            if gen.result is None:
                code = gen.process.wait(timeout=5)
                raise CapacityError(
                    f"generator {gen.index} exited ({code}) without a result:\n{gen.stderr_tail()}"
                )

    def total(self, key: str) -> int:
        return sum(int(g.latest.get(key, 0)) for g in self.generators)

    def send_all(self, command: str) -> None:
        for gen in self.generators:
            gen.send(command)

    def stop(self) -> None:
        """Ask every generator to release; kill the ones still running after a grace period."""
        self.send_all("release")
        for gen in self.generators:
            with contextlib.suppress(OSError, ValueError):
                assert gen.process.stdin is not None
                gen.process.stdin.close()
        deadline = time.monotonic() + 10
        for gen in self.generators:
            try:
                gen.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                gen.process.kill()
                gen.process.wait(timeout=5)
            gen.stderr.close()


def ports_in_use(address: str, port: int) -> int | None:
    """Local TCP sockets towards address:port in any state (TIME-WAIT too); None without ss."""
    host = f"[{address}]" if ":" in address else address
    try:
        result = subprocess.run(
            ["ss", "-Htan", "dst", f"{host}:{port}"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return len(result.stdout.splitlines()) if result.returncode == 0 else None


def wait_for_ports(address: str, port: int, clients: int, timeout_s: float, log: Log) -> None:
    """Wait (bounded) until `clients` ephemeral ports towards address:port are free, e.g.
    while the previous run's sockets leave TIME-WAIT; logs and goes on when they do not."""
    deadline = time.monotonic() + timeout_s
    while True:
        used = ports_in_use(address, port)
        if used is None or used + clients <= MAX_CLIENTS:
            return
        if time.monotonic() >= deadline:
            log(f"{used} sockets to {address}:{port} still in use: expect address errors")
            return
        time.sleep(1)  # TIME-WAIT expiry has no event to wait on; bounded by the deadline


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise CapacityError("node is not on PATH (the load generator is bench/ws_clients.js)")
    return node
