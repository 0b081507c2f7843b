"""One clear line naming what to install when sandbox hosts cannot run here."""

from __future__ import annotations

import os
import shutil

import pytest

from wsready import cli
from wsready.sandbox import image as sandbox_image
from wsready.sandbox import prereq as sandbox_prereq


def _which(missing: set[str]):
    return lambda cmd: None if cmd in missing else f"/usr/bin/{cmd}"


def test_everything_present_means_no_reason():
    assert sandbox_prereq.missing_prerequisite("linux", 0, _which(set())) is None


def test_not_linux():
    reason = sandbox_prereq.missing_prerequisite("darwin", 0, _which(set()))
    assert reason == "wsready sandbox needs Linux with systemd-nspawn (this is darwin)"


def test_not_root():
    reason = sandbox_prereq.missing_prerequisite("linux", 1000, _which(set()))
    assert "needs root" in reason


def test_missing_nspawn_names_the_debian_package():
    reason = sandbox_prereq.missing_prerequisite("linux", 0, _which({"systemd-nspawn"}))
    assert reason == "wsready sandbox needs systemd-nspawn: apt-get install systemd-container"


def test_several_missing_commands_in_one_line_without_duplicate_packages():
    reason = sandbox_prereq.missing_prerequisite(
        "linux", 0, _which({"debootstrap", "tinyproxy", "zstd", "ssh", "ssh-keygen"})
    )
    assert reason == (
        "wsready sandbox needs debootstrap, tinyproxy, zstd, ssh, ssh-keygen: "
        "apt-get install debootstrap tinyproxy zstd openssh-client"
    )
    assert "\n" not in reason


def test_cli_exits_unknown_with_the_reason(monkeypatch, capsys):
    def must_not_build(**_kwargs):
        raise AssertionError("the prerequisite check must stop `up` before any work")

    monkeypatch.setattr(sandbox_image, "ensure_image", must_not_build)
    monkeypatch.setattr(sandbox_prereq.shutil, "which", _which({"tinyproxy"}))
    monkeypatch.setattr(sandbox_prereq.os, "geteuid", lambda: 0)
    assert cli.main(["sandbox", "up", "--inventory", "/nonexistent/x.py"]) == 3
    assert capsys.readouterr().err.strip() == (
        "wsready sandbox needs tinyproxy: apt-get install tinyproxy"
    )


@pytest.mark.parametrize("value", ["0", "21", "two", "-1"])
def test_bad_host_count_is_a_usage_error(value, capsys):
    assert cli.main(["sandbox", "up", "--hosts", value]) == 3
    assert f"hosts = '{value}'" in capsys.readouterr().err


def test_root_sbin_directories_are_appended_once_and_in_order():
    assert sandbox_prereq.with_sbin("/usr/bin:/bin") == (
        "/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
    )
    assert sandbox_prereq.with_sbin("/usr/sbin:/usr/bin") == (
        "/usr/sbin:/usr/bin:/usr/local/sbin:/sbin"
    )
    assert sandbox_prereq.with_sbin("") == "/usr/local/sbin:/usr/sbin:/sbin"


def test_require_finds_commands_in_sbin_from_a_bare_path(monkeypatch):
    """A shell with PATH=/usr/bin:/bin (cron, env -i) still finds debootstrap in /usr/sbin."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr(sandbox_prereq.os, "geteuid", lambda: 0)
    sandbox_prereq.require()
    assert "/usr/sbin" in os.environ["PATH"].split(os.pathsep)
    assert shutil.which("debootstrap") == "/usr/sbin/debootstrap"
