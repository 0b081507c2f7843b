"""Rolling deploy logic: batching, ordering, the stop rule, and what the transcript says."""

from __future__ import annotations

import itertools

import pytest

from wsready.fleet import rollout
from wsready.fleet.rollout import HostVerdict
from wsready.validate import ConfigError

HOSTS = ["web1", "web2", "web3", "web4", "web5"]


class FakeFleet:
    """Records deploys and checks in order; hosts in `broken` fail their probes."""

    def __init__(self, broken=(), deploy_exit=0, deploy_errors=None):
        self.broken = set(broken)
        self.deploy_exit = deploy_exit
        self.deploy_errors = deploy_errors or {}
        self.events: list[tuple[str, object]] = []

    def deploy(self, hosts):
        self.events.append(("deploy", tuple(hosts)))
        return rollout.DeployRun(self.deploy_exit, self.deploy_errors)

    def check(self, host):
        self.events.append(("check", host))
        if host in self.broken:
            return HostVerdict(host, False, "upgrade status (404) == 101: path mismatch", 0.2)
        return HostVerdict(host, True, "", 0.1)


def ticking_clock(step=1.0):
    counter = itertools.count()
    return lambda: next(counter) * step


def test_plan_cuts_hosts_in_order():
    assert rollout.plan(HOSTS, 2) == [["web1", "web2"], ["web3", "web4"], ["web5"]]
    assert rollout.plan(HOSTS, 1) == [[host] for host in HOSTS]
    assert rollout.plan(HOSTS, 10) == [HOSTS]


@pytest.mark.parametrize("size", [0, -1, True, 1.5, "2"])
def test_plan_refuses_a_bad_batch_size(size):
    with pytest.raises(ConfigError) as error:
        rollout.plan(HOSTS, size)
    assert error.value.key == "--batch"


def test_plan_refuses_no_hosts_and_duplicates():
    with pytest.raises(ConfigError, match="no hosts"):
        rollout.plan([], 1)
    with pytest.raises(ConfigError, match="more than once"):
        rollout.plan(["web1", "web2", "web1"], 1)


def test_pyinfra_argv_limits_each_host_and_passes_extra_args():
    argv = rollout.pyinfra_argv("inv.py", "deploy.py", ["web1", "web2"], ["--data", "a=b"])
    assert argv == [
        "pyinfra",
        "-y",
        "inv.py",
        "deploy.py",
        "--limit",
        "web1",
        "--limit",
        "web2",
        "--data",
        "a=b",
    ]


def test_every_batch_is_deployed_then_probed_before_the_next():
    fleet = FakeFleet()
    report = rollout.run(rollout.plan(HOSTS, 2), fleet.deploy, fleet.check, say=lambda _: None)
    assert report.ok
    assert report.untouched == []
    assert fleet.events == [
        ("deploy", ("web1", "web2")),
        ("check", "web1"),
        ("check", "web2"),
        ("deploy", ("web3", "web4")),
        ("check", "web3"),
        ("check", "web4"),
        ("deploy", ("web5",)),
        ("check", "web5"),
    ]


def test_probe_failure_stops_and_leaves_the_rest_untouched():
    fleet = FakeFleet(broken={"web1"})
    report = rollout.run(rollout.plan(HOSTS, 2), fleet.deploy, fleet.check, say=lambda _: None)
    assert not report.ok
    assert [event for event in fleet.events if event[0] == "deploy"] == [
        ("deploy", ("web1", "web2"))
    ]
    assert report.untouched == ["web3", "web4", "web5"]
    failures = report.batches[-1].failures()
    assert [verdict.host for verdict in failures] == ["web1"]


def test_failure_in_a_later_batch_keeps_the_earlier_ones():
    fleet = FakeFleet(broken={"web4"})
    report = rollout.run(rollout.plan(HOSTS, 1), fleet.deploy, fleet.check, say=lambda _: None)
    assert [batch.ok for batch in report.batches] == [True, True, True, False]
    assert report.untouched == ["web5"]


def test_failed_deploy_with_passing_probes_still_stops_and_blames_the_batch():
    fleet = FakeFleet(deploy_exit=1)
    report = rollout.run(rollout.plan(HOSTS, 2), fleet.deploy, fleet.check, say=lambda _: None)
    assert not report.ok
    assert len(report.batches) == 1
    failures = report.batches[0].failures()
    assert [verdict.host for verdict in failures] == ["web1", "web2"]
    assert failures[0].reason == "deploy exited 1 (see pyinfra's output); probes pass now"


def test_rolled_back_host_is_named_with_the_verify_steps_own_words():
    rolled_back = "1 probe(s) failed on release b: health status (502) == 200; rolled back to a"
    fleet = FakeFleet(deploy_exit=1, deploy_errors={"web2": rolled_back})
    report = rollout.run(rollout.plan(HOSTS, 2), fleet.deploy, fleet.check, say=lambda _: None)
    closing = rollout.summary(report)
    assert f"failed: web2: {rolled_back}; probes pass now" in closing
    assert "failed: web1: deploy exited 1 (see pyinfra's output); probes pass now" in closing


def test_verify_errors_are_read_from_pyinfra_output_by_host():
    output = [
        "    [web1] Success\n",
        "    [web2] VerifyError: web2: 2 probe(s) failed on release b: x; rolled back to a\n",
        "VerifyError: elsewhere: not in this batch\n",
        "    [web3] VerifyError: web3: 1 probe(s) failed: upgrade status (404) == 101\n",
    ]
    assert rollout.verify_errors(output, ["web1", "web2", "web3"]) == {
        "web2": "2 probe(s) failed on release b: x; rolled back to a",
        "web3": "1 probe(s) failed: upgrade status (404) == 101",
    }


def test_transcript_has_timings_and_names_failure_and_untouched_hosts():
    fleet = FakeFleet(broken={"web2"})
    lines: list[str] = []
    report = rollout.run(
        rollout.plan(HOSTS[:3], 1),
        fleet.deploy,
        fleet.check,
        say=lines.append,
        clock=ticking_clock(),
    )
    assert "batch 1/3 [web1]: deploying" in lines
    assert any(line.startswith("batch 1/3 [web1]: deploy exited 0 after ") for line in lines)
    assert (
        "batch 2/3 [web2]: web2: probes FAIL: upgrade status (404) == 101: path mismatch (0.2 s)"
        in lines
    )
    closing = rollout.summary(report)
    assert closing[0].startswith("batch 1: web1: ok (deploy ")
    assert closing[1].startswith("batch 2: web2: FAILED (deploy ")
    assert closing[2].startswith("rollout STOPPED at batch 2 after ")
    assert closing[3] == "failed: web2: upgrade status (404) == 101: path mismatch"
    assert closing[4] == "not touched (still on their previous release): web3"


def test_summary_of_a_clean_rollout_counts_hosts():
    fleet = FakeFleet()
    report = rollout.run(
        rollout.plan(HOSTS, 2),
        fleet.deploy,
        fleet.check,
        say=lambda _: None,
        clock=ticking_clock(0.5),
    )
    assert rollout.summary(report)[-1].startswith("rollout ok: 5 hosts in ")


def test_failed_last_batch_says_nothing_was_left():
    fleet = FakeFleet(broken={"web5"})
    report = rollout.run(rollout.plan(HOSTS, 2), fleet.deploy, fleet.check, say=lambda _: None)
    assert rollout.summary(report)[-1] == "not touched: none (the failed batch was the last)"


@pytest.mark.parametrize(
    ("argv", "batch", "deploy", "pyinfra_args"),
    [
        (["inv.py", "--batch", "2", "--", "--data", "a=b"], 2, "deploy.py", ["--data", "a=b"]),
        (["inv.py", "--", "-vvv", "--limit", "x"], 1, "deploy.py", ["-vvv", "--limit", "x"]),
        (["--batch", "3", "inv.py", "--deploy", "d.py"], 3, "d.py", []),
        (
            ["inv.py", "--data", "app_source=/a b", "--batch", "2"],
            2,
            "deploy.py",
            ["--data", "app_source=/a b"],
        ),
    ],
)
def test_cli_separates_our_options_from_pyinfra_arguments(argv, batch, deploy, pyinfra_args):
    from wsready.cli import build_parser
    from wsready.commands.rollout import split_rest

    args = split_rest(build_parser().parse_args(["rollout", *argv]))
    assert (args.inventory, args.batch, args.deploy) == ("inv.py", batch, deploy)
    assert args.pyinfra_args == pyinfra_args


SECRET = "rollout-unit-secret-0123456789abcdef-xyz"


def configs(hosts: dict[str, dict]) -> dict:
    """Each host's HostConfig, as `wsready rollout` builds them from the inventory."""
    from wsready.hostdata import HostConfig

    return {name: HostConfig.from_data(name, data) for name, data in hosts.items()}


def test_verify_step_gets_a_token_minted_from_the_batch_secret():
    import jwt

    from wsready.fleet.tokens import verify_step_tokens

    jwt_host = {
        "app_auth": "jwt",
        "app_jwt_secret": SECRET,
        "app_jwt_audience": "api",
        "app_jwt_issuer": "wsready-tests",
        "verify_token_env": "DEPLOY_TOKEN",
    }
    hosts = {"web1": jwt_host, "web2": dict(jwt_host), "web3": {"verify_token_env": "OTHER"}}
    minted = verify_step_tokens(configs(hosts), ["web1", "web2", "web3"], environ={})
    assert list(minted) == ["DEPLOY_TOKEN"]  # web3 does not check tokens: nothing to mint
    claims = jwt.decode(
        minted["DEPLOY_TOKEN"],
        SECRET,
        algorithms=["HS256"],
        audience="api",
        issuer="wsready-tests",  # the app checks app_jwt_issuer when it is set
    )
    assert claims["exp"] - claims["iat"] == 300


def test_verify_token_already_in_the_environment_is_kept():
    from wsready.fleet.tokens import verify_step_tokens

    hosts = {"web1": {"app_auth": "jwt", "app_jwt_secret": SECRET, "verify_token_env": "T"}}
    assert verify_step_tokens(configs(hosts), ["web1"], environ={"T": "given"}) == {}


def test_one_variable_for_two_secrets_is_refused():
    from wsready.fleet.tokens import verify_step_tokens

    hosts = {
        "web1": {"app_auth": "jwt", "app_jwt_secret": SECRET, "verify_token_env": "T"},
        "web2": {"app_auth": "jwt", "app_jwt_secret": SECRET + "2", "verify_token_env": "T"},
    }
    with pytest.raises(ConfigError, match="--host"):
        verify_step_tokens(configs(hosts), ["web1", "web2"], environ={})


def test_counts_read_as_english():
    assert rollout.count(1, "host") == "1 host"
    assert rollout.count(3, "host") == "3 hosts"
    assert rollout.count(1, "batch", "batches") == "1 batch"
    assert rollout.count(2, "batch", "batches") == "2 batches"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--batch", "0"], "--batch = 0"),
        (["--deploy", "absent.py"], "--deploy = 'absent.py'"),
        (["--probe-retries", "-1"], "--probe-retries = -1"),
        (["--probe-retries", "1000"], "--probe-retries = 1000"),
        (["--probe-timeout", "nan"], "--probe-timeout = nan"),
        (["--probe-timeout", "inf"], "--probe-timeout = inf"),
        (["--token-env", "WSREADY_UNIT_UNSET"], "--token-env = 'WSREADY_UNIT_UNSET'"),
    ],
)
def test_bad_input_exits_unknown_before_any_deploy(tmp_path, capsys, monkeypatch, extra, named):
    from wsready import cli
    from wsready.commands import rollout as command

    monkeypatch.delenv("WSREADY_UNIT_UNSET", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deploy.py").write_text("")
    inventory = tmp_path / "fleet.py"
    inventory.write_text('hosts = ["web1", "web2"]\n')
    monkeypatch.setattr(command.subprocess, "run", lambda *a, **k: pytest.fail("deployed"))
    assert cli.main(["rollout", str(inventory), *extra]) == 3
    out, err = capsys.readouterr()
    assert named in err
    assert out == ""  # nothing deployed, nothing announced


def test_front_door_drains_before_the_deploy_and_restores_after_the_probes():
    fleet = FakeFleet()
    events: list[str] = []
    deploy = fleet.deploy

    def deploying(batch):
        events.append(f"deploy {','.join(batch)}")
        return deploy(batch)

    report = rollout.run(
        rollout.plan(HOSTS, 1)[:2],
        deploying,
        fleet.check,
        say=lambda _: None,
        drain=lambda host: events.append(f"drain {host}") or "",
        restore=lambda host: events.append(f"restore {host}") or "",
    )

    assert report.batches[0].ok and report.batches[1].ok
    assert events == [
        f"drain {HOSTS[0]}", f"deploy {HOSTS[0]}", f"restore {HOSTS[0]}",
        f"drain {HOSTS[1]}", f"deploy {HOSTS[1]}", f"restore {HOSTS[1]}",
    ]  # fmt: skip


def test_a_host_that_does_not_drain_is_not_deployed_and_stops_the_rollout():
    fleet = FakeFleet()

    report = rollout.run(
        rollout.plan(HOSTS, 1),
        fleet.deploy,
        fleet.check,
        say=lambda _: None,
        drain=lambda host: "draining i-1: still draining after 90 s",
        restore=lambda host: "",
    )

    assert not report.ok and fleet.events == []
    assert [str(v.reason) for v in report.batches[0].failures()] == [
        "front door: draining i-1: still draining after 90 s"
    ]


def test_hosts_not_behind_the_front_door_are_deployed_without_a_word_of_it():
    fleet = FakeFleet()
    said: list[str] = []

    report = rollout.run(
        [["web1"], ["cache1"]],
        fleet.deploy,
        fleet.check,
        say=said.append,
        drain=lambda host: "" if host == "web1" else None,
        restore=lambda host: "" if host == "web1" else None,
    )

    assert report.ok
    assert [line for line in said if "drained" in line or "front door" in line] == [
        "batch 1/2 [web1]: web1: drained",
        "batch 1/2 [web1]: web1: back behind the front door",
    ]


def test_hosts_deployed_by_generations_stay_behind_the_front_door():
    """app_restart "generations" (the default): the host serves throughout its deploy, so it
    is not taken out (its clients would move to another host, then again at that host's
    turn); a host that restarts its workers in place is drained and put back."""
    from wsready.commands.rollout import door_steps
    from wsready.hostdata import HostConfig

    apps = {
        "web1": HostConfig.from_data("web1", {}),
        "web2": HostConfig.from_data("web2", {"app_restart": "one-at-a-time"}),
    }
    events: list[str] = []

    class Door:
        description = "a test door"

        def drain(self, name, log):
            events.append(f"drain {name}")

        def restore(self, name, log):
            events.append(f"restore {name}")

    said: list[str] = []
    report = rollout.run(
        rollout.plan(["web1", "web2"], 1),
        lambda batch: events.append(f"deploy {batch[0]}") or rollout.DeployRun(0),
        lambda host: HostVerdict(host, True),
        say=said.append,
        **door_steps(Door(), apps, said.append),
    )
    assert report.ok
    assert events == ["deploy web1", "drain web2", "deploy web2", "restore web2"]
    assert "front door: web1 stay behind it during their deploys" in said[1], said
