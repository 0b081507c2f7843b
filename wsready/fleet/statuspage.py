"""`wsready check --html FILE`: the fleet's status as one self-contained static page.

No external asset, no script: inline CSS (allowed by its sha256 in the page's own
Content-Security-Policy, which nginx also sends), inline SVG sparklines drawn with
presentation attributes (no `style=`), `<details>` for the layer tables and
`<meta http-equiv="refresh">` for the refresh. It works from a file, offline and under
`default-src 'none'`. Every value that comes from a target, a probe or the state file is
HTML-escaped. The file is rewritten atomically (temporary file in the same directory,
mode 0644 so nginx can read it, then renamed over FILE).
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from wsready.exitstatus import ExitStatus
from wsready.fleet.history import broken_layer, entry, tls_days_left
from wsready.fleet.sweep import CheckReport, TargetOutcome
from wsready.probes import render as probe_render
from wsready.probes.sampled import worker_summary
from wsready.validate import ConfigError

DEFAULT_REFRESH_S = 60
SPARK_W, SPARK_H, SPARK_PAD = 160, 28, 3
COLORS = {"OK": "#1a7f37", "WARNING": "#b35900", "CRITICAL": "#cf222e", "UNKNOWN": "#6e7781"}
# Worst first, the order of the overview.
ORDER = {"CRITICAL": 0, "WARNING": 1, "UNKNOWN": 2, "OK": 3}

CSS = """
:root{color-scheme:light dark;--fg:#1f2328;--bg:#fff;--muted:#656d76;--line:#d0d7de;
--card:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#8d96a0;
--line:#30363d;--card:#161b22}}
*{box-sizing:border-box}
body{margin:0;padding:1rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg);max-width:70rem;margin-inline:auto}
h1{font-size:1.3rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin:0;overflow-wrap:anywhere}
.meta,.url,.muted{color:var(--muted);font-size:.9rem}.url{overflow-wrap:anywhere;margin:.1rem 0}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;color:#fff;font-weight:600;
font-size:.8rem;letter-spacing:.02em;vertical-align:.1em}
.s-OK{background:#1a7f37}.s-WARNING{background:#b35900}.s-CRITICAL{background:#cf222e}
.s-UNKNOWN{background:#6e7781}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);
vertical-align:top}
th{font-size:.8rem;color:var(--muted);font-weight:600}
.overview td:first-child{overflow-wrap:anywhere}
.overview a{color:inherit}
.target{background:var(--card);border:1px solid var(--line);border-left-width:6px;
border-radius:6px;padding:.8rem;margin:1rem 0}
.b-OK{border-left-color:#1a7f37}.b-WARNING{border-left-color:#b35900}
.b-CRITICAL{border-left-color:#cf222e}.b-UNKNOWN{border-left-color:#6e7781}
.facts{display:flex;flex-wrap:wrap;gap:.3rem 1.5rem;margin:.5rem 0}
.facts div{min-width:7rem}.facts dt{font-size:.75rem;color:var(--muted)}.facts dd{margin:0}
.diagnosis{border:1px solid var(--line);border-radius:6px;padding:.5rem .7rem;
margin:.6rem 0;background:var(--bg)}
.diagnosis p{margin:.2rem 0}.fix{font-weight:600}
.diagnosis ul{margin:.2rem 0;padding-left:1.2rem;font-size:.9rem}
code,.layers td{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
font-size:.82rem}
.layers td:last-child{overflow-wrap:anywhere}
.st-FAIL{color:#cf222e;font-weight:700}.st-WARN{color:#b35900;font-weight:700}
.st-skipped{color:var(--muted)}
summary{cursor:pointer;color:var(--muted);margin-top:.4rem}
svg{display:block;max-width:100%}
@media (max-width:40rem){body{padding:.6rem}.overview .wide{display:none}
.layers th:first-child,.layers td:first-child{display:none}}
""".strip()

STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
# The policy the page carries and works under; nginx (tasks/monitor.py) sends it as a header,
# with frame-ancestors (which browsers ignore in a <meta> policy).
CSP = (
    f"default-src 'none'; style-src '{STYLE_HASH}'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)
HEADER_CSP = CSP + "; frame-ancestors 'none'"


def _time(iso: str | None) -> str:
    """A <time> element for an ISO timestamp (shown as UTC, to the second)."""
    if not iso:
        return '<span class="muted">unknown</span>'
    try:
        moment = datetime.fromisoformat(iso).astimezone(UTC)
    except (TypeError, ValueError):
        return escape(str(iso))
    shown = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f'<time datetime="{escape(moment.isoformat())}">{escape(shown)}</time>'


def _ago(iso: str | None, now: float) -> str:
    try:
        seconds = now - datetime.fromisoformat(str(iso)).timestamp()
    except (TypeError, ValueError):
        return ""
    if seconds < 1:
        return " (this run)"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f" ({seconds / size:.0f} {unit} before this run)"
    return f" ({seconds:.0f} s before this run)"


def _badge(status: str) -> str:
    status = status if status in COLORS else "UNKNOWN"
    return f'<span class="badge s-{status}">{escape(status)}</span>'


def sparkline(history: Sequence[Mapping[str, Any]]) -> str:
    """Latency of the last runs as an inline SVG: a line through the runs that had a latency,
    a dot coloured by status on every run that was not OK (at the bottom when no latency)."""
    runs = list(history)
    if not runs:
        return ""
    latencies = [r.get("latency_s") for r in runs if isinstance(r.get("latency_s"), int | float)]
    top = max(latencies, default=0.0) or 1.0
    step = (SPARK_W - 2 * SPARK_PAD) / max(len(runs) - 1, 1)
    low = SPARK_H - SPARK_PAD

    def y(value: float) -> float:
        return low - (SPARK_H - 2 * SPARK_PAD) * value / top

    points, dots = [], []
    for index, run in enumerate(runs):
        x = SPARK_PAD + index * step
        latency = run.get("latency_s")
        has_latency = isinstance(latency, int | float)
        if has_latency:
            points.append(f"{x:.1f},{y(latency):.1f}")
        status = run.get("status") if run.get("status") in COLORS else "UNKNOWN"
        if status != "OK":
            cy = y(latency) if has_latency else low
            dots.append(f'<circle cx="{x:.1f}" cy="{cy:.1f}" r="2.5" fill="{COLORS[status]}"/>')
    if latencies:
        summary = (
            f"latency of the last {len(runs)} runs: {min(latencies) * 1000:.0f} to "
            f"{max(latencies) * 1000:.0f} ms, latest "
            + (
                f"{runs[-1]['latency_s'] * 1000:.0f} ms"
                if isinstance(runs[-1].get("latency_s"), int | float)
                else "none"
            )
        )
    else:
        summary = f"no latency in the last {len(runs)} runs"
    failed = sum(1 for run in runs if run.get("status") != "OK")
    if failed:
        summary += f"; {failed} not OK"
    line = ""
    if len(points) > 1:
        line = (
            f'<polyline points="{" ".join(points)}" fill="none" stroke="#0969da" '
            'stroke-width="1.5" stroke-linejoin="round"/>'
        )
    elif points:
        x, y1 = points[0].split(",")
        line = f'<circle cx="{x}" cy="{y1}" r="2" fill="#0969da"/>'
    return (
        f'<svg class="spark" width="{SPARK_W}" height="{SPARK_H}" '
        f'viewBox="0 0 {SPARK_W} {SPARK_H}" role="img" aria-label="{escape(summary)}">'
        f"<title>{escape(summary)}</title>"
        f'<line x1="0" y1="{low}" x2="{SPARK_W}" y2="{low}" stroke="#8c959f" '
        f'stroke-width="0.5"/>{line}{"".join(dots)}</svg>'
    )


def layer_table(outcome: TargetOutcome) -> str:
    """The probes by layer, the table `wsready diagnose` prints (wsready/probes/render.py)."""
    probes = outcome.to_dict()["probes"]
    if not probes:
        return ""
    cells = "".join(
        f"<tr><td>{escape(layer)}</td><td>{escape(probe)}</td>"
        f'<td class="st-{escape(state)}">{escape(state)}</td>'
        f"<td>{escape(condition)}</td></tr>"
        for layer, probe, state, condition in probe_render.rows(probes)
    )
    return (
        '<table class="layers"><thead><tr><th>Layer</th><th>Probe</th><th>State</th>'
        f"<th>Result</th></tr></thead><tbody>{cells}</tbody></table>"
    )


def _figures(outcome: TargetOutcome, record: Mapping[str, Any], now: float) -> str:
    facts = []
    latency = "-" if outcome.latency_s is None else f"{outcome.latency_s * 1000:.0f} ms"
    facts.append(("Latency", escape(latency)))
    changed = record.get("changed_at")
    facts.append(("Last change", _time(changed) + escape(_ago(changed, now))))
    facts.append(("Attempts", escape(str(outcome.attempts))))
    health = outcome.health
    if "clients" in health:
        limit = f" / {health['max_clients']}" if "max_clients" in health else ""
        facts.append(("Clients", escape(f"{health['clients']}{limit}")))
    if "workers_up" in health and "workers_total" in health:
        facts.append(("Workers", escape(f"{health['workers_up']} / {health['workers_total']}")))
    if health.get("redis") in ("ok", "down"):
        facts.append(("Redis", escape(str(health["redis"]))))
    workers = worker_summary(outcome.results)
    if workers:
        passed = sum(1 for row in workers if row["ok"])
        failing = ", ".join(str(row["worker"]) for row in workers if not row["ok"])
        text = f"{passed} / {len(workers)} pass the client's sessions"
        facts.append(
            ("Client sessions", escape(text + (f" (failing: {failing})" if failing else "")))
        )
    days = tls_days_left(outcome)
    if days is not None:
        facts.append(("TLS certificate", escape(f"{days:.0f} days left")))
    return (
        '<dl class="facts">'
        + "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in facts)
        + "</dl>"
    )


def _diagnosis(outcome: TargetOutcome) -> str:
    if outcome.status == ExitStatus.OK:
        return ""
    parts = []
    if outcome.error:
        parts.append(
            '<p class="layer">Broken layer: <strong>check</strong> — the check could not run '
            f"here</p><p><code>{escape(outcome.error)}</code></p>"
        )
    diagnosis = outcome.diagnosis
    if diagnosis is not None and diagnosis.status != ExitStatus.OK:
        parts.append(
            f'<p class="layer">Broken layer: <strong>{escape(diagnosis.layer)}</strong> — '
            f"{escape(diagnosis.title)}</p>"
        )
        if diagnosis.evidence:
            parts.append(
                "<ul>"
                + "".join(f"<li>{escape(item)}</li>" for item in diagnosis.evidence)
                + "</ul>"
            )
        parts.append(f'<p class="fix">Fix: {escape(diagnosis.fix)}</p>')
    if outcome.latency_note:
        parts.append(f"<p>{escape(outcome.latency_note)}</p>")
    return f'<div class="diagnosis">{"".join(parts)}</div>' if parts else ""


def _anchor(index: int) -> str:
    return f"target-{index}"


def render(
    report: CheckReport,
    state: Mapping[str, Mapping[str, Any]] | None = None,
    refresh_s: int = DEFAULT_REFRESH_S,
) -> str:
    """The page for one run; `state`: the state file's targets (history, changed_at)."""
    state = state or {}
    checked_at = datetime.fromtimestamp(report.started_at, UTC).isoformat()
    now = report.started_at
    overall = report.status.name
    indexed = sorted(
        enumerate(report.outcomes), key=lambda pair: (ORDER.get(pair[1].status.name, 9), pair[0])
    )
    counts: dict[str, int] = {}
    for outcome in report.outcomes:
        counts[outcome.status.name] = counts.get(outcome.status.name, 0) + 1
    tally = ", ".join(f"{counts[name]} {name}" for name in ORDER if name in counts)

    rows, cards = [], []
    for index, outcome in indexed:
        record = dict(state.get(outcome.label) or {})
        history = [item for item in record.get("history", []) if isinstance(item, dict)]
        if not history or history[-1].get("at") != checked_at:
            history.append(entry(outcome, checked_at))  # without --state: this run only
        if "changed_at" not in record:
            record["changed_at"] = checked_at if len(history) == 1 else None
        name = outcome.status.name
        layer = broken_layer(outcome) or ""
        spark = sparkline(history)
        latency = "-" if outcome.latency_s is None else f"{outcome.latency_s * 1000:.0f} ms"
        rows.append(
            f'<tr data-target="{escape(outcome.label)}" data-status="{escape(name)}">'
            f'<td><a href="#{_anchor(index)}">{escape(outcome.label)}</a></td>'
            f"<td>{_badge(name)}</td><td>{escape(layer)}</td>"
            f'<td class="wide">{escape(latency)}</td>'
            f'<td class="wide">{_time(record.get("changed_at"))}</td></tr>'
        )
        open_attr = "" if name == "OK" else " open"
        url = outcome.target.url + (
            "" if outcome.target.socketio_path == "/ws" else outcome.target.socketio_path
        )
        cards.append(
            f'<section class="target b-{escape(name)}" id="{_anchor(index)}" '
            f'data-target="{escape(outcome.label)}" data-status="{escape(name)}" '
            f'data-layer="{escape(layer)}">'
            f"<h2>{_badge(name)} {escape(outcome.label)}</h2>"
            f'<p class="url">{escape(url)} · Socket.IO path '
            f"<code>{escape(outcome.target.socketio_path)}</code></p>"
            f"{_diagnosis(outcome)}{_figures(outcome, record, now)}"
            f'<p class="muted">Latency, last {len(history)} run{"" if len(history) == 1 else "s"}'
            f"</p>{spark}"
            f"<details{open_attr}><summary>Layers ({len(outcome.results)} probes)</summary>"
            f"{layer_table(outcome) or '<p class=muted>no probe ran</p>'}</details></section>"
        )
    plural = "" if len(report.outcomes) == 1 else "s"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{int(refresh_s)}">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(overall)} · wsready fleet status</title>"
        f"<style>{CSS}</style></head>\n<body>"
        f"<header><h1>wsready fleet status {_badge(overall)}</h1>"
        f'<p class="meta" id="run">Checked at {_time(checked_at)} in '
        f"{report.duration_s:.1f} s · {len(report.outcomes)} target{plural}: {escape(tally)}"
        f" · this page reloads every {int(refresh_s)} s</p></header>\n"
        '<main><table class="overview"><thead><tr><th>Target</th><th>State</th>'
        '<th>Broken layer</th><th class="wide">Latency</th><th class="wide">Last change</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>\n" + "\n".join(cards) + "</main>\n"
        '<footer class="muted">wsready check · the layers and fixes are those of '
        "<code>wsready diagnose</code></footer></body></html>\n"
    )


def write(
    report: CheckReport,
    path: str,
    state: Mapping[str, Mapping[str, Any]] | None = None,
    refresh_s: int = DEFAULT_REFRESH_S,
) -> None:
    """Render and replace `path` atomically, world-readable (nginx serves it)."""
    body = render(report, state, refresh_s)
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(
        "w", dir=directory, prefix=".wsready-status-", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(body)
        temporary = handle.name
    try:
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError:
        os.unlink(temporary)
        raise


def check_path(path: str, refresh_s: int) -> None:
    """Refuse a page that cannot be written, before any probe runs."""
    file = Path(path)
    if not file.parent.is_dir():
        raise ConfigError("--html", path, f"directory {file.parent} does not exist")
    if file.is_dir():
        raise ConfigError("--html", path, "is a directory")
    if not 5 <= refresh_s <= 86400:
        raise ConfigError("--html-refresh", refresh_s, "must be 5 to 86400 seconds")
