"""tasks.verify.verify_deploy at plan time: the rollback it hands to the probe callback,
read from `current` as it is before the run."""

from __future__ import annotations

import fakehost

from tasks.app import BUNDLED_APP, plan_rollback
from tasks.verify import verify_deploy
from wsready import app_release, hostdata

DATA = hostdata.with_defaults({"verify_address": "10.200.1.2"})
NEW = app_release.scan(BUNDLED_APP).hash
CURRENT = "/opt/wsready-app/current"


def planned(link_target: str | None, data: dict = DATA):
    facts = {"files.Link": {CURRENT: {"link_target": link_target}}} if link_target else {}
    plans = []
    fakehost.run(lambda: plans.append(plan_rollback(data)), facts, data)
    return plans[0]


def test_a_new_release_over_an_old_one_can_be_rolled_back() -> None:
    plan = planned("releases/0123456789ab")
    assert (plan.switch.new, plan.switch.previous) == (NEW, "0123456789ab")
    assert plan.command.startswith("cd /opt/wsready-app && { [ -d releases/0123456789ab ] || {")
    assert plan.command.endswith("systemctl daemon-reload && systemctl restart wsready-app.target")
    for restored in ("env", "wsready-app@.service", "wsready-app.target"):
        assert f"cp -p /etc/wsready-app/rollback/{restored} /etc/" in plan.command
    assert (
        "cp -p /etc/wsready-app/rollback/wsready-app@.service"
        " /etc/systemd/system/wsready-app@.service" in plan.command
    )


def test_first_release_or_same_release_has_no_rollback_command() -> None:
    assert planned(None).command is None
    same = planned(f"releases/{NEW}")
    assert same.command is None and not same.switch.changes


def test_verify_hands_the_plan_and_the_hosts_sudo_to_the_callback() -> None:
    (call,) = fakehost.commands(fakehost.run(verify_deploy, {}, {**DATA, "_sudo": True}))
    assert "'rollback': RollbackPlan(switch=Switch(new=" in call
    assert "'run_as': {'_sudo': True}" in call
    (off,) = fakehost.commands(
        fakehost.run(verify_deploy, {}, {**DATA, "app_rollback_on_failure": False})
    )
    assert "'rollback': None, 'run_as': None" in off
