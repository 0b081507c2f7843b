"""Post-deploy verification: retries, target from host data, Gatus-style failure lines; the
wait for this run's fingerprints; commit or roll back the run's transaction; the probe token.
Every network answer, clock, sleep and shell command is a fake."""

from __future__ import annotations

import logging
from dataclasses import replace

import jwt
import pytest
import requests
from pyinfra.connectors.util import CommandOutput, OutputLine

import wsready.deploy.verify as verify
from wsready.deploy.verify import (
    FINGERPRINT_HEADER,
    Fingerprints,
    Plan,
    VerifyError,
    failures,
    format_report,
    probe_until_ok,
    roll_back,
    wait_for_fingerprints,
)
from wsready.fleet import tokens
from wsready.fleet.tokens import probe_token_source as token_source
from wsready.hostdata import HostConfig
from wsready.probes import ProbeResult, Target

TARGET = Target(url="http://10.200.1.2:80", name="wsr-1")
SECRET = "jwt-secret-for-verify-tests-0123456789abcdef"


def _result(ok: bool, probe: str = "upgrade", actual: str = "404") -> ProbeResult:
    return ProbeResult(probe, "http", ok, "== 101", actual, 0.01, subject="status")


def test_target_uses_verify_address_port_and_tls(tmp_path) -> None:
    cert, ca = tmp_path / "c.pem", tmp_path / "ca.pem"
    cert.write_text("cert")
    ca.write_text("ca")
    values = {"verify_address": "10.200.1.2", "ssh_hostname": "x"}
    assert _data(**values).target().url == "http://10.200.1.2:80"
    tls = _data(**values, nginx_tls=True).target()
    assert tls.url == "https://10.200.1.2:443" and tls.tls_verify is False
    given = {**values, "nginx_tls": True, "nginx_tls_cert_file": str(cert)}
    given["nginx_tls_key_file"] = str(cert)
    assert _data(**given).target().tls_verify is True
    assert _data(**given, verify_tls_ca_file=str(ca)).target().tls_verify == str(ca)


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


def test_backoff_doubles_up_to_five_seconds() -> None:
    sleeps: list[float] = []
    run = lambda *_a, **_k: [_result(False)]  # noqa: E731
    _results, attempts = probe_until_ok(None, 1, 5, run=run, sleep=sleeps.append)
    assert attempts == 6 and sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_report_lists_every_probe() -> None:
    healthy = ProbeResult("health", "http", True, "== 200", "200", 0.004, subject="status")
    report = format_report(_data().target(), [_result(False), healthy])
    assert report.splitlines() == [
        "probes for wsr-1 at http://10.200.1.2:80:",
        "  LAYER  PROBE    STATE  TIME   RESULT",
        "  http   upgrade  FAIL   10 ms  status (404) == 101",
        "  http   health   ok     4 ms   status (200) == 200",
    ]


# --- Fingerprints.mismatch: one line per difference --------------------------------------

NEW = Fingerprints(site="aaaa000011112222", release="rel-new", config="cfg-new", workers=2)


def _health(version="rel-new", config="cfg-new", current=2, total=2) -> dict:
    return {"status": "ok", "version": version, "config": config,
            "workers": {"up": total, "total": total, "current": current}}  # fmt: skip


@pytest.mark.parametrize(
    ("header", "health", "said"),
    [
        ("bbbb000011112222", _health(),
         f"{FINGERPRINT_HEADER} 'bbbb000011112222', expected 'aaaa000011112222'"),
        (None, _health(), f"{FINGERPRINT_HEADER} None, expected 'aaaa000011112222'"),
        ("aaaa000011112222", "502 without JSON", "/api/health answered 502 without JSON"),
        ("aaaa000011112222", None, "/api/health answered no JSON"),
        ("aaaa000011112222", _health(version="rel-old"), "release 'rel-old', expected 'rel-new'"),
        ("aaaa000011112222", _health(config="cfg-old"), "app config 'cfg-old', expected 'cfg-new'"),
        ("aaaa000011112222", _health(config=None), "app config None, expected 'cfg-new'"),
        ("aaaa000011112222", _health(current=1), "workers current/total 1/2, expected 2"),
        ("aaaa000011112222", _health(current=3, total=3), "workers current/total 3/3, expected 2"),
        ("aaaa000011112222", {"version": "rel-new", "config": "cfg-new"},
         "workers current/total None/None, expected 2"),
    ],
)  # fmt: skip
def test_mismatch_names_each_difference(header, health, said) -> None:
    assert NEW.mismatch(header, health) == said


def test_mismatch_none_when_every_fingerprint_is_shown_or_not_checked() -> None:
    assert NEW.mismatch("aaaa000011112222", _health()) is None
    # REST elsewhere (nginx_rest_upstream): only the site's header is checked.
    site_only = Fingerprints("aaaa000011112222")
    assert site_only.mismatch("aaaa000011112222", "404 without JSON") is None
    assert site_only.mismatch("cccc", None) is not None
    # No site fingerprint (a host before this feature): not checked; workers None: ditto.
    no_site = Fingerprints(None, release="rel-new", config="cfg-new")
    assert no_site.mismatch(None, _health(current=1, total=4)) is None


# --- wait_for_fingerprints: answers in a row, budget -------------------------------------


class Clock:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


OLD = ("0000000000000000", _health(version="rel-old"))
GOOD = ("aaaa000011112222", _health())


def _wait(answers: list, budget_s: float = 10.0, clock: Clock | None = None):
    clock = clock or Clock()
    asked: list[float] = []

    def answer(target, timeout_s):
        assert target is TARGET
        asked.append(timeout_s)
        item = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(item, Exception):
            raise item
        return item

    problem = wait_for_fingerprints(
        TARGET, NEW, budget_s, answer=answer, clock=clock, sleep=clock.sleep
    )
    return problem, len(asked), clock


def test_three_matching_answers_in_a_row_end_the_wait_without_sleeping() -> None:
    problem, asked, clock = _wait([GOOD])
    assert problem is None and asked == verify.FINGERPRINT_MATCHES == 3
    assert clock.sleeps == []  # a converged host costs three requests, no wait


def test_an_old_answer_in_between_restarts_the_count() -> None:
    problem, asked, clock = _wait([GOOD, GOOD, OLD, GOOD, GOOD, GOOD])
    assert problem is None and asked == 6
    assert clock.sleeps == [verify.FINGERPRINT_POLL_S]
    # Two matches then an old one, then only two more before the budget: not enough.
    problem, asked, _ = _wait([GOOD, GOOD, OLD, GOOD, GOOD, OLD], budget_s=0.15)
    assert problem == f"{FINGERPRINT_HEADER} '0000000000000000', expected 'aaaa000011112222'"


def test_a_spent_budget_returns_the_last_difference() -> None:
    problem, asked, clock = _wait([OLD, ("aaaa000011112222", "502 without JSON")], budget_s=1.0)
    assert problem == "/api/health answered 502 without JSON"
    assert clock.now >= 101.0 and asked == 12  # polled every 0.1 s until the deadline
    assert set(clock.sleeps) == {verify.FINGERPRINT_POLL_S}


def test_connection_errors_count_as_differences() -> None:
    problem, _asked, _clock = _wait([requests.ConnectionError("refused")], budget_s=0.3)
    assert problem == "ConnectionError"
    problem, asked, _clock = _wait([requests.ReadTimeout(), GOOD], budget_s=0.3)
    assert problem is None and asked == 4


# --- _verify and roll_back with fake shell, probes and fingerprints ----------------------


def _output(stdout: str = "", stderr: str = "") -> CommandOutput:
    lines = [OutputLine("stdout", line) for line in stdout.splitlines()]
    return CommandOutput(lines + [OutputLine("stderr", line) for line in stderr.splitlines()])


class Shell:
    """run_shell: records each command; `fails` maps a command to its stderr."""

    def __init__(self, fails: dict[str, str] | None = None) -> None:
        self.ran: list[str] = []
        self.fails = fails or {}

    def __call__(self, command: str):
        self.ran.append(command)
        if command in self.fails:
            return False, _output(stderr=self.fails[command])
        return True, _output(stdout="wsready-rollback: transaction r1: 3 file(s) put back")


def _plan(**changes) -> Plan:
    plan = Plan(
        target=TARGET,
        timeout_s=10,
        retries=1,
        fingerprints=NEW,
        previous=Fingerprints("0000000000000000", release="rel-old"),
        auth=False,
        rollback="ROLLBACK",
        commit="COMMIT",
        token=lambda: "the-probe-token",
    )
    return replace(plan, **changes)


class Fakes:
    """Replaces the network parts of wsready.deploy.verify; records what they were given."""

    def __init__(self, monkeypatch, waits=(None,), probes=(True,), matrix=()) -> None:
        self.waits, self.probes, self.matrix = list(waits), list(probes), list(matrix)
        self.waited: list[Fingerprints] = []
        self.probed: list[Target] = []
        self.matrix_targets: list[Target] = []
        monkeypatch.setattr(verify, "wait_for_fingerprints", self.wait)
        monkeypatch.setattr(verify, "probe_until_ok", self.probe)
        monkeypatch.setattr(verify, "auth_matrix", self.auth_matrix)
        # roll_back's `probe` default was bound when wsready/deploy/verify.py was imported.
        monkeypatch.setattr(roll_back, "__defaults__", (self.probe,))

    def wait(self, target, expected, budget_s):
        self.waited.append(expected)
        assert budget_s == 20  # fingerprint_budget: 2 x verify_timeout_s
        return self.waits.pop(0) if self.waits else None

    def probe(self, target, timeout_s, retries):
        self.probed.append(target)
        ok = self.probes.pop(0)
        return [_result(ok, actual="101" if ok else "403")], 1 + retries * (not ok)

    def auth_matrix(self, target, timeout_s):
        self.matrix_targets.append(target)
        return list(self.matrix)


def test_passing_probes_commit_the_transaction(monkeypatch) -> None:
    fakes, shell = Fakes(monkeypatch), Shell()
    verify._verify(_plan(), shell)
    assert shell.ran == ["COMMIT"]
    assert fakes.waited == [NEW]
    assert [target.token for target in fakes.probed] == ["the-probe-token"]
    assert fakes.matrix_targets == []  # auth off: no matrix


def test_fingerprints_never_reached_report_what_answers_then_roll_back(monkeypatch) -> None:
    difference = f"{FINGERPRINT_HEADER} '0000000000000000', expected 'aaaa000011112222'"
    fakes = Fakes(monkeypatch, waits=[difference, None], probes=[False, True])
    shell = Shell()
    with pytest.raises(VerifyError) as raised:
        verify._verify(_plan(), shell)
    assert shell.ran == ["ROLLBACK"]  # no commit
    message = str(raised.value)
    assert message.startswith(
        f"wsr-1: the host never answered with this run's config within 20 s ({difference}); "
        "1 probe(s) failed: upgrade status (403) == 101; "
        "rolled back to release rel-old: it passes the probes again; the host serves what it"
        " served before ("
    )
    assert "wsready-rollback: transaction r1: 3 file(s) put back" in message
    # One probe run (no retries: the budget is spent) says what answers instead; after the
    # rollback: wait for the previous fingerprints, then probe.
    assert fakes.waited == [NEW, _plan().previous]
    assert len(fakes.probed) == 2


def test_failing_probes_roll_back_and_probe_the_restored_state(monkeypatch) -> None:
    fakes = Fakes(monkeypatch, probes=[False, True])
    shell = Shell()
    with pytest.raises(VerifyError) as raised:
        verify._verify(_plan(), shell)
    assert shell.ran == ["ROLLBACK"]
    assert len(fakes.probed) == 2
    message = str(raised.value)
    assert message.startswith(
        "wsr-1: 1 probe(s) failed on release rel-new: upgrade status (403) == 101; "
        "rolled back to release rel-old: it passes the probes again;"
    )


def test_restored_state_failing_too_is_said(monkeypatch) -> None:
    Fakes(monkeypatch, probes=[False, False])
    with pytest.raises(VerifyError, match=r"rel-old \(.*\), and the restored state FAILS its"):
        verify._verify(_plan(), Shell())


def test_auth_matrix_problems_fail_the_deploy(monkeypatch) -> None:
    problem = "no-token connect (connect accepted (True) == False) == 44 refused"
    fakes = Fakes(monkeypatch, probes=[True, True], matrix=[problem])
    shell = Shell()
    with pytest.raises(VerifyError) as raised:
        verify._verify(_plan(auth=True), shell)
    assert shell.ran == ["ROLLBACK"]
    assert str(raised.value).startswith(f"wsr-1: {problem}; rolled back to release rel-old: ")
    assert [target.token for target in fakes.matrix_targets] == ["the-probe-token"]


def test_auth_matrix_passing_commits(monkeypatch) -> None:
    fakes = Fakes(monkeypatch)
    shell = Shell()
    verify._verify(_plan(auth=True), shell)
    assert shell.ran == ["COMMIT"] and len(fakes.matrix_targets) == 1


def test_rollback_off_runs_nothing_but_still_fails(monkeypatch) -> None:
    Fakes(monkeypatch, probes=[False])
    shell = Shell()
    with pytest.raises(VerifyError, match="; app_rollback_on_failure is off: no rollback$"):
        verify._verify(_plan(rollback=None), shell)
    assert shell.ran == []


def test_commit_that_fails_is_an_error(monkeypatch) -> None:
    Fakes(monkeypatch)
    shell = Shell(fails={"COMMIT": "rm: cannot remove: Read-only file system"})
    with pytest.raises(VerifyError, match="probes passed, but rm: cannot remove: Read-only"):
        verify._verify(_plan(), shell)
    assert shell.ran == ["COMMIT"]


def test_a_failed_rollback_command_is_reported_and_nothing_is_probed(monkeypatch) -> None:
    fakes = Fakes(monkeypatch, probes=[])
    shell = Shell(fails={"ROLLBACK": "wsready-rollback: nginx -t refused the restored config"})
    outcome = roll_back(_plan(), shell)
    assert outcome == "rollback FAILED: wsready-rollback: nginx -t refused the restored config"
    assert fakes.probed == [] and fakes.waited == []
    silent = roll_back(_plan(), lambda _c: (False, _output()))
    assert silent == "rollback FAILED: no message"


def test_rollback_without_previous_fingerprints_probes_at_once(monkeypatch) -> None:
    fakes = Fakes(monkeypatch, probes=[True])
    outcome = roll_back(_plan(previous=None), Shell())
    assert outcome.startswith("rolled back: it passes the probes again; the host serves what")
    assert fakes.waited == []


def test_the_token_appears_in_no_message_or_log(monkeypatch, caplog) -> None:
    Fakes(monkeypatch, probes=[False, True])
    with caplog.at_level(logging.DEBUG), pytest.raises(VerifyError) as raised:
        verify._verify(_plan(), Shell())
    assert "the-probe-token" not in str(raised.value)
    assert "probes for wsr-1 at http://" in caplog.text  # the probe lines were logged...
    assert "the-probe-token" not in caplog.text  # ...without the token


class _LoggingHost:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log_styled(self, message: str, **_style) -> None:
        self.lines.append(message)

    def run_shell_command(self, command: str, **_arguments):
        raise AssertionError("the fake _verify runs nothing")


def test_failed_verify_is_a_failed_operation_with_the_message_not_a_traceback(monkeypatch):
    def fail(_plan, _run_shell):
        raise VerifyError("wsr-1: upgrade status (404) == 101; rolled back: ...")

    monkeypatch.setattr(verify, "_verify", fail)
    host = _LoggingHost()
    assert verify.verify_step(None, host, plan=_plan()) is False
    assert host.lines == ["VerifyError: wsr-1: upgrade status (404) == 101; rolled back: ..."]

    monkeypatch.setattr(verify, "_verify", lambda _plan, _run_shell: None)
    assert verify.verify_step(None, _LoggingHost(), plan=_plan(), run_as={"_sudo": True})


# --- the probe token (wsready.fleet.tokens.probe_token_source) ----------------------------


def _data(**values) -> HostConfig:
    return HostConfig.from_data("wsr-1", {"verify_address": "10.200.1.2", **values})


def test_a_minted_token_verifies_with_the_secret_and_expires() -> None:
    source = token_source(_data(app_auth="jwt", app_jwt_secret=SECRET, app_jwt_audience="wsready"))
    token = source()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="wsready")
    assert claims["aud"] == "wsready"  # the app checks app_jwt_audience when it is set
    assert claims["exp"] - claims["iat"] == tokens.PROBE_TOKEN_TTL_S == 300
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-0123456789abcdef0123", algorithms=["HS256"],
                   audience="wsready")  # fmt: skip
    assert source() is not None  # minted again at each call (when the probes run)
    bare = token_source(_data(app_auth="jwt", app_jwt_secret=SECRET))()
    assert "aud" not in jwt.decode(bare, SECRET, algorithms=["HS256"])  # no audience set


def test_verify_token_env_wins_and_static_auth_needs_it(monkeypatch) -> None:
    monkeypatch.setenv("PROBE_TOKEN", "token-from-env")
    data = _data(app_auth="jwt", app_jwt_secret=SECRET, verify_token_env="PROBE_TOKEN")
    assert token_source(data)() == "token-from-env"
    assert token_source(_data(app_auth="static", app_static_token_hashes=["a" * 64])) is None
    assert token_source(_data()) is None  # auth off, no token


def test_no_token_or_secret_in_the_plans_repr(monkeypatch) -> None:
    monkeypatch.setenv("PROBE_TOKEN", "token-from-env")
    data = _data(app_auth="jwt", app_jwt_secret=SECRET)
    minted = token_source(data)
    plan = _plan(target=data.target(), token=minted, auth=True)
    shown = repr(plan)
    assert SECRET not in shown and minted() not in shown
    assert "token=" not in shown
    with_env = _data(app_auth="jwt", app_jwt_secret=SECRET, verify_token_env="PROBE_TOKEN")
    plan = _plan(target=with_env.target(), token=token_source(with_env))
    assert plan.target.token is None and plan.token() == "token-from-env"  # made at probe time
    assert "token-from-env" not in repr(plan) and SECRET not in repr(plan)


def test_nothing_pending_is_said_as_such_and_not_reprobed(monkeypatch) -> None:
    fakes = Fakes(monkeypatch, probes=[])
    said = "wsready-rollback: no pending transaction: nothing to put back"
    outcome = roll_back(_plan(), lambda _command: (True, _output(stdout=said)))
    assert outcome == "nothing to roll back: no run changed this host since its last proven deploy"
    assert fakes.probed == [] and fakes.waited == []
