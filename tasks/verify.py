"""Prove the deploy from outside the host: the same probes as `wsready check`.

Runs at execute time on the machine running pyinfra (python.call), against
`verify_address` (or the SSH address) on nginx's port. Failed probes are retried
`verify_retries` times with a short backoff (the app may be restarting); if they still fail
the deploy fails, listing each failed condition as `upgrade status (404) == 101`.

With `app_rollback_on_failure`, a failure after this run switched the app to a new release
first puts the previous release back on that host (tasks/app.py's `rollback_command`, run
over the host's own connection), probes again, and then fails the deploy all the same,
saying which probes failed on the new release, which release now serves and whether it
passes. A run that did not change the release (nginx or the firewall broke) or the first
release on a host has nothing to roll back: the message says so.
"""

from __future__ import annotations

import os
import time
from functools import partial

from pyinfra import host, logger, state
from pyinfra.api import deploy
from pyinfra.api.arguments import pop_global_arguments
from pyinfra.operations import python

from tasks.app import RollbackPlan, plan_rollback
from wsready.probes import ProbeResult, Target, run_probes

BACKOFF_S = (1.0, 2.0, 3.0, 5.0)
# How operations on the host gain root (pyinfra --sudo, host data `_sudo`, ...); the rollback
# runs outside an operation and is given the same. Passwords are left out: the callback's
# arguments appear in pyinfra's -vvv output.
PRIVILEGE_ARGUMENTS = (
    "_sudo", "_sudo_user", "_use_sudo_login", "_preserve_sudo_env",
    "_su_user", "_use_su_login", "_preserve_su_env", "_su_shell", "_doas", "_doas_user",
)  # fmt: skip


class VerifyError(RuntimeError):
    """The deployed service does not answer as it must."""


def target_for(data, host_name: str) -> Target:
    """The URL the outside world uses for this host, from host data."""
    address = data.get("verify_address") or data.get("ssh_hostname") or host_name
    shown = f"[{address}]" if ":" in address else address
    if data.get("nginx_tls"):
        url = f"https://{shown}:{data['nginx_tls_port']}"
    else:
        url = f"http://{shown}:{data['nginx_listen_port']}"
    token_env = data.get("verify_token_env")
    origins = data.get("app_cors_origins") or []
    return Target(
        url=url,
        socketio_path=data["app_socketio_path"],
        token=os.environ.get(token_env) if token_env else None,
        origin=origins[0] if origins else None,
        name=host_name,
        tls_verify=_tls_verify(data),
    )


def _tls_verify(data) -> bool | str:
    """A given certificate is verified (with verify_tls_ca_file when set); a pair generated
    on the host is self-signed and cannot be."""
    if not data.get("nginx_tls_cert_file"):
        return False
    return data.get("verify_tls_ca_file") or True


def failures(results: list[ProbeResult]) -> list[ProbeResult]:
    return [result for result in results if not result.ok and not result.skipped]


def format_report(target: Target, results: list[ProbeResult]) -> str:
    lines = [f"probes for {target.label} at {target.url}:"]
    for result in results:
        lines.append(f"  {result.state:<7} {result}  [{result.duration_s * 1000:.0f} ms]")
    return "\n".join(lines)


def probe_until_ok(
    target: Target,
    timeout_s: float,
    retries: int,
    run=run_probes,
    sleep=time.sleep,
) -> tuple[list[ProbeResult], int]:
    """Run the probes up to 1 + `retries` times; returns the last results and attempts."""
    attempt = 0
    while True:
        attempt += 1
        results = run(target, timeout_s=timeout_s)
        if not failures(results) or attempt > retries:
            return results, attempt
        sleep(BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)])


def _failed_text(results: list[ProbeResult]) -> str:
    return "; ".join(str(result) for result in failures(results))


def roll_back(
    target: Target,
    plan: RollbackPlan | None,
    timeout_s: float,
    retries: int,
    run_shell=None,
    probe=probe_until_ok,
    run_as: dict | None = None,
) -> str:
    """Undo this run's release switch on the current host when there is one (its command
    run with `run_as`, the host's privilege arguments); returns what happened, as the end of
    the deploy's failure message."""
    if plan is None:
        return "app_rollback_on_failure is off: no rollback"
    why_not = plan.switch.why_no_rollback()
    if why_not:
        return why_not
    previous = plan.switch.previous
    logger.warning(f"{target.label}: rolling back to release {previous}")
    started = time.monotonic()
    ok, output = (run_shell or partial(host.run_shell_command, **(run_as or {})))(plan.command)
    if not ok:
        return f"rollback to release {previous} FAILED: {output.stderr.strip() or 'no message'}"
    results, attempts = probe(target, timeout_s, retries)
    seconds = time.monotonic() - started
    report = format_report(target, results)
    if failures(results):
        logger.error(f"{report}\n  (release {previous}, after {attempts} attempts)")
        return (
            f"rolled back to release {previous}, which FAILS its probes too "
            f"({seconds:.1f} s): {_failed_text(results)}"
        )
    logger.warning(f"{report}\n  release {previous} passes (attempt {attempts})")
    return (
        f"rolled back to release {previous}: it passes the probes again "
        f"({seconds:.1f} s after the rollback started); release {plan.switch.new} stays in "
        "releases/ for inspection"
    )


def _verify(
    target: Target,
    timeout_s: float,
    retries: int,
    rollback: RollbackPlan | None = None,
    run_as: dict | None = None,
) -> None:
    results, attempts = probe_until_ok(target, timeout_s, retries)
    report = format_report(target, results)
    failed = failures(results)
    if failed:
        logger.error(f"{report}\n  (after {attempts} attempts)")
        release = f" on release {rollback.switch.new}" if rollback else ""
        outcome = roll_back(target, rollback, timeout_s, retries, run_as=run_as)
        raise VerifyError(
            f"{target.label}: {len(failed)} probe(s) failed{release}: "
            f"{_failed_text(results)}; {outcome}"
        )
    logger.info(f"{report}\n  all probes passed (attempt {attempts})")


def _verify_step(state, host, **arguments) -> bool:
    """`_verify` as pyinfra's callback: a failure is the deploy's error message and a failed
    operation, not a Python traceback (pyinfra passes `state` and `host` to a callback that
    names them, and takes its return value as the operation's status)."""
    try:
        _verify(**arguments)
    except VerifyError as error:
        host.log_styled(f"VerifyError: {error}", fg="red", log_func=logger.error)
        return False
    return True


def privilege_arguments() -> dict:
    """The current host's PRIVILEGE_ARGUMENTS as its operations get them (CLI, deploy, data)."""
    arguments, _found = pop_global_arguments(state, host, {})
    return {key: arguments[key] for key in PRIVILEGE_ARGUMENTS if arguments.get(key)}


@deploy("Verify the deploy from outside the host")
def verify_deploy() -> None:
    data = host.data.dict()
    if not data.get("verify_enabled", True):
        host.noop("verify_enabled is False: no probes")
        return
    target = target_for(data, host.name)
    rollback = plan_rollback(data) if data.get("app_rollback_on_failure", True) else None
    python.call(
        name="Probe the service from this machine: health, the /ws upgrade, Socket.IO.",
        function=_verify_step,
        target=target,
        timeout_s=data["verify_timeout_s"],
        retries=data["verify_retries"],
        rollback=rollback,
        run_as=privilege_arguments() if rollback else None,
    )
