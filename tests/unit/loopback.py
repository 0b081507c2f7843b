"""Loopback servers for probe tests: a server running in a thread for the length of a block."""

from __future__ import annotations

import contextlib
import logging
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator

import socketio
from werkzeug.serving import make_server


@contextlib.contextmanager
def running(server: socketserver.BaseServer) -> Iterator[None]:
    """`server.serve_forever` in a daemon thread; shut down and closed after the block."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def socketio_server(
    sio: socketio.Server, rest: Callable, ssl_context: ssl.SSLContext | None = None
) -> Iterator[str]:
    """python-socketio at /ws and the WSGI app `rest` for every other path, on 127.0.0.1
    (over TLS with `ssl_context`); yields the base URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = socketio.WSGIApp(sio, rest, socketio_path="ws")
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=ssl_context)
    scheme = "https" if ssl_context else "http"
    with running(server):
        yield f"{scheme}://127.0.0.1:{server.server_port}"
