"""`--prometheus FILE`: the check's results for node_exporter's textfile collector.

prometheus_client renders the text format (label values escaped) and `write_to_textfile`
writes it to a temporary file in the same directory and renames it over FILE, so the
collector never reads half a file.
"""

from __future__ import annotations

import math
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from wsready.exitstatus import ExitStatus
from wsready.fleet.history import tls_days_left
from wsready.fleet.sweep import CheckReport
from wsready.probes.sampled import worker_summary
from wsready.validate import ConfigError

# Gauges of what /api/health says about the host, set only when its answer carried them.
HOST_GAUGES = {
    "clients": "Clients connected to the host's app workers, as /api/health reports them.",
    "max_clients": "Clients the host is sized for (APP_MAX_CLIENTS).",
    "workers_up": "App workers answering on the host.",
    "workers_total": "App workers the host runs (APP_WORKERS).",
    "redis_up": "1 if the app reaches its Redis adapter, 0 if not (absent without Redis).",
}


def host_samples(figures: dict) -> dict[str, float]:
    """HOST_GAUGES values from a target's health figures; redis "off" gives no sample."""
    samples = {key: figures[key] for key in HOST_GAUGES if key in figures}
    if figures.get("redis") in ("ok", "down"):
        samples["redis_up"] = 1 if figures["redis"] == "ok" else 0
    return samples


def build_registry(report: CheckReport) -> CollectorRegistry:
    """The metrics of one check run."""
    registry = CollectorRegistry()
    success = Gauge(
        "wsready_probe_success",
        "1 if the probe passed, 0 if it failed (skipped probes are left out).",
        ["target", "probe"],
        registry=registry,
    )
    duration = Gauge(
        "wsready_probe_duration_seconds",
        "How long the probe took on the target's last attempt.",
        ["target", "probe"],
        registry=registry,
    )
    status = Gauge(
        "wsready_target_status",
        "Target status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        ["target"],
        registry=registry,
    )
    timestamp = Gauge(
        "wsready_check_timestamp_seconds",
        "Unix time the check run started.",
        registry=registry,
    )
    worker_ok = Gauge(
        "wsready_worker_ok",
        "1 if every official-client session the check opened on this app worker passed (and "
        "both ways in reached it), 0 if not.",
        ["target", "worker"],
        registry=registry,
    )
    host: dict[str, Gauge] = {}  # made on first use: no empty families for older apps
    tls: Gauge | None = None  # likewise: only when some target is checked over TLS
    for outcome in report.outcomes:
        try:
            samples = _target_samples(outcome)
        except Exception:  # noqa: BLE001 - one target's odd answer must not cost the others
            status.labels(target=outcome.label).set(int(ExitStatus.UNKNOWN))
            continue
        status.labels(target=outcome.label).set(int(outcome.status))
        days = samples["tls"]
        if days is not None:
            if tls is None:
                tls = Gauge(
                    "wsready_tls_days_left",
                    "Days until the target's TLS certificate expires (negative: expired).",
                    ["target"],
                    registry=registry,
                )
            tls.labels(target=outcome.label).set(days)
        for key, value in samples["host"].items():
            if key not in host:
                host[key] = Gauge(f"wsready_{key}", HOST_GAUGES[key], ["target"], registry=registry)
            host[key].labels(target=outcome.label).set(value)
        for worker, ok in samples["workers"]:
            worker_ok.labels(target=outcome.label, worker=worker).set(ok)
        for probe, ok, seconds in samples["probes"]:
            labels = {"target": outcome.label, "probe": probe}
            success.labels(**labels).set(ok)
            duration.labels(**labels).set(seconds)
    timestamp.set(report.started_at)
    return registry


def _finite(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _target_samples(outcome) -> dict:
    """One target's samples, all computed (and checked finite) before any is set."""
    days = tls_days_left(outcome)
    return {
        "tls": None if days is None else _finite(days),
        "host": {key: _finite(value) for key, value in host_samples(outcome.health).items()},
        "probes": [
            (str(result["probe"]), 1 if result["ok"] else 0, _finite(result["duration_s"]))
            for result in outcome.to_dict()["probes"]
            if not result["skipped"]
        ],
        "workers": [
            (str(row["worker"]), int(bool(row["ok"]))) for row in worker_summary(outcome.results)
        ],
    }


def check_path(path: str) -> str:
    """Refuse a FILE the textfile collector would ignore or that cannot be written."""
    file = Path(path)
    if file.suffix != ".prom":
        raise ConfigError(
            "--prometheus", path, "must end in .prom (the textfile collector reads only those)"
        )
    if not file.parent.is_dir():
        raise ConfigError("--prometheus", path, f"directory {file.parent} does not exist")
    if file.is_dir():
        raise ConfigError("--prometheus", path, "is a directory")
    return path


def write(report: CheckReport, path: str) -> None:
    """Write the metrics of `report` to `path` atomically."""
    write_to_textfile(path, build_registry(report))
