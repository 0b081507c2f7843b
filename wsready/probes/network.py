"""Layers below HTTP: name resolution, TCP connect, TLS certificate."""

from __future__ import annotations

import concurrent.futures
import datetime
import errno
import socket
import ssl
import time

from cryptography import x509

from wsready import validate
from wsready.probes.context import Clock, RunContext, finish
from wsready.probes.http import who_answered
from wsready.probes.model import Probe, ProbeResult, Target


def resolve(probe: Probe, ctx: RunContext) -> ProbeResult:
    """getaddrinfo with a deadline (the libc call itself has none).

    An IP literal needs no lookup: getaddrinfo answers it at once (AI_NUMERICHOST, no
    resolver), so it runs inline; a thread per name lookup cost ~1 ms per target.
    """
    clock = Clock()
    target = ctx.target
    name = target.dial_host
    pool = None
    try:
        if validate.is_ip_literal(name):
            flags = socket.AI_NUMERICHOST
            infos = socket.getaddrinfo(name, target.port, type=socket.SOCK_STREAM, flags=flags)
        else:
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            future = pool.submit(socket.getaddrinfo, name, target.port, type=socket.SOCK_STREAM)
            infos = future.result(timeout=probe.timeout_s)
    except concurrent.futures.TimeoutError:
        return finish(
            probe, clock, f"no answer in {probe.timeout_s:g} s", detail={"error": "timeout"}
        )
    except socket.gaierror as error:
        return finish(
            probe,
            clock,
            f"{name}: {error.strerror}",
            detail={"error": "unresolved", "gai_errno": error.errno},
        )
    finally:
        if pool is not None:
            pool.shutdown(wait=False)
    ctx.addresses = [info[4] for info in infos]
    addresses = sorted({address[0] for address in ctx.addresses})
    return finish(probe, clock, ", ".join(addresses), detail={"addresses": addresses})


def _connect_error(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, TimeoutError | socket.timeout):
        return "timeout"
    if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    if isinstance(error, ConnectionResetError):
        return "reset"
    return "error"


def connect(probe: Probe, ctx: RunContext) -> ProbeResult:
    """Open (and close) a TCP connection to the first address that answers."""
    clock = Clock()
    port = ctx.target.port
    last: tuple[str, str, str] = ("", "error", "no address")
    for sockaddr in ctx.addresses:
        address = sockaddr[0]
        try:
            with socket.create_connection((address, port), timeout=probe.timeout_s):
                return finish(
                    probe,
                    clock,
                    f"connected to {address}:{port} in {clock.elapsed * 1000:.0f} ms",
                    detail={"address": address, "connected": True},
                )
        except OSError as error:
            kind = _connect_error(error)
            text = {
                "refused": "connection refused",
                "timeout": f"no answer in {probe.timeout_s:g} s, packets dropped",
                "unreachable": "host unreachable",
            }.get(kind, error.strerror or type(error).__name__)
            last = (address, kind, f"{address}:{port} {text}")
    return finish(probe, clock, last[2], detail={"address": last[0], "error": last[1]})


# A request only the server itself answers (HTTP/1.1 without Host: 400 from nginx, never
# proxied to the app): who owns the port, whatever the app does.
BARE_REQUEST = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"


def _http_head(raw: bytes) -> tuple[int | None, dict[str, str]]:
    """(status, headers) of the start of an HTTP answer; (None, {}) when it is not HTTP."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1", errors="replace").split("\r\n")
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return None, {}
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return int(parts[1]), headers


def ask_bare(
    address: str,
    port: int,
    timeout_s: float,
    context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> bytes:
    """Send BARE_REQUEST (over TLS with `context`) and read up to 4 KiB of the answer."""
    deadline = time.monotonic() + timeout_s
    with socket.create_connection((address, port), timeout=timeout_s) as raw:
        sock = raw if context is None else context.wrap_socket(raw, server_hostname=server_hostname)
        sock.sendall(BARE_REQUEST)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 4096:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def server(probe: Probe, ctx: RunContext) -> ProbeResult:
    """Who answers the port: a request the server answers itself (no Host header). Passes
    whenever an HTTP answer comes back; its Server header and X-Wsready-Config (wsready's
    site) tell diagnose whose it is. Fails when the port accepts but nothing answers HTTP."""
    clock = Clock()
    target = ctx.target
    address = ctx.addresses[0][0] if ctx.addresses else target.dial_host
    context = None
    if target.secure:
        context = tls_context(target)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # trust is the tls probe's question, not this one's
    try:
        raw = ask_bare(address, target.port, probe.timeout_s, context, target.host)
    except TimeoutError:
        text = f"connection accepted, no HTTP answer in {probe.timeout_s:g} s"
        return finish(probe, clock, text, detail={"error": "timeout"})
    except (ssl.SSLError, OSError) as error:
        text = f"{type(error).__name__}: {error}"
        return finish(probe, clock, text, detail={"error": "network"})
    status, headers = _http_head(raw)
    if status is None:
        what = f"not HTTP: {raw[:40]!r}" if raw else "connection closed without an answer"
        kind = "not-http" if raw else "closed"
        return finish(probe, clock, what, detail={"error": kind})
    detail = {"status": status, **who_answered(headers)}
    fingerprint = detail["fingerprint"]
    name = detail["server"] or "no Server header"
    owner = f"X-Wsready-Config {fingerprint}" if fingerprint else "no X-Wsready-Config"
    detail["ours"] = bool(fingerprint)
    return finish(probe, clock, f"{status}, {name}, {owner}", detail=detail)


def tls_context(target: Target) -> ssl.SSLContext:
    """An SSL context honouring `target.tls_verify` (True / False / CA bundle path)."""
    if target.tls_verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(target.tls_verify, str):
        return ssl.create_default_context(cafile=target.tls_verify)
    return ssl.create_default_context()


def verify_kind(reason: str) -> str:
    """What a certificate verification failure was: expired, not-yet-valid, name, untrusted."""
    lowered = reason.lower()
    if "not yet valid" in lowered:
        return "not-yet-valid"
    if "expired" in lowered:
        return "expired"
    if "mismatch" in lowered or "not valid for" in lowered:
        return "name"
    return "untrusted"


def _plain_http(address: str, port: int, timeout_s: float) -> dict | None:
    """When the TLS handshake fails: does plain HTTP answer on that port? (status, server,
    fingerprint) or None."""
    try:
        raw = ask_bare(address, port, timeout_s)
    except (ssl.SSLError, OSError):
        return None
    status, headers = _http_head(raw)
    if status is None:
        return None
    return {"status": status, **who_answered(headers)}


def days_left(der: bytes, now: datetime.datetime | None = None) -> float:
    certificate = x509.load_der_x509_certificate(der)
    now = now or datetime.datetime.now(datetime.UTC)
    return (certificate.not_valid_after_utc - now).total_seconds() / 86400


def certificate(probe: Probe, ctx: RunContext) -> ProbeResult:
    """TLS handshake (SNI = the URL's host) and days until the certificate expires."""
    clock = Clock()
    target = ctx.target
    address = ctx.addresses[0][0] if ctx.addresses else target.dial_host
    try:
        with socket.create_connection((address, target.port), timeout=probe.timeout_s) as raw:
            context = tls_context(target)
            with context.wrap_socket(raw, server_hostname=target.host) as tls:
                der = tls.getpeercert(binary_form=True)
                version = tls.version()
                cipher = (tls.cipher() or ("",))[0]
    except ssl.SSLCertVerificationError as error:
        reason = error.verify_message or str(error)
        return finish(
            probe,
            clock,
            f"certificate not trusted: {reason}",
            detail={"error": "verify", "reason": reason, "verify": verify_kind(reason)},
        )
    except (ssl.SSLError, OSError) as error:
        detail = {"error": "handshake"}
        if isinstance(error, ssl.SSLError) and error.reason:
            # OpenSSL's reason: the server's alert (TLSV1_ALERT_PROTOCOL_VERSION,
            # SSLV3_ALERT_HANDSHAKE_FAILURE) or this side's own refusal (UNSUPPORTED_PROTOCOL):
            # diagnose tells a TLS profile mismatch from other failures by it.
            detail["alert"] = error.reason
        plain = _plain_http(address, target.port, probe.timeout_s)
        if plain is not None:
            detail.update(plain_http=True, **plain)
            text = f"TLS handshake failed: plain HTTP answers instead ({plain['status']}, " + (
                f"{plain['server'] or 'no Server header'})"
            )
            return finish(probe, clock, text, detail=detail)
        return finish(probe, clock, f"TLS handshake failed: {error}", detail=detail)
    left = days_left(der)
    # The handshake works: later layers still run even when the expiry is critical.
    detail = {
        "days_left": round(left, 1),
        "tls_version": version,
        "tls_cipher": cipher,
        "blocks_later": False,
    }
    return finish(probe, clock, f"{left:.1f}, {version} {cipher}", detail=detail)
