"""A real ACME server for the e2e tests: Debian's `pebble` (Let's Encrypt's test CA) with
`pebble-challtestsrv` as its DNS, run once per session on this machine.

- Its directory listens on this machine's side of every sandbox veth (10.200.X.1): its
  HTTPS certificate is signed by a private CA of the run and names those addresses.
- Its validation (HTTP-01) resolves names through challtestsrv, which answers only the
  names a test maps to a sandbox address; nothing else is ever resolved or fetched.
- Its management API (loopback) gives the root that signs the certificates it issues:
  tests verify served certificates against that, as clients trust Let's Encrypt's root.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.pki import PrivateCA
from tests.waiting import wait_for
from wsready.processes import stop_processes
from wsready.sandbox.net import MAX_INDEX

START_TIMEOUT_S = 30
CERTIFICATE_DAYS = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class AcmeServer:
    directory: Path
    port: int
    management_port: int
    dns_management_port: int
    https_ca: Path  # signs pebble's own HTTPS certificate: the hosts' acme_ca_file
    processes: list[subprocess.Popen]

    def directory_url(self, gateway: str) -> str:
        """The directory as a sandbox host whose gateway is `gateway` reaches it."""
        return f"https://{gateway}:{self.port}/dir"

    def _management(self, path: str) -> bytes:
        context = ssl.create_default_context(cafile=str(self.https_ca))
        url = f"https://127.0.0.1:{self.management_port}{path}"
        with urllib.request.urlopen(url, context=context, timeout=10) as answer:
            return answer.read()

    def issuing_root(self, path: Path) -> Path:
        """The root of the certificates pebble issues (new at every start), written to `path`."""
        path.write_bytes(self._management("/roots/0"))
        return path

    def map_name(self, name: str, address: str) -> None:
        """challtestsrv answers A queries for `name` with `address`."""
        body = json.dumps({"host": name.rstrip(".") + ".", "addresses": [address]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.dns_management_port}/add-a", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def stop(self) -> None:
        stop_processes(*self.processes)


def _wait_ready(server: AcmeServer, logs: list[Path]) -> None:
    def answering() -> bool:
        exited = [process.args[0] for process in server.processes if process.poll() is not None]
        if exited:
            raise RuntimeError(f"{', '.join(exited)} exited")
        server._management("/roots/0")
        return True

    try:
        wait_for(answering, START_TIMEOUT_S, "pebble's management API", interval_s=0.1)
    except (AssertionError, RuntimeError) as error:
        output = "\n".join(log.read_text(errors="replace")[-2000:] for log in logs)
        server.stop()
        raise RuntimeError(f"pebble did not start: {error}\n{output}") from None


def start(directory: Path) -> AcmeServer:
    """pebble and challtestsrv, listening for the sandbox hosts; stop() ends both."""
    directory.mkdir(parents=True, exist_ok=True)
    https_ca = PrivateCA.create(directory / "pki", "wsready test ACME server CA")
    gateways = [f"10.200.{index}.1" for index in range(1, MAX_INDEX + 1)]
    pair = https_ca.issue(["127.0.0.1", *gateways], "pebble")
    port, management, dns, dns_management = (free_port() for _ in range(4))
    config = directory / "pebble-config.json"
    config.write_text(
        json.dumps(
            {
                "pebble": {
                    # Every sandbox reaches this machine at its own 10.200.X.1.
                    "listenAddress": f"0.0.0.0:{port}",
                    "managementListenAddress": f"127.0.0.1:{management}",
                    "certificate": str(pair.cert),
                    "privateKey": str(pair.key),
                    "httpPort": 80,
                    "tlsPort": 443,
                    "ocspResponderURL": "",  # none: as Let's Encrypt since 2025
                    # Let's Encrypt's 90 days (pebble's default is five years, more than
                    # Mozilla's profiles allow: 366 days, modern 90).
                    "certificateValidityPeriod": CERTIFICATE_DAYS * 86400,
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    env = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",  # validate at once
        "PEBBLE_WFE_NONCEREJECT": "0",  # no random badNonce answers
        "PEBBLE_AUTHZREUSE": "0",  # every order proves its names again
    }
    dns_log, pebble_log = directory / "challtestsrv.log", directory / "pebble.log"
    with dns_log.open("w") as dns_out, pebble_log.open("w") as pebble_out:
        challtestsrv = subprocess.Popen(
            [
                "pebble-challtestsrv",
                "-dns01",
                f"127.0.0.1:{dns}",
                "-management",
                f"127.0.0.1:{dns_management}",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv4",
                "",
                "-defaultIPv6",
                "",
            ],  # fmt: skip
            stdout=dns_out,
            stderr=subprocess.STDOUT,
        )
        pebble = subprocess.Popen(
            ["pebble", "-config", str(config), "-dnsserver", f"127.0.0.1:{dns}"],
            stdout=pebble_out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = AcmeServer(
        directory, port, management, dns_management, https_ca.cert, [pebble, challtestsrv]
    )
    _wait_ready(server, [pebble_log, dns_log])
    return server
