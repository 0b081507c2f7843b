"""Prove a deploy from outside the host, then commit it or put everything back (the
execute-time half of tasks/verify.py, which plans it and hands it to python.call).

Runs on the machine running pyinfra, against `verify_address` (or the SSH address) on
nginx's port:

1. **Wait for this run's config.** `systemctl reload nginx` returns before the new nginx
   workers serve, and the app's workers take a moment to restart. Every answer of the
   wsready site carries `X-Wsready-Config` (the fingerprint of nginx.conf and the site) and
   /api/health reports the app's release (`version`), its config fingerprint (`config`) and
   how many workers run it (`workers.current`): the probes judge nothing until
   `FINGERPRINT_MATCHES` answers in a row show this run's fingerprints (the host's plan,
   wsready/deploy/plan.py), within `verify_timeout_s` x (1 + `verify_retries`). A host that
   never shows them fails.
2. **Probe** (the same probes as `wsready check`), retried `verify_retries` times with a
   short backoff; with `app_auth` on, the token matrix too: the socket and REST accept the
   token (`verify_token_env`, or one minted here from `app_jwt_secret`, never printed) and
   refuse a client without one.
3. **Commit or roll back.** Passed: the host's pending transactions are dropped
   (wsready/deploy/transaction.py). Failed: with `app_rollback_on_failure`, everything the
   run changed (and any run killed before its verify) is put back on that host, which is
   then probed again; the deploy fails all the same, saying what failed and whether the
   restored state passes.

The plan-time half is here too (plan_verify, previous_fingerprints, privilege_arguments):
what tasks/verify.py and tasks/generations.py hand to their python.call.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import requests
from pyinfra import host, logger, state
from pyinfra.api.arguments import pop_global_arguments
from pyinfra.facts.files import FileContents, Link
from pyinfra.facts.server import Command

from wsready.deploy import batched_facts, generations, transaction
from wsready.deploy.nginx_config import LIVE
from wsready.deploy.plan import HostPlan, host_plan
from wsready.hostdata import HostConfig
from wsready.probes import ProbeResult, Target, names, render, run_probes
from wsready.probes.conditions import Condition
from wsready.probes.http import get_direct
from wsready.probes.retry import RetryPolicy

# Waits between verify attempts: 1 s, 2 s, 4 s, then 5 s each (wsready/probes/retry.py).
BACKOFF_BASE_S, BACKOFF_FACTOR, BACKOFF_MAX_S = 1.0, 2.0, 5.0
FINGERPRINT_HEADER = "X-Wsready-Config"
# With auth on, a client without a token is refused by the socket (44) and by REST.
NO_TOKEN_CONNECT = Condition("no-token connect", "==", False, key="accepted", says="== 44 refused")
NO_TOKEN_REST = Condition("no-token REST status", "in", (401, 403), key="status", says="== 401")
FINGERPRINT_MATCHES = 3  # answers in a row: old nginx workers may still answer for a moment
FINGERPRINT_POLL_S = 0.1
NOTHING_PENDING = "no pending transaction"  # what wsready-rollback says when it has nothing


class VerifyError(RuntimeError):
    """The deployed service does not answer as it must."""


@dataclass(frozen=True)
class Fingerprints:
    """What the host answers with once it serves this run's config."""

    site: str | None  # X-Wsready-Config; None: not checked
    release: str | None = None  # /api/health `version`; None: not checked (REST elsewhere)
    config: str | None = None  # /api/health `config`
    workers: int | None = None  # /api/health `workers.current` == `workers.total` == this

    def mismatch(self, header: str | None, health: dict | None) -> str | None:
        """What differs from an answer, or None when it shows every fingerprint."""
        if self.site is not None and header != self.site:
            return f"{FINGERPRINT_HEADER} {header!r}, expected {self.site!r}"
        if self.release is None:
            return None
        if not isinstance(health, dict):
            return f"/api/health answered {health or 'no JSON'}"
        if health.get("version") != self.release:
            return f"release {health.get('version')!r}, expected {self.release!r}"
        if health.get("config") != self.config:
            return f"app config {health.get('config')!r}, expected {self.config!r}"
        workers = health.get("workers") if isinstance(health.get("workers"), dict) else {}
        seen = (workers.get("current"), workers.get("total"))
        if self.workers is not None and seen != (self.workers, self.workers):
            return f"workers current/total {seen[0]}/{seen[1]}, expected {self.workers}"
        return None


def failures(results: list[ProbeResult]) -> list[ProbeResult]:
    return [result for result in results if not result.ok and not result.skipped]


def passed(results: list[ProbeResult]) -> bool:
    return not failures(results)


def format_report(target: Target, results: list[ProbeResult]) -> str:
    table = render.text_table(results, timed=True, indent="  ")
    return f"probes for {target.label} at {target.url}:\n{table}"


def probe_until_ok(
    target: Target,
    timeout_s: float,
    retries: int,
    run=run_probes,
    sleep=time.sleep,
) -> tuple[list[ProbeResult], int]:
    """Run the probes up to 1 + `retries` times; returns the last results and attempts."""
    policy = RetryPolicy(retries + 1, BACKOFF_BASE_S, BACKOFF_FACTOR, BACKOFF_MAX_S, sleep=sleep)
    return policy.run(lambda _number: run(target, timeout_s=timeout_s), passed)


def _failed_text(results: list[ProbeResult]) -> str:
    return "; ".join(str(result) for result in failures(results))


def health_answer(target: Target, timeout_s: float) -> tuple[str | None, dict | str]:
    """(X-Wsready-Config, JSON or what came instead) of one GET /api/health, without proxies
    or redirects."""
    response = get_direct(target, target.http_url(target.health_path), timeout_s)
    try:
        body = response.json()
    except ValueError:
        body = f"{response.status_code} without JSON"
    return response.headers.get(FINGERPRINT_HEADER), body


def fingerprint_budget(timeout_s: float) -> float:
    """How long a host may take to answer with a new config: nginx's reload and the app's
    restart take a second or two; a config that never comes up fails after this."""
    return 2 * timeout_s


def wait_for_fingerprints(
    target: Target,
    expected: Fingerprints,
    budget_s: float,
    answer=health_answer,
    clock=time.monotonic,
    sleep=time.sleep,
) -> str | None:
    """Poll /api/health until FINGERPRINT_MATCHES answers in a row show `expected`; None
    then, else why not (the last difference seen) once `budget_s` is spent."""
    deadline = clock() + budget_s
    in_a_row, last = 0, "no answer"
    while True:
        try:
            header, body = answer(target, min(5.0, max(0.5, budget_s)))
            difference = expected.mismatch(header, body)
        except requests.RequestException as error:
            difference = f"{type(error).__name__}"
        if difference is None:
            in_a_row += 1
            if in_a_row >= FINGERPRINT_MATCHES:
                return None
            continue
        in_a_row, last = 0, difference
        if clock() >= deadline:
            return last
        sleep(FINGERPRINT_POLL_S)


def auth_matrix(target: Target, timeout_s: float) -> list[str]:
    """With auth on and a token: a client without one must be refused by the socket (44)
    and by REST (401/403). Returns what failed."""
    bare = replace(target, token=None)
    problems = []
    results = {result.probe: result for result in run_probes(bare, timeout_s=timeout_s)}
    connect = results.get(names.CONNECT)
    if connect is None or not NO_TOKEN_CONNECT.judge(connect.detail):
        seen = "skipped" if connect is None or connect.skipped else str(connect)
        problems.append(NO_TOKEN_CONNECT.text(seen))
    try:
        status = get_direct(bare, bare.http_url(bare.rest_auth_path), timeout_s).status_code
    except requests.RequestException as error:
        status = type(error).__name__
    if not NO_TOKEN_REST.judge({"status": status}):
        problems.append(NO_TOKEN_REST.text(status))
    return problems


@dataclass(frozen=True)
class Plan:
    """Everything the verify step needs, read at plan time."""

    target: Target  # without the token: it is made when the probes run
    timeout_s: float
    retries: int
    fingerprints: Fingerprints
    previous: Fingerprints | None  # what the host served before this run (after a rollback)
    auth: bool  # app_auth is on and a token is known: prove the matrix
    rollback: str | None  # the command that puts the host back; None: rollback off
    commit: str
    # Makes the probe token at execute time (minted tokens are short-lived); never shown.
    token: Callable[[], str | None] = field(default=lambda: None, repr=False)


def roll_back(plan: Plan, run_shell, probe=probe_until_ok) -> str:
    """Put back every pending transaction on the host, probe again; what happened."""
    if plan.rollback is None:
        return "app_rollback_on_failure is off: no rollback"
    logger.warning(f"{plan.target.label}: putting back what this deploy changed")
    started = time.monotonic()
    ok, output = run_shell(plan.rollback)
    said = " ".join(line.strip() for line in output.stdout_lines if line.strip())
    if not ok:
        return f"rollback FAILED: {output.stderr.strip() or said or 'no message'}"
    if NOTHING_PENDING in said:
        return "nothing to roll back: no run changed this host since its last proven deploy"
    if plan.previous is not None:
        wait_for_fingerprints(plan.target, plan.previous, fingerprint_budget(plan.timeout_s))
    results, attempts = probe(plan.target, plan.timeout_s, plan.retries)
    seconds = time.monotonic() - started
    report = format_report(plan.target, results)
    previous = plan.previous.release if plan.previous and plan.previous.release else None
    rolled = f"rolled back to release {previous}" if previous else "rolled back"
    if failures(results):
        logger.error(f"{report}\n  (after the rollback, {attempts} attempts)")
        return (
            f"{rolled} ({said}), and the restored state FAILS its probes too "
            f"({seconds:.1f} s): {_failed_text(results)}"
        )
    logger.warning(f"{report}\n  the restored state passes (attempt {attempts})")
    return (
        f"{rolled}: it passes the probes again; the host serves what it served before "
        f"({seconds:.1f} s after the rollback started; {said})"
    )


def _verify(plan: Plan, run_shell) -> None:
    target = replace(plan.target, token=plan.token())
    plan = replace(plan, target=target)
    budget = fingerprint_budget(plan.timeout_s)
    refused = generations.refusal(target.label)
    if refused is not None:  # the old generation kept serving: only the files go back
        outcome = roll_back(plan, run_shell)
        raise VerifyError(f"{target.label}: the new generation was refused ({refused}); {outcome}")
    started = time.monotonic()
    problem = wait_for_fingerprints(target, plan.fingerprints, budget)
    waited = time.monotonic() - started
    on = plan.fingerprints.release or plan.fingerprints.site
    if problem is not None:
        failed = f"the host never answered with this run's config within {budget:g} s ({problem})"
        # What the host answers instead, layer by layer (one attempt: the budget is spent).
        results, _attempts = probe_until_ok(target, plan.timeout_s, 0)
        logger.error(f"{format_report(target, results)}\n  (not this run's config: {problem})")
        if failures(results):
            failed += f"; {len(failures(results))} probe(s) failed: {_failed_text(results)}"
    else:
        results, attempts = probe_until_ok(target, plan.timeout_s, plan.retries)
        report = format_report(target, results)
        failed = _failed_text(results)
        if failed:
            failed = f"{len(failures(results))} probe(s) failed on release {on}: {failed}"
        if not failed and plan.auth:
            failed = "; ".join(auth_matrix(target, plan.timeout_s))
            report += "\n  token accepted; a client without a token is refused" * (not failed)
        if not failed:
            ok, output = run_shell(plan.commit)
            if not ok:
                raise VerifyError(f"{target.label}: probes passed, but {output.stderr.strip()}")
            logger.info(
                f"{report}\n  all probes passed (attempt {attempts}); the host answered with "
                f"this run's config (site {plan.fingerprints.site}) after {waited:.2f} s"
            )
            return
        logger.error(f"{report}\n  (after {attempts} attempts)")
    outcome = roll_back(plan, run_shell)
    raise VerifyError(f"{target.label}: {failed}; {outcome}")


def verify_step(state, host, plan: Plan, run_as: dict | None = None) -> bool:
    """`_verify` as pyinfra's callback: a failure is the deploy's error message and a failed
    operation, not a Python traceback (pyinfra passes `state` and `host` to a callback that
    names them, and takes its return value as the operation's status)."""
    try:
        _verify(plan, partial(host.run_shell_command, **(run_as or {})))
    except VerifyError as error:
        host.log_styled(f"VerifyError: {error}", fg="red", log_func=logger.error)
        return False
    return True


def site_fingerprint(lines: list[str]) -> str | None:
    """The X-Wsready-Config value of a live site config, if it sends one."""
    for line in lines:
        words = line.split()
        if words[:2] == ["add_header", FINGERPRINT_HEADER] and len(words) >= 3:
            return words[2].strip('";')
    return None


# How operations on the host gain root (pyinfra --sudo, host data `_sudo`, ...); the rollback
# runs outside an operation and is given the same. Passwords are left out: the callback's
# arguments appear in pyinfra's -vvv output.
PRIVILEGE_ARGUMENTS = (
    "_sudo", "_sudo_user", "_use_sudo_login", "_preserve_sudo_env",
    "_su_user", "_use_su_login", "_preserve_su_env", "_su_shell", "_doas", "_doas_user",
)  # fmt: skip


def privilege_arguments() -> dict:
    """The current host's PRIVILEGE_ARGUMENTS as its operations get them (CLI, deploy, data)."""
    arguments, _found = pop_global_arguments(state, host, {})
    return {key: arguments[key] for key in PRIVILEGE_ARGUMENTS if arguments.get(key)}


def previous_fingerprints(data: HostConfig, own_health: bool) -> Fingerprints | None:
    """What the host serves before this run (plan-time facts), or None on a first deploy."""
    current_link = f"{data.app_dir.rstrip('/')}/current"
    # Only the fingerprint line: the file holds secrets, which must not become a fact.
    config_line = (
        f"sed -n 's/^APP_CONFIG_FINGERPRINT=\"\\(.*\\)\"$/\\1/p' "
        f"{shlex.quote(host_plan().paths.env_file)} 2>/dev/null; true"
    )
    active = (
        "systemctl list-units --plain --no-legend --state=active "
        f"{shlex.quote(data.app_name + '@*.service')} | wc -l"
    )
    batched_facts.prefetch(  # the four below in one command
        host,
        [(FileContents, {"path": LIVE}), (Link, {"path": current_link})]
        + [(Command, {"command": config_line}), (Command, {"command": active})] * own_health,
    )
    site = site_fingerprint(host.get_fact(FileContents, path=LIVE) or [])
    link = host.get_fact(Link, path=current_link)
    if site is None and not link:
        return None
    if not own_health or not link:
        return Fingerprints(site)
    config = host.get_fact(Command, command=config_line)
    workers = host.get_fact(Command, command=active)
    return Fingerprints(
        site,
        release=link["link_target"].rsplit("/", 1)[-1],
        config=(config or "").strip() or None,
        workers=int(workers) if config and (workers or "").strip().isdigit() else None,
    )


def plan_verify(host_plan: HostPlan, token: Callable[[], str | None] | None = None) -> Plan:
    """Read at plan time: the target, this run's fingerprints (the host's plan: what the
    other tasks wrote), the previous ones; `token` makes the probe token when the probes run
    (None: no token to prove the auth matrix with)."""
    data = host_plan.data
    own_health = not data.nginx_rest_upstream  # /api/ goes to the app itself
    fingerprints = Fingerprints(
        site=host_plan.nginx.fingerprint,
        release=host_plan.app_release.hash if own_health else None,
        config=host_plan.app.fingerprint if own_health else None,
        workers=host_plan.sized.app_workers if own_health else None,
    )
    rollback = None
    if data.app_rollback_on_failure:
        rollback = transaction.rollback_command(data.app_name)
    return Plan(
        target=data.target(),
        timeout_s=data.verify_timeout_s,
        retries=data.verify_retries,
        fingerprints=fingerprints,
        previous=previous_fingerprints(data, own_health),
        auth=data.app_auth != "off" and token is not None,
        rollback=rollback,
        commit=transaction.commit_command(),
        token=token or (lambda: None),
    )
