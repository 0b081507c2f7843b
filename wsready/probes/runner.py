"""Run a target's probe plan in layer order: skip what depends on a failure, redact."""

from __future__ import annotations

from collections.abc import Callable

from wsready.probes import auth, http, network, sampled, sanitize, websocket
from wsready.probes.context import Clock, RunContext, finish, skip
from wsready.probes.model import Probe, ProbeResult, Target, Thresholds
from wsready.probes.names import Kind
from wsready.probes.observed import Observed
from wsready.probes.plan import plan_probes
from wsready.validate import ConfigError

Runner = Callable[[Probe, RunContext], ProbeResult]

RUNNERS: dict[str, Runner] = {
    Kind.DNS: network.resolve,
    Kind.TCP: network.connect,
    Kind.TLS: network.certificate,
    Kind.SERVER: network.server,
    Kind.HTTP_HEALTH: http.health,
    Kind.WS_UPGRADE: websocket.upgrade,
    Kind.EIO_OPEN: websocket.engine_open,
    Kind.SIO_CONNECT: websocket.socketio_connect,
    Kind.EIO_HEARTBEAT: websocket.heartbeat,
    Kind.IDLE: websocket.idle,
    Kind.EIO_POLLING: http.polling,
    Kind.CORS: http.cors,
    Kind.REST_AUTH: http.rest_auth,
    Kind.AUTH_AGREEMENT: auth.agreement,
    Kind.SIO_SESSION: sampled.polling_session,
    Kind.SIO_SESSION_UPGRADE: sampled.session_upgrade,
    Kind.SIO_WEBSOCKET_ONLY: sampled.websocket_only,
    Kind.SIO_WORKERS: sampled.workers,
    Kind.SIO_BROADCAST: sampled.broadcast,
    Kind.FRONT_DOOR_HOSTS: sampled.front_door_hosts,
}  # Kind.HOSTS_BROADCAST runs apart, once per shared Redis (wsready/probes/hosts.py)


def _failed_need(probe: Probe, results: dict[str, ProbeResult]) -> str | None:
    for need in probe.needs:
        result = results.get(need)
        if result is not None and not result.ok and Observed.of(result).blocks_later:
            return f"{need} {'skipped' if result.skipped else 'failed'}"
    return None


def _redacted(target: Target, result: ProbeResult) -> ProbeResult:
    """Never let the token out, whatever a server echoed or an exception said."""
    if not target.token:
        return result
    result.actual = target.redact(result.actual)
    result.expected = target.redact(result.expected)
    result.detail = {key: _redact_value(target, value) for key, value in result.detail.items()}
    return result


def _sanitized(result: ProbeResult) -> ProbeResult:
    """What the target sent, made safe to show (control and bidi characters dropped,
    lengths capped: wsready/probes/sanitize.py), once, for every consumer."""
    result.actual = sanitize.text(result.actual)
    result.detail = sanitize.value(result.detail)
    return result


def _redact_value(target: Target, value):
    if isinstance(value, str):
        return target.redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(target, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(target, item) for item in value]
    return value


def run_probes(
    target: Target,
    timeout_s: float = 10.0,
    idle: bool = False,
    thresholds: Thresholds | None = None,
) -> list[ProbeResult]:
    """Run every probe for `target` in layer order. A probe whose `needs` failed is skipped
    with the reason; a probe that raises is reported as failed, never propagated."""
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or timeout_s <= 0:
        raise ConfigError("timeout_s", timeout_s, "must be a number of seconds greater than 0")
    ctx = RunContext(target=target, idle=idle)
    try:
        for probe in plan_probes(target, timeout_s, idle, thresholds):
            why = _failed_need(probe, ctx.results)
            result = skip(probe, why) if why else _run_one(probe, ctx)
            ctx.results[probe.name] = _sanitized(_redacted(target, result))
    finally:
        ctx.close()
    return list(ctx.results.values())


def _run_one(probe: Probe, ctx: RunContext) -> ProbeResult:
    clock = Clock()
    try:
        return RUNNERS[probe.kind](probe, ctx)
    except Exception as error:  # noqa: BLE001 - one broken probe must not hide the others
        # No value the conditions read: the probe fails whatever they expect.
        return finish(probe, clock, f"probe error: {type(error).__name__}: {error}")
