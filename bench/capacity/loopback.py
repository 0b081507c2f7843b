"""A Socket.IO server on loopback (the bench test server, or the app itself) for runs without a
sandbox host.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from bench.capacity.common import APP_SERVER_JS, TEST_SERVER_JS, CapacityError
from bench.capacity.generators import node_binary
from wsready.processes import stop_processes


@dataclass(frozen=True)
class LoopbackServer:
    url: str
    broadcast_url: str
    pid: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def loopback_server(
    kind: str = "test-server", extra_args: Sequence[str] = (), ready_timeout_s: float = 15.0
) -> Iterator[LoopbackServer]:
    """A Socket.IO server on 127.0.0.1 for the length of the block, stopped after.

    kind "test-server": bench/ws_test_server.js (extra_args: --refuse-every N, --drop-every N,
    --ping-interval-ms MS ...); kind "app": files/app/server.js (needs its /api/broadcast).
    """
    node = node_binary()
    if kind == "test-server":
        argv = [node, str(TEST_SERVER_JS), "--port", "0", *extra_args]
        env = dict(os.environ)
    elif kind == "app":
        argv = [node, str(APP_SERVER_JS), *extra_args]
        env = {**os.environ, "APP_PORT": str(free_port()), "APP_BIND": "127.0.0.1"}
        env.setdefault("APP_LOG_CONNECTIONS", "0")
    else:
        raise CapacityError(f"unknown loopback server {kind!r}")
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
            env=env,
        )  # fmt: skip
        try:
            port = _wait_listening(kind, env, output, process, time.monotonic() + ready_timeout_s)
            url = f"http://127.0.0.1:{port}"
            yield LoopbackServer(url, f"{url}/api/broadcast", process.pid)
        finally:
            stop_processes(process)


def _wait_listening(
    kind: str, env: Mapping[str, str], output: IO[str], process: subprocess.Popen[str], until: float
) -> int:
    while time.monotonic() < until:
        if process.poll() is not None:
            output.seek(0)
            raise CapacityError(f"{kind} exited ({process.returncode}): {output.read()[-1000:]}")
        if kind == "test-server":
            output.seek(0)
            first = output.readline()
            if first.endswith("\n"):
                return int(json.loads(first)["port"])
        else:
            port = int(env["APP_PORT"])
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return port
        time.sleep(0.05)  # polling a child's first output line; bounded by `until`
    raise CapacityError(f"{kind} not listening within its start-up deadline")
