"""tasks.verify.verify_deploy at plan time: the Plan it hands to the probe callback — this
run's fingerprints, what the host served before (from its live site, `current` and env
file), the rollback and commit commands — and no secret in what pyinfra may print."""

from __future__ import annotations

import fakehost

from tasks import transaction
from tasks.verify import verify_deploy
from wsready.deploy import app_release, capacity
from wsready.deploy.app_config import BUNDLED_APP, app_config
from wsready.deploy.nginx_config import LIVE, nginx_config
from wsready.deploy.plan import host_plan
from wsready.deploy.verify import Fingerprints, plan_verify
from wsready.fleet import tokens
from wsready.hostdata import HostConfig

SECRET = "jwt-secret-for-verify-operations-0123456789"
DATA = {"verify_address": "10.200.1.2"}
CONFIG = HostConfig.from_data(fakehost.HOST, DATA)
NEW = app_release.scan(BUNDLED_APP).hash
CURRENT = "/opt/wsready-app/current"
CONFIG_LINE = (
    "sed -n 's/^APP_CONFIG_FINGERPRINT=\"\\(.*\\)\"$/\\1/p' /etc/wsready-app/env 2>/dev/null; true"
)
WORKERS_LINE = (
    "systemctl list-units --plain --no-legend --state=active 'wsready-app@*.service' | wc -l"
)
DEBIAN = {
    "hardware.Cpus": 1,
    "server.LinuxDistribution": {
        "name": "Debian",
        "major": 12,
        "minor": None,
        "release_meta": {"ID": "debian", "VERSION_ID": "12"},
    },
}


def _plan_verify():
    """plan_verify as verify_deploy calls it."""
    return plan_verify(host_plan(), tokens.probe_token_source(host_plan().data))


def planned(facts: dict, data: dict = DATA):
    plans = []
    fakehost.run(lambda: plans.append(_plan_verify()), {**DEBIAN, **facts}, data)
    return plans[0]


def test_this_runs_fingerprints_are_the_planned_nginx_and_app_configs() -> None:
    plan = planned({})
    sized = capacity.plan(CONFIG, 1)
    site = nginx_config(CONFIG, sized, "debian").fingerprint
    app = app_config(CONFIG, app_release.scan(BUNDLED_APP), 1, None).fingerprint
    assert plan.fingerprints == Fingerprints(site=site, release=NEW, config=app, workers=1)
    assert plan.rollback == transaction.rollback_command("wsready-app")
    assert plan.commit == "rm -rf /etc/wsready/transaction"
    assert (plan.timeout_s, plan.retries) == (10, 3)


def test_a_first_deploy_has_no_previous_fingerprints() -> None:
    assert planned({}).previous is None


def test_previous_fingerprints_come_from_the_live_site_link_and_env_file() -> None:
    facts = {
        "files.FileContents": {
            LIVE: ["server {", '    add_header X-Wsready-Config "0123456789abcdef" always;']
        },
        "files.Link": {CURRENT: {"link_target": "releases/0123456789ab"}},
        "server.Command": {CONFIG_LINE: "cafecafecafecafe\n", WORKERS_LINE: "2\n"},
    }
    assert planned(facts).previous == Fingerprints(
        "0123456789abcdef", release="0123456789ab", config="cafecafecafecafe", workers=2
    )
    # A host of older deploys: a site without the header, an env file without the line.
    older = {"files.Link": facts["files.Link"], "server.Command": {WORKERS_LINE: "1\n"}}
    assert planned(older).previous == Fingerprints(None, release="0123456789ab")


def test_rest_elsewhere_checks_only_the_site_header() -> None:
    data = {**DATA, "nginx_rest_upstream": "http://10.0.0.9:8080"}
    plan = planned({"files.Link": {CURRENT: {"link_target": "releases/old"}}}, data)
    assert plan.fingerprints.release is None and plan.fingerprints.config is None
    assert plan.fingerprints.workers is None and plan.fingerprints.site is not None
    assert plan.previous == Fingerprints(None)


def test_auth_is_proven_with_a_minted_token_or_the_named_one() -> None:
    jwt = {**DATA, "app_auth": "jwt", "app_jwt_secret": SECRET}
    plan = planned({}, jwt)
    assert plan.auth is True and plan.token() and plan.target.token is None
    static = planned({}, {**DATA, "app_auth": "static", "app_static_token_hashes": ["a" * 64]})
    assert static.auth is False and static.token() is None  # needs verify_token_env
    assert planned({}).auth is False


def test_verify_hands_the_plan_and_the_hosts_sudo_to_the_callback() -> None:
    data = {**DATA, "app_auth": "jwt", "app_jwt_secret": SECRET, "_sudo": True}
    (call,) = fakehost.commands(fakehost.run(verify_deploy, DEBIAN, data))
    assert call.startswith("FunctionCommand(verify_step, (), {'plan': Plan(target=Target(")
    assert "'run_as': {'_sudo': True}" in call
    assert (
        "rollback='/usr/local/sbin/wsready-rollback /etc/wsready/transaction wsready-app'" in call
    )
    assert SECRET not in call and "token" not in call.replace("Target(", "")
    (off,) = fakehost.commands(
        fakehost.run(verify_deploy, DEBIAN, {**DATA, "app_rollback_on_failure": False})
    )
    assert "rollback=None" in off and "'run_as': None" in off


def test_verify_off_commits_without_probes() -> None:
    results = fakehost.run(verify_deploy, {}, {**DATA, "verify_enabled": False})
    assert fakehost.commands(results) == ["FunctionCommand(_commit, (), {})"]
    assert fakehost.changed(results) == [
        "Verify the deploy from outside the host | Commit the run's changes"
        " (verify_enabled is False: no probes)."
    ]
