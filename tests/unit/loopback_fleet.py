"""A small fleet on loopback for the status page and Prometheus kit tests, checked by the
real `wsready check` (in-process, as the monitor's timer runs it):

- `web-ok`: the bundled Node app (real Socket.IO, health with clients/max_clients/workers);
- `web-502`: a proxy whose app is down (502 on everything: the app layer and its fix);
- `tls-1`: a self-signed TLS listener that drops the WebSocket upgrade (TLS days left,
  the websocket layer).

`run_checks` runs the check `runs` times with --state, --html and --prometheus, so the page
has history and the textfile every metric the check writes.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.unit.test_probes_loopback import (
    NodeApp,
    _certificate,
    gateway_error,
    proxy_without_upgrade,
    serve,
)
from wsready.cli import main


@dataclass
class LoopbackRun:
    inventory: Path
    state: Path
    html: Path
    prom: Path
    exit_codes: list[int]
    output: str


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@contextlib.contextmanager
def loopback_fleet(directory: Path) -> Iterator[Path]:
    """The three targets running; yields an inventory file naming them."""
    app = NodeApp(APP_MAX_CLIENTS="100", APP_AUTH="off")
    try:
        bad = serve(gateway_error)
        tls = serve(proxy_without_upgrade, context=_certificate(80))
        bad_url, tls_url = next(bad), next(tls)
        hosts = [
            ("web-ok", {"ssh_hostname": "127.0.0.1", "nginx_listen_port": app.port}),
            ("web-502", {"ssh_hostname": "127.0.0.1", "nginx_listen_port": _port(bad_url)}),
            (
                "tls-1",
                {"ssh_hostname": "127.0.0.1", "nginx_tls": True, "nginx_tls_port": _port(tls_url)},
            ),
        ]
        inventory = directory / "fleet.py"
        inventory.write_text(f"web = {hosts!r}\n")
        yield inventory
        for server in (bad, tls):
            next(server, None)  # shuts the server down
    finally:
        app.stop()


def run_checks(inventory: Path, directory: Path, runs: int = 3) -> LoopbackRun:
    """`wsready check` over `inventory` `runs` times, writing state, page and textfile."""
    state, html, prom = directory / "state.json", directory / "status.html", directory / "w.prom"
    codes, out = [], io.StringIO()
    for _ in range(runs):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            codes.append(
                main(
                    [
                        "check",
                        "--inventory",
                        str(inventory),
                        "--retries",
                        "0",
                        "--timeout",
                        "3",
                        "--state",
                        str(state),
                        "--html",
                        str(html),
                        "--prometheus",
                        str(prom),
                    ]  # fmt: skip
                )
            )
    return LoopbackRun(inventory, state, html, prom, codes, out.getvalue())
