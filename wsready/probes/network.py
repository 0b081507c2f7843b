"""Layers below HTTP: name resolution, TCP connect, TLS certificate."""

from __future__ import annotations

import concurrent.futures
import datetime
import errno
import ipaddress
import socket
import ssl

from cryptography import x509

from wsready.probes.context import Clock, RunContext, finish
from wsready.probes.model import Probe, ProbeResult, Target


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve(probe: Probe, ctx: RunContext) -> ProbeResult:
    """getaddrinfo with a deadline (the libc call itself has none).

    An IP literal needs no lookup: getaddrinfo answers it at once (AI_NUMERICHOST, no
    resolver), so it runs inline; a thread per name lookup cost ~1 ms per target.
    """
    clock = Clock()
    target = ctx.target
    pool = None
    try:
        if _is_ip_literal(target.host):
            flags = socket.AI_NUMERICHOST
            infos = socket.getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM, flags=flags
            )
        else:
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            future = pool.submit(
                socket.getaddrinfo, target.host, target.port, type=socket.SOCK_STREAM
            )
            infos = future.result(timeout=probe.timeout_s)
    except concurrent.futures.TimeoutError:
        return finish(
            probe, clock, False, f"no answer in {probe.timeout_s:g} s", detail={"error": "timeout"}
        )
    except socket.gaierror as error:
        return finish(
            probe,
            clock,
            False,
            f"{target.host}: {error.strerror}",
            detail={"error": "unresolved", "gai_errno": error.errno},
        )
    finally:
        if pool is not None:
            pool.shutdown(wait=False)
    ctx.addresses = [info[4] for info in infos]
    addresses = sorted({address[0] for address in ctx.addresses})
    return finish(probe, clock, True, ", ".join(addresses), detail={"addresses": addresses})


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
                    True,
                    f"connected to {address}:{port} in {clock.elapsed * 1000:.0f} ms",
                    detail={"address": address},
                )
        except OSError as error:
            kind = _connect_error(error)
            text = {
                "refused": "connection refused",
                "timeout": f"no answer in {probe.timeout_s:g} s, packets dropped",
                "unreachable": "host unreachable",
            }.get(kind, error.strerror or type(error).__name__)
            last = (address, kind, f"{address}:{port} {text}")
    return finish(probe, clock, False, last[2], detail={"address": last[0], "error": last[1]})


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


def days_left(der: bytes, now: datetime.datetime | None = None) -> float:
    certificate = x509.load_der_x509_certificate(der)
    now = now or datetime.datetime.now(datetime.UTC)
    return (certificate.not_valid_after_utc - now).total_seconds() / 86400


def certificate(probe: Probe, ctx: RunContext) -> ProbeResult:
    """TLS handshake (SNI = the URL's host) and days until the certificate expires."""
    clock = Clock()
    target = ctx.target
    address = ctx.addresses[0][0] if ctx.addresses else target.host
    try:
        with socket.create_connection((address, target.port), timeout=probe.timeout_s) as raw:
            context = tls_context(target)
            with context.wrap_socket(raw, server_hostname=target.host) as tls:
                der = tls.getpeercert(binary_form=True)
                version = tls.version()
    except ssl.SSLCertVerificationError as error:
        return finish(
            probe,
            clock,
            False,
            f"certificate not trusted: {error.verify_message}",
            detail={"error": "verify", "reason": error.verify_message},
        )
    except (ssl.SSLError, OSError) as error:
        return finish(
            probe, clock, False, f"TLS handshake failed: {error}", detail={"error": "handshake"}
        )
    left = days_left(der)
    limits = ctx.thresholds
    detail = {"days_left": round(left, 1), "tls_version": version}
    text = f"{left:.1f}"
    if left < limits.tls_crit_days:
        # The handshake works: later layers still run; only the expiry is critical.
        return finish(probe, clock, False, text, detail={**detail, "blocks_later": False})
    warn = left < limits.tls_warn_days
    return finish(probe, clock, True, text, detail=detail, warning=warn)
