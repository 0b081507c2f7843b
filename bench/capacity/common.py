"""What every part of a capacity run shares: paths, limits, callable types, the error."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENTS_JS = ROOT / "bench" / "ws_clients.js"
TEST_SERVER_JS = ROOT / "bench" / "ws_test_server.js"
APP_SERVER_JS = ROOT / "files" / "app" / "server.js"


ALLOWED_NETWORKS = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("10.200.0.0/16"),  # sandbox host veth addresses
)
MAX_CLIENTS = 28_000  # ephemeral ports 32768-60999 from one source address to one destination
MAX_CLIENTS_PER_PROCESS = 15_000  # each process: at most 20,000 open files
DEFAULT_CLIENTS_PER_PROCESS = 5_000
MAX_PROCESSES = 32
APP_PORT = 3000  # the first app worker's port on a sandbox host (app_port)
# app_restart "generations" (wsready/deploy/generations.py): the file naming the slot nginx
# serves, and how far slot b's ports are from slot a's (GENERATION_OFFSET).
GENERATION_FILE = "/etc/nginx/wsready-generation.conf"
SLOT_B_UPSTREAM = "wsready_app_b"
SLOT_B_OFFSET = 100
PROGRESS_EVERY_S = 2.0
EVENT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

Log = Callable[[str], None]
Trigger = Callable[[], object]
RssReader = Callable[[], Mapping[str, int]]


class CapacityError(RuntimeError):
    """The load run could not be carried out; the message says why."""


def stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


SshRunner = Callable[[str], "subprocess.CompletedProcess[str]"]
