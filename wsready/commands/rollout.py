"""`wsready rollout`: deploy a fleet in batches, proving each batch before the next.

    wsready rollout inventory/production.py --batch 2
    wsready rollout inventory/production.py -- --data app_source=/srv/releases/v42

Each batch runs `pyinfra -y INVENTORY DEPLOY --limit HOST … [PYINFRA ARGS]`, then the probes
from this machine against each host of the batch. Behind a front door (an ALB: lb_enabled;
the sandbox's `balancer` group), each app host is first taken out of the balancer and
drained, and put back (healthy) once its probes pass. The first failure stops the rollout:
it names the host and the broken layer, lists the hosts left untouched and exits 2. Hosts with
app_auth = "jwt" are probed with a short-lived token minted from their own secret, and the
deploy's verify step gets one too when the variable named by verify_token_env is not set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping

from wsready import inventory, validate
from wsready.environment import Environment
from wsready.errors import WsreadyError
from wsready.exitstatus import ExitStatus
from wsready.fleet import front_door, rollout, tokens
from wsready.hostdata import HostConfig
from wsready.validate import ConfigError

PROBE_RETRY_WAIT_S = 2.0  # between probe runs of a host that failed (no backoff)


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=1, help="hosts per batch (default 1)")
    parser.add_argument("--deploy", default="deploy.py", help="deploy file (default deploy.py)")
    parser.add_argument(
        "--probe-timeout", type=float, default=5.0, help="seconds per probe (default 5)"
    )
    parser.add_argument(
        "--probe-retries",
        type=int,
        default=3,
        help="probe again this many times, 2 s apart, before a host counts as failed",
    )
    parser.add_argument(
        "--token-env", help="environment variable with a token, for hosts without app_jwt_secret"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rollout",
        help="deploy in batches; each batch's probes must pass before the next starts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inventory", help="pyinfra inventory file")
    _add_options(parser)
    parser.add_argument(
        "rest",
        nargs=argparse.REMAINDER,
        metavar="-- PYINFRA ARGS",
        help="passed to every pyinfra run",
    )
    parser.set_defaults(handler=run, parser=parser)


def split_rest(args: argparse.Namespace) -> argparse.Namespace:
    """Arguments after INVENTORY land in `rest` (argparse REMAINDER). Our options are picked
    out of it; everything else is passed to pyinfra in order (none of pyinfra's options shares
    a name with ours). The `--` separator is optional."""
    options = type(args.parser)(prog=args.parser.prog, add_help=False)
    _add_options(options)
    rest = [arg for arg in args.rest if arg != "--"]
    defaults = vars(options.parse_args([]))
    ours, pyinfra_args = options.parse_known_args(rest)
    for key, value in vars(ours).items():
        if value != defaults[key]:
            setattr(args, key, value)
    args.pyinfra_args = pyinfra_args
    return args


def _sayer(env: Environment) -> Callable[[str], None]:
    """Progress lines on stdout, flushed so they interleave with pyinfra's output."""
    return lambda line: env.out(f"rollout: {line}", flush=True)


def check_host(
    config: HostConfig, token: str | None, timeout_s: float, retries: int
) -> rollout.HostVerdict:
    """Probe one host until it passes or `retries` runs more have failed; say why it failed."""
    from wsready.probes import run_probes
    from wsready.probes.diagnosis import diagnose
    from wsready.probes.retry import RetryPolicy

    name = config.name
    started = time.monotonic()
    target = config.target(tokens.probe_token(config, token))
    results, _attempts = RetryPolicy(retries + 1, PROBE_RETRY_WAIT_S, 1.0).run(
        lambda _number: run_probes(target, timeout_s=timeout_s),
        lambda seen: all(result.ok or result.skipped for result in seen),
    )
    failed = [result for result in results if not result.ok and not result.skipped]
    if not failed:
        return rollout.HostVerdict(name, True, "", time.monotonic() - started)
    diagnosis = diagnose(target, results)
    evidence = "; ".join(str(result) for result in failed)
    reason = f"{diagnosis.title} [{diagnosis.layer}]: {evidence}; fix: {diagnosis.fix}"
    return rollout.HostVerdict(name, False, target.redact(reason), time.monotonic() - started)


def deploy_batch(
    args: argparse.Namespace, hosts: Mapping[str, HostConfig], batch: list[str], env: Environment
) -> rollout.DeployRun:
    """pyinfra for one batch, its output passed through as it comes and kept for the
    verify step's error lines."""
    say = _sayer(env)
    argv = rollout.pyinfra_argv(args.inventory, args.deploy, batch, args.pyinfra_args)
    try:
        minted = tokens.verify_step_tokens(hosts, batch, env.environ)
    except ConfigError as error:
        say(
            f"cannot mint a token for the verify step: {error}"
            " (or give these hosts different verify_token_env variables)"
        )
        return rollout.DeployRun(ExitStatus.UNKNOWN)
    for variable in minted:
        say(f"{variable}: a token minted for the verify step ({tokens.PROBE_TOKEN_TTL_S} s)")
    say(f"$ {' '.join(argv)}")
    lines: list[str] = []
    with subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**env.environ, **minted}, text=True, bufsize=1,
    ) as process:  # fmt: skip
        for line in process.stdout:
            env.write(line)
            lines.append(line)
    env.flush()
    return rollout.DeployRun(process.returncode, rollout.verify_errors(lines, batch))


def door_steps(
    door: front_door.FrontDoor | None, apps: Mapping[str, HostConfig], say: Callable[[str], None]
) -> dict[str, Callable[[str], str | None]]:
    """rollout.run's drain/restore for the app hosts behind the fleet's front door.

    A host whose deploy replaces its workers by generations (app_restart "generations") stays
    behind it: its new generation serves before the old one drains (paced), so each of its
    clients moves once, on its own host. Taken out, its clients would move to another host,
    and again when that host's turn came."""
    if door is None:
        return {}
    say(f"front door: {door.description}")
    live = [name for name, config in apps.items() if config.app_restart == "generations"]
    if live:
        say(
            f"front door: {', '.join(live)} stay behind it during their deploys (app_restart "
            '"generations": the new workers serve before the old ones drain, so each client '
            "moves once, on its own host)"
        )

    def step(
        action: Callable[[str, Callable[[str], None]], None],
    ) -> Callable[[str], str | None]:
        def run_step(name: str) -> str | None:
            if name not in apps or name in live:
                return None  # a Redis or balancer host, or one that keeps serving
            try:
                action(name, say)
            except WsreadyError as error:
                return str(error)
            return ""

        return run_step

    return {"drain": step(door.drain), "restore": step(door.restore)}


def run(args: argparse.Namespace, env: Environment) -> int:
    args = split_rest(args)
    # Every host's data is judged before any host is touched.
    loaded = inventory.load(args.inventory)
    hosts = {host.name: HostConfig.from_data(host.name, host.data) for host in loaded}
    groups = {host.name: host.groups for host in loaded}
    door = front_door.front_door(hosts, groups)
    batches = rollout.plan(list(hosts), args.batch)
    if not os.path.isfile(args.deploy):
        raise ConfigError("--deploy", args.deploy, "no such deploy file")
    if shutil.which("pyinfra", path=env.environ.get("PATH")) is None:
        raise ConfigError("pyinfra", None, "is not on PATH (pip install -e . installs it)")
    if not 0 <= args.probe_retries <= 20:
        raise ConfigError("--probe-retries", args.probe_retries, "must be 0 to 20")
    validate.positive_number("--probe-timeout", args.probe_timeout, high=300)
    fallback = env.variable("--token-env", args.token_env) if args.token_env else None
    say = _sayer(env)
    shape = " ".join(f"[{', '.join(batch)}]" for batch in batches)
    sizes = (
        f"{rollout.count(len(hosts), 'host')} in {rollout.count(len(batches), 'batch', 'batches')}"
    )
    say(f"{sizes}: {shape}")
    report = rollout.run(
        batches,
        deploy=lambda batch: deploy_batch(args, hosts, batch, env),
        check=lambda name: (
            rollout.HostVerdict(name, True, "a Redis host: the app hosts' probes prove it")
            if "redis" in groups[name]
            else check_host(hosts[name], fallback, args.probe_timeout, args.probe_retries)
        ),
        say=say,
        **door_steps(door, front_door.app_hosts(hosts, groups), say),
    )
    for line in rollout.summary(report):
        say(line)
    return ExitStatus.OK if report.ok else ExitStatus.CRITICAL
