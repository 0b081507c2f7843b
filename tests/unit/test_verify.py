"""Post-deploy verification: retries, target from host data, Gatus-style failure lines."""

from __future__ import annotations

from tasks.verify import failures, format_report, probe_until_ok, target_for
from wsready import hostdata
from wsready.probes import ProbeResult


def _result(ok: bool, probe: str = "upgrade", actual: str = "404") -> ProbeResult:
    return ProbeResult(probe, "http", ok, "== 101", actual, 0.01, subject="status")


def test_target_uses_verify_address_port_and_tls() -> None:
    data = hostdata.with_defaults({"verify_address": "10.200.1.2", "ssh_hostname": "x"})
    assert target_for(data, "h").url == "http://10.200.1.2:80"
    tls = target_for({**data, "nginx_tls": True}, "h")
    assert tls.url == "https://10.200.1.2:443" and tls.tls_verify is False
    given = {**data, "nginx_tls": True, "nginx_tls_cert_file": "/c.pem"}
    assert target_for(given, "h").tls_verify is True
    assert target_for({**given, "verify_tls_ca_file": "/ca.pem"}, "h").tls_verify == "/ca.pem"


def test_retries_until_ok_with_backoff() -> None:
    answers = [[_result(False)], [_result(False)], [_result(True, actual="101")]]
    sleeps: list[float] = []
    results, attempts = probe_until_ok(
        target=None,
        timeout_s=1,
        retries=3,
        run=lambda *_a, **_k: answers.pop(0),
        sleep=sleeps.append,
    )
    assert attempts == 3 and results[0].ok and sleeps == [1.0, 2.0]


def test_gives_up_after_retries_and_names_the_failure() -> None:
    results, attempts = probe_until_ok(
        None, 1, 1, run=lambda *_a, **_k: [_result(False)], sleep=lambda _s: None
    )
    assert attempts == 2
    assert [str(r) for r in failures(results)] == ["upgrade status (404) == 101"]


def test_report_lists_every_probe() -> None:
    data = hostdata.with_defaults({"verify_address": "10.200.1.2"})
    report = format_report(target_for(data, "wsr-1"), [_result(False), _result(True, "health")])
    assert "FAIL    upgrade status (404) == 101" in report and "ok      health" in report
