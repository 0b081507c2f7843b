"""The pure figures of a capacity run: targets allowed, percentiles, how clients are spread
over generator processes, the summary row and the ratio row.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from bench.capacity.common import ALLOWED_NETWORKS, DEFAULT_CLIENTS_PER_PROCESS, CapacityError


def check_target(url: str) -> tuple[str, int]:
    """(address, port) of an http(s)/ws(s) URL whose host is loopback or in 10.200.0.0/16."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        raise CapacityError(f"{url}: scheme must be http, https, ws or wss")
    host = parts.hostname
    if host is None:
        raise CapacityError(f"{url}: no host")
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        raise CapacityError(
            f"{url}: the target must be an IP address (loopback or 10.200.0.0/16), not a name"
        ) from None
    if not any(address in network for network in ALLOWED_NETWORKS):
        raise CapacityError(
            f"{url}: refused: load goes only to loopback or sandbox hosts (10.200.0.0/16)"
        )
    try:
        port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    except ValueError:
        raise CapacityError(f"{url}: bad port") from None
    return str(address), port


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def split_clients(clients: int, processes: int) -> list[int]:
    """Shares of `clients` over `processes`, differing by at most one, none empty."""
    processes = min(processes, clients)
    base, extra = divmod(clients, processes)
    return [base + (1 if i < extra else 0) for i in range(processes)]


def default_processes(clients: int) -> int:
    return max(1, math.ceil(clients / DEFAULT_CLIENTS_PER_PROCESS))


def heap_mb(clients: int) -> int:
    """--max-old-space-size for a generator holding `clients` (~100 kB each, 256 MB floor)."""
    return max(256, 128 + clients // 10)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _merge_counts(maps: Sequence[Mapping[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for counts in maps:
        for kind, n in counts.items():
            merged[kind] = merged.get(kind, 0) + n
    return dict(sorted(merged.items(), key=lambda item: -item[1]))


def summarize(
    *,
    config: str,
    clients: int,
    processes: int,
    ramp_per_s: float,
    transports: Sequence[str],
    results: Sequence[Mapping[str, Any]],
    connected: int,
    trigger_epoch_ms: float | None,
    rss_before: Mapping[str, int] | None = None,
    rss_holding: Mapping[str, int] | None = None,
    health: Mapping[str, Any] | None = None,
    idle: Mapping[str, Any] | None = None,
    hold_s: float = 0.0,
    duration_s: float | None = None,
) -> dict[str, Any]:
    """The JSON row of one run from the generators' final results and the server samples."""
    latencies = [ms for r in results for ms in r["connect_ms"]]
    arrivals = [ms for r in results for ms in r["received_at_ms"]]
    payload_ts = {r["payload_t"] for r in results if r.get("payload_t") not in (None, -1)}
    # The payload's t is stamped on the server host just before the broadcast (same clock for
    # sandbox hosts); without it, the moment this process called the trigger.
    reference = min(payload_ts) if payload_ts else trigger_epoch_ms
    last_ms = max(arrivals) - reference if arrivals and reference is not None else None
    ramp_seconds = [r["ramp_seconds"] for r in results if r.get("ramp_seconds")]
    opened = sum(r["opened"] for r in results)
    row: dict[str, Any] = {
        "config": config,
        "clients": clients,
        "connected": connected,
        "errors": sum(r["errors"] for r in results),
        "connect_p50_ms": _round(percentile(latencies, 50)),
        "connect_p99_ms": _round(percentile(latencies, 99)),
        "broadcast_received": len(arrivals) if trigger_epoch_ms is not None else None,
        "broadcast_last_ms": _round(last_ms),
        "server_rss_bytes_per_client": None,
        "ramp_per_s": ramp_per_s,
        "ramp_achieved_per_s": _round(opened / max(ramp_seconds)) if ramp_seconds else None,
        "processes": processes,
        "transports": list(transports),
        "hold_s": hold_s,
        "connect_max_ms": _round(max(latencies) if latencies else None),
        "errors_by_kind": _merge_counts([r.get("error_kinds", {}) for r in results]),
        "generator_rss_bytes_max": max((r.get("memory_rss_bytes", 0) for r in results), default=0),
    }
    # The generators' own event-loop lateness and CPU: a connect time includes those stalls.
    delays = [r["loop_delay_p99_ms"] for r in results if r.get("loop_delay_p99_ms") is not None]
    if delays:
        row["generator_loop_delay_p99_ms_max"] = max(delays)
        row["generator_loop_delay_max_ms"] = max(r.get("loop_delay_max_ms", 0) for r in results)
    if any(r.get("cpu_s") is not None for r in results):
        row["generator_cpu_s"] = round(sum(r.get("cpu_s") or 0 for r in results), 1)
    if rss_before is not None and rss_holding is not None and connected > 0:
        row["server_rss_bytes_per_client"] = round(
            (sum(rss_holding.values()) - sum(rss_before.values())) / connected
        )
        row["server_rss_bytes"] = {
            name: {"before": rss_before.get(name, 0), "holding": rss_holding.get(name, 0)}
            for name in sorted({*rss_before, *rss_holding})
        }
    if idle is not None:
        row.update(idle)
    if health is not None:
        keys = ("clients", "connections", "workers", "error")
        row["health"] = {k: health[k] for k in keys if k in health}
    if duration_s is not None:
        row["duration_s"] = round(duration_s, 1)
    return row


def ratio_row(base: Mapping[str, Any], tuned: Mapping[str, Any]) -> dict[str, Any]:
    """tuned / base for each numeric figure of two rows (None where undefined)."""
    keys = (
        "connected",
        "errors",
        "connect_p50_ms",
        "connect_p99_ms",
        "broadcast_received",
        "broadcast_last_ms",
        "server_rss_bytes_per_client",
    )
    ratios: dict[str, Any] = {"ratio": f"{tuned['config']}/{base['config']}"}
    for key in keys:
        a, b = base.get(key), tuned.get(key)
        ratios[key] = (
            round(b / a, 2) if isinstance(a, int | float) and a and b is not None else None
        )
    return ratios
