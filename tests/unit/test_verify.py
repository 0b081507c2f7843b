"""Post-deploy verification: retries, target from host data, Gatus-style failure lines,
and the rollback of a release that fails its probes."""

from __future__ import annotations

import pytest
from pyinfra.connectors.util import CommandOutput, OutputLine

from tasks.app import RollbackPlan
from tasks.verify import failures, format_report, probe_until_ok, roll_back, target_for
from wsready import hostdata
from wsready.app_release import Switch
from wsready.probes import ProbeResult, Target

TARGET = Target(url="http://10.200.1.2:80", name="wsr-1")


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


def _plan(new: str = "new1", previous: str | None = "old1") -> RollbackPlan:
    return RollbackPlan(Switch(new, previous), "roll back" if previous not in (None, new) else None)


def _output(stderr: str = "") -> CommandOutput:
    return CommandOutput([OutputLine("stderr", line) for line in stderr.splitlines()])


def test_rollback_runs_the_command_probes_again_and_says_the_old_release_passes() -> None:
    ran: list[str] = []
    outcome = roll_back(
        TARGET, _plan(), 1, 0,
        run_shell=lambda command: ran.append(command) or (True, _output()),
        probe=lambda *_a: ([_result(True, actual="101")], 1),
    )  # fmt: skip
    assert ran == ["roll back"]
    assert outcome.startswith("rolled back to release old1: it passes the probes again (")
    assert "release new1 stays in releases/ for inspection" in outcome


def test_rollback_says_when_the_old_release_fails_too_or_the_command_fails() -> None:
    failing = roll_back(
        TARGET, _plan(), 1, 0,
        run_shell=lambda _c: (True, _output()), probe=lambda *_a: ([_result(False)], 2),
    )  # fmt: skip
    assert failing.startswith("rolled back to release old1, which FAILS its probes too (")
    assert failing.endswith("upgrade status (404) == 101")
    refused = roll_back(
        TARGET, _plan(), 1, 0,
        run_shell=lambda _c: (False, _output("wsready: releases/old1 is no longer on the host")),
        probe=lambda *_a: pytest.fail("no probes after a failed rollback"),
    )  # fmt: skip
    assert refused == (
        "rollback to release old1 FAILED: wsready: releases/old1 is no longer on the host"
    )


@pytest.mark.parametrize(
    ("plan", "said"),
    [
        (None, "app_rollback_on_failure is off: no rollback"),
        (_plan(previous=None), "release new1 is the first on this host: nothing to roll back"),
        (_plan(previous="new1"), "release new1 was already current before this run: nothing"),
    ],
)
def test_nothing_to_roll_back_runs_nothing(plan, said) -> None:
    def refuse(*_args):
        raise AssertionError("nothing may run")

    assert roll_back(TARGET, plan, 1, 0, run_shell=refuse, probe=refuse).startswith(said)


class _LoggingHost:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log_styled(self, message: str, **_style) -> None:
        self.lines.append(message)


def test_failed_verify_is_a_failed_operation_with_the_message_not_a_traceback(monkeypatch):
    import tasks.verify as verify

    def fail(**_arguments):
        raise verify.VerifyError("wsr-1: 1 probe(s) failed: upgrade status (404) == 101")

    monkeypatch.setattr(verify, "_verify", fail)
    host = _LoggingHost()
    assert verify._verify_step(None, host, target=None) is False
    assert host.lines == ["VerifyError: wsr-1: 1 probe(s) failed: upgrade status (404) == 101"]

    monkeypatch.setattr(verify, "_verify", lambda **_arguments: None)
    assert verify._verify_step(None, _LoggingHost(), target=None) is True
