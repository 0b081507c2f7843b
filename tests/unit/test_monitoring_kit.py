"""files/monitoring/ against the real tools: promtool checks and unit-tests the alert rules,
and every PromQL expression of the Grafana dashboard returns data from a real Prometheus
(Debian's `prometheus`) scraping a real node_exporter (`prometheus-node-exporter`) whose
textfile collector reads the file a real `wsready check` wrote. Both daemons run on free
loopback ports for this test only and are stopped by it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.unit.loopback_fleet import loopback_fleet, run_checks
from tests.unit.test_probes_loopback import free_port
from tests.waiting import wait_for
from wsready.processes import stop_processes

KIT = Path(__file__).resolve().parents[2] / "files" / "monitoring"
RULES = KIT / "wsready.rules.yml"
DASHBOARD = KIT / "grafana-dashboard.json"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, (
        f"{name} is needed (Debian's prometheus, prometheus-node-exporter: run scripts/setup)"
    )
    return path


def test_promtool_check_rules_passes() -> None:
    result = subprocess.run(
        [tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 11 rules found" in result.stdout


def test_promtool_rule_tests_pass_ok_critical_ok() -> None:
    result = subprocess.run(
        [tool("promtool"), "test", "rules", "wsready.rules.test.yml"],
        cwd=KIT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    # The OK -> CRITICAL -> OK series is in the test file, with the alert off, firing, off.
    text = (KIT / "wsready.rules.test.yml").read_text()
    assert "values: '0x4 2x8 0x7'" in text


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expr) of every panel target, with the template variable at All."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            queries.append((panel["title"], target["expr"].replace("$target", ".*")))
    return queries


def test_dashboard_is_importable_json_over_wsready_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "wsready-fleet"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    assert all(re.search(r"\bwsready_", expr) for _title, expr in dashboard_queries())


class Daemon:
    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self.handle = log.open("w")
        self.process = subprocess.Popen(args, stdout=self.handle, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        stop_processes(self.process)
        self.handle.close()


@pytest.fixture
def prometheus_over_textfile(tmp_path: Path) -> Iterator[str]:
    """A textfile written by `wsready check`, node_exporter reading it, Prometheus scraping
    node_exporter every second with the wsready rules loaded; yields Prometheus's URL."""
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    with loopback_fleet(tmp_path) as inventory:
        run = run_checks(inventory, tmp_path, runs=2)
    assert run.exit_codes == [2, 2], run.output  # web-502 and tls-1 are CRITICAL
    shutil.copy(run.prom, textfiles / "wsready.prom")

    exporter_port, prometheus_port = free_port(), free_port()
    daemons = []
    try:
        daemons.append(
            Daemon(
                [
                    tool("prometheus-node-exporter"),
                    f"--web.listen-address=127.0.0.1:{exporter_port}",
                    "--collector.disable-defaults",
                    "--collector.textfile",
                    f"--collector.textfile.directory={textfiles}",
                ],
                tmp_path / "node_exporter.log",
            )
        )
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {RULES}\n"
            "scrape_configs:\n  - job_name: node\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{exporter_port}']\n"
        )
        daemons.append(
            Daemon(
                [
                    tool("prometheus"),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                ],
                tmp_path / "prometheus.log",
            )
        )
        yield f"http://127.0.0.1:{prometheus_port}"
    finally:
        for daemon in reversed(daemons):
            daemon.stop()
    for daemon in daemons:
        assert daemon.process.poll() is not None  # stopped


def query(base: str, expr: str) -> list[dict]:
    body = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def test_every_dashboard_query_returns_data_from_a_real_prometheus(
    prometheus_over_textfile: str,
) -> None:
    base = prometheus_over_textfile
    wait_for(lambda: query(base, "wsready_check_timestamp_seconds"), 60, "the first scrape")
    labels = requests.get(
        f"{base}/api/v1/label/target/values",
        params={"match[]": "wsready_target_status"},
        timeout=5,
    ).json()["data"]
    assert sorted(labels) == ["tls-1", "web-502", "web-ok"]  # the $target variable's values

    empty = [(title, expr) for title, expr in dashboard_queries() if not query(base, expr)]
    assert empty == [], f"dashboard queries without data: {empty}"

    statuses = {
        sample["metric"]["target"]: sample["value"][1]
        for sample in query(base, "wsready_target_status")
    }
    assert statuses == {"web-ok": "0", "web-502": "2", "tls-1": "2"}
    assert float(query(base, 'wsready_tls_days_left{target="tls-1"}')[0]["value"][1]) > 79

    # The rules load and evaluate over the same series without errors; CRITICAL ones pend.
    def pending() -> set[str]:
        groups = requests.get(f"{base}/api/v1/rules", timeout=5).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        assert all(rule["health"] != "err" for rule in rules), rules
        return {
            alert["labels"]["target"]
            for rule in rules
            if rule["name"] == "WsreadyTargetCritical"
            for alert in rule.get("alerts", [])
        }

    critical = {"web-502", "tls-1"}
    wait_for(pending, 30, "the CRITICAL alerts to pend", until=critical.__eq__)
