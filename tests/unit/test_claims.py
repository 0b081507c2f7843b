"""wsready.deploy.claims: a host's users, groups, /etc entries, units and app_dir that wsready
did not make are refused before the deploy changes anything (the fact's answer judged)."""

from __future__ import annotations

from wsready.deploy import claims
from wsready.deploy.facts.claims import SystemClaims

APP, USER, DIR = "wsready-app", "wsready", "/opt/wsready-app"
OURS = f"wsready:x:998:998:{claims.USER_MARKER}:{DIR}:/usr/sbin/nologin"


def judge(**facts) -> list[str]:
    answer = {"passwd": "", "group": "", "etc": None, "app_dir": None, "units": {}} | facts
    return claims.conflicts(answer, APP, USER, DIR)


def test_a_fresh_host_and_a_host_wsready_deployed_are_free() -> None:
    assert judge() == []
    assert (
        judge(
            passwd=OURS,
            group="wsready:x:998:",
            etc="wsready",
            app_dir="wsready",
            units={f"/etc/systemd/system/{APP}.target": "wsready"},
        )
        == []
    )


def test_a_user_of_an_older_wsready_is_its_own() -> None:
    legacy = f"wsready:x:998:998::{DIR}:/usr/sbin/nologin"
    assert judge(passwd=legacy, group="wsready:x:998:") == []


def test_a_login_user_is_refused_naming_app_user() -> None:
    (error,) = judge(passwd="admin:x:1000:1000:Debian:/home/admin:/bin/bash")
    assert error.startswith("app_user = 'wsready': the host already has this user (uid 1000")


def test_a_system_user_with_the_app_dir_as_home_but_a_login_shell_is_refused() -> None:
    assert judge(passwd=f"wsready:x:998:998::{DIR}:/bin/bash", group="wsready:x:998:")


def test_a_group_that_is_not_the_users_own_is_refused() -> None:
    (error,) = judge(group="wsready:x:27:alice")
    assert "already has a group wsready (gid 27)" in error


def test_etc_units_and_app_dir_of_others_are_refused_naming_their_key() -> None:
    errors = judge(
        etc="other",
        app_dir="other",
        units={
            f"/lib/systemd/system/{APP}.service": "other",
            f"/etc/systemd/system/{APP}.target": "other",
        },
    )
    assert [error.split(" = ")[0] for error in errors] == ["app_name"] * 3 + ["app_dir"]
    # A package's unit is refused even when it says wsready wrote it (not ours to replace).
    assert judge(units={f"/usr/lib/systemd/system/{APP}.target": "wsready"})


def test_the_fact_reads_every_answer() -> None:
    fact = SystemClaims()
    command = fact.command(APP, USER, DIR)
    assert "getent passwd wsready" in command and f"/etc/{APP}/env" in command
    answer = fact.process(
        [
            f"passwd {OURS}",
            "group wsready:x:998:",
            "etc empty",
            "app_dir other",
            "app_dir_releases yes",
            f"unit /etc/systemd/system/{APP}.target wsready",
            f"unit /lib/systemd/system/{APP}.target ",
        ]
    )
    assert answer == {
        "passwd": OURS,
        "group": "wsready:x:998:",
        "etc": "empty",
        "app_dir": "wsready",  # it holds releases/
        "units": {f"/etc/systemd/system/{APP}.target": "wsready"},
    }
