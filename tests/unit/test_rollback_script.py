"""files/rollback/wsready-rollback.sh run for real with `dash`: the restored paths go under
WSREADY_ROLLBACK_ROOT (a temporary tree), and `systemctl`, `nginx`, `ufw` are shims on PATH
that log their arguments."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tasks.transaction import ROLLBACK_SCRIPT
from wsready.deploy import transaction

APP = "app"
SHELL = "dash"  # the POSIX shell of Debian hosts (asserted present below)


class Host:
    """A fake host: a root tree, transactions, shims and what they were asked."""

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "root"
        self.transactions = tmp / "transaction"
        self.bin = tmp / "bin"
        self.log = tmp / "calls.log"
        self.active = tmp / "active-units"  # what `systemctl list-units` answers
        self.nginx_t_fails = tmp / "nginx-t-fails"
        for directory in (self.root, self.transactions, self.bin):
            directory.mkdir()
        self.active.write_text("")
        shims = {
            "systemctl": f'echo "systemctl $*" >> {self.log}\n'
            f'case "$1" in list-units) cat {self.active} ;; esac\n',
            "nginx": f'echo "nginx $*" >> {self.log}\n'
            f'if [ -e {self.nginx_t_fails} ]; then echo "nginx: [emerg] unknown directive" >&2;'
            " exit 1; fi\n",
            "ufw": f'echo "ufw $*" >> {self.log}\n',
            "nft": f'echo "nft $*" >> {self.log}\n',
        }
        for name, body in shims.items():
            (self.bin / name).write_text(f"#!/bin/sh\n{body}")
            (self.bin / name).chmod(0o755)

    def file(self, path: str, content: str) -> Path:
        live = self.root / path.lstrip("/")
        live.parent.mkdir(parents=True, exist_ok=True)
        live.write_text(content)
        return live

    def transaction(self, run: str, actions: list[str], files=None, absent=(), units=None):
        """A transaction as save_command/units_command leave it."""
        directory = self.transactions / run
        directory.mkdir(parents=True)
        (directory / "actions").write_text("".join(f"{action}\n" for action in actions))
        for path, content in (files or {}).items():
            saved = directory / "files" / path.lstrip("/")
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(content)
        for path in absent:
            marker = directory / "absent" / path.lstrip("/")
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        if units is not None:
            (directory / "units").write_text("".join(f"{unit}\n" for unit in units))
        return directory

    def run(self, root: str | None = None, path: str | None = None) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "PATH": f"{self.bin}:{path or os.environ['PATH']}",
            "WSREADY_ROLLBACK_ROOT": str(self.root) if root is None else root,
        }
        return subprocess.run(
            [SHELL, str(ROLLBACK_SCRIPT), str(self.transactions), APP],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def fake(tmp_path: Path) -> Host:
    # Without the root prefix the script would restore into the real /etc: refuse to run.
    assert "prefix=${WSREADY_ROLLBACK_ROOT:-}" in ROLLBACK_SCRIPT.read_text()
    return Host(tmp_path)


def _units(*units: str) -> str:
    return "".join(f"{unit} loaded active running worker\n" for unit in units)


def test_newest_transaction_first_so_the_oldest_snapshot_wins(fake: Host) -> None:
    env = fake.file("/etc/app/env", 'V="third"\n')
    # Run 1 (killed before its verify) saw "first"; run 2 saw what run 1 wrote.
    fake.transaction("20261130T100000Z-1", ["app"], files={"/etc/app/env": 'V="first"\n'})
    fake.transaction("20261130T110000Z-2", ["app"], files={"/etc/app/env": 'V="second"\n'})
    done = fake.run()
    assert done.returncode == 0, done.stderr
    assert env.read_text() == 'V="first"\n'
    assert done.stdout.splitlines()[:2] == [
        "wsready-rollback: transaction 20261130T110000Z-2: 1 file(s) put back",
        "wsready-rollback: transaction 20261130T100000Z-1: 1 file(s) put back",
    ]
    assert not fake.transactions.exists()  # the transactions are gone


def test_absent_files_are_removed_and_links_restored_as_links(fake: Host) -> None:
    unit = fake.file("/etc/systemd/system/app.target", "new target\n")
    app_dir = fake.root / "opt" / "app"
    (app_dir / "releases" / "old").mkdir(parents=True)
    os.symlink("releases/new", app_dir / "current")
    run = fake.transaction("r1", ["app"], absent=["/etc/systemd/system/app.target"])
    (run / "files" / "opt" / "app").mkdir(parents=True)
    os.symlink("releases/old", run / "files" / "opt" / "app" / "current")
    done = fake.run()
    assert done.returncode == 0, done.stderr
    assert not unit.exists()
    assert os.readlink(app_dir / "current") == "releases/old"
    assert "transaction r1: 2 file(s) put back" in done.stdout
    assert not list(app_dir.glob("*.wsready-rollback"))


def test_units_not_running_before_are_stopped_and_the_listed_ones_restarted(fake: Host) -> None:
    fake.active.write_text(_units("app@0.service", "app@1.service", "app@2.service"))
    fake.transaction("r1", ["app"], units=["app@0.service", "app@1.service"])
    done = fake.run()
    assert done.returncode == 0, done.stderr
    assert fake.calls() == [
        "systemctl daemon-reload",
        "systemctl list-units --plain --no-legend --state=active app@*.service app.service",
        "systemctl disable --now app@2.service",
        "systemctl enable app@0.service",
        "systemctl enable app@1.service",
        "systemctl restart app@0.service app@1.service",
    ]
    assert "stopped app@2.service (not running before)" in done.stdout
    assert "restarted app@0.service app@1.service" in done.stdout


def test_the_oldest_units_list_wins_and_a_first_deploy_stops_everything(fake: Host) -> None:
    fake.active.write_text(_units("app@0.service"))
    fake.transaction("r1", ["app"], units=[])  # nothing ran before the first deploy
    fake.transaction("r2", ["app"], units=["app@0.service"])
    done = fake.run()
    assert done.returncode == 0, done.stderr
    assert "systemctl disable --now app@0.service" in fake.calls()
    assert not any(call.startswith("systemctl restart") for call in fake.calls())


def test_app_without_units_noted_only_reloads_systemd(fake: Host) -> None:
    fake.transaction("r1", ["app"], files={"/etc/app/env": "X=1\n"})
    assert fake.run().returncode == 0
    assert fake.calls() == ["systemctl daemon-reload"]


def test_nginx_is_reloaded_only_when_nginx_changed(fake: Host) -> None:
    fake.transaction("r1", ["nginx"], files={"/etc/nginx/nginx.conf": "old\n"})
    done = fake.run()
    assert done.returncode == 0, done.stderr
    assert fake.calls() == ["nginx -t", "systemctl reload-or-restart nginx"]
    assert (fake.root / "etc/nginx/nginx.conf").read_text() == "old\n"
    assert "nginx reloaded with the restored config" in done.stdout

    fake.log.unlink()
    fake.transaction("r2", ["app"], units=[])
    assert fake.run().returncode == 0
    assert not any("nginx" in call for call in fake.calls())


def test_a_restored_nginx_drop_in_restarts_nginx_after_systemd_reloads(fake: Host) -> None:
    dropin = "/etc/systemd/system/nginx.service.d/wsready-hardening.conf"
    live = fake.file(dropin, "[Service]\nReadWritePaths=/run\n")  # the broken one
    fake.transaction(
        "r1",
        ["nginx", "nginx-unit"],
        files={dropin: "[Service]\nProtectSystem=strict\n"},
        absent=["/etc/wsready/nginx/unit.sha256"],
    )
    done = fake.run()
    assert done.returncode == 0, done.stderr
    assert fake.calls() == ["nginx -t", "systemctl daemon-reload", "systemctl restart nginx"]
    assert live.read_text() == "[Service]\nProtectSystem=strict\n"
    assert "nginx restarted with the restored drop-in and config" in done.stdout


def test_nginx_not_reloaded_when_nginx_t_refuses_the_restored_config(fake: Host) -> None:
    fake.nginx_t_fails.touch()
    fake.transaction("r1", ["nginx"], files={"/etc/nginx/nginx.conf": "old\n"})
    done = fake.run()
    assert done.returncode == 1
    assert fake.calls() == ["nginx -t"]
    assert "nginx: [emerg] unknown directive" in done.stderr
    assert "nginx -t refused the restored config; nginx not reloaded" in done.stderr
    assert (fake.root / "etc/nginx/nginx.conf").read_text() == "old\n"  # files still restored
    assert not fake.transactions.exists()


def test_firewall_reloads_ufw_or_disables_it_when_it_was_disabled(fake: Host) -> None:
    fake.transaction("r1", ["firewall"], files={"/etc/ufw/ufw.conf": "ENABLED=yes\n"})
    done = fake.run()
    assert done.returncode == 0, done.stderr
    assert fake.calls() == ["ufw reload"]
    assert "ufw reloaded with the restored rules" in done.stdout

    fake.log.unlink()
    fake.transaction("r2", ["firewall"], files={"/etc/ufw/ufw.conf": "ENABLED=no\n"})
    assert fake.run().returncode == 0
    assert fake.calls() == ["ufw disable"]


def path_without(tmp: Path, *missing: str) -> str:
    """A PATH of one directory linking every command of this machine's PATH but `missing`."""
    tools = tmp / "path-without"
    tools.mkdir()
    for directory in reversed(os.environ["PATH"].split(os.pathsep)):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            if entry.name not in missing and os.access(entry.path, os.X_OK):
                link = tools / entry.name
                link.unlink(missing_ok=True)  # the earlier PATH entry wins, as in a shell
                link.symlink_to(entry.path)
    assert all(shutil.which(name, path=str(tools)) is None for name in missing)
    return str(tools)


def test_firewall_without_ufw_loads_the_restored_nft_table_or_deletes_a_new_one(
    fake: Host, tmp_path: Path
):
    (fake.bin / "ufw").unlink()  # Amazon Linux 2023: nftables only
    no_ufw = path_without(tmp_path, "ufw")  # nor a real one this machine may have
    fake.transaction("r1", ["firewall"], files={"/etc/wsready/firewall.nft": "table inet x\n"})
    assert fake.run(path=no_ufw).returncode == 0
    assert fake.calls() == [f"nft -f {fake.root}/etc/wsready/firewall.nft"]

    fake.log.unlink()
    (fake.root / "etc/wsready/firewall.nft").write_text("new\n")
    fake.transaction("r2", ["firewall"], absent=["/etc/wsready/firewall.nft"])
    done = fake.run(path=no_ufw)
    assert done.returncode == 0, done.stderr
    assert not (fake.root / "etc/wsready/firewall.nft").exists()
    assert fake.calls() == ["nft delete table inet wsready"]
    assert "nftables table removed (there was none before)" in done.stdout


def test_several_concerns_in_one_run_are_all_put_back(fake: Host) -> None:
    fake.transaction("r1", ["nginx", "app", "firewall", "app"], units=["app@0.service"])
    fake.active.write_text(_units("app@0.service"))
    assert fake.run().returncode == 0
    calls = fake.calls()
    assert "systemctl restart app@0.service" in calls
    assert "systemctl reload-or-restart nginx" in calls
    assert calls[-1] == "ufw reload"


def test_no_pending_transaction_changes_nothing(fake: Host) -> None:
    done = fake.run()
    assert done.returncode == 0
    assert "no pending transaction: nothing to put back" in done.stdout
    assert fake.calls() == []
    fake.transactions.rmdir()
    assert fake.run().returncode == 0


def test_save_command_then_rollback_round_trip(fake: Host, monkeypatch) -> None:
    """What save_command records, the script puts back (absolute tmp paths, empty root)."""
    monkeypatch.setattr(transaction, "TRANSACTIONS", str(fake.transactions))
    env = fake.file("/etc/app/env", "BEFORE\n")
    new_site = fake.root / "etc/nginx/conf.d/wsready.conf"
    save = transaction.save_command([str(env), str(new_site)], "nginx", run_id="r1")
    saved = subprocess.run(["sh", "-c", save], capture_output=True, text=True, timeout=30)
    assert saved.returncode == 0, saved.stderr
    env.write_text("AFTER\n")
    new_site.parent.mkdir(parents=True)
    new_site.write_text("server {}\n")
    done = fake.run(root="")  # the recorded paths are absolute already
    assert done.returncode == 0, done.stderr
    assert env.read_text() == "BEFORE\n"
    assert not new_site.exists()


def test_the_script_is_posix_and_shellcheck_clean() -> None:
    assert subprocess.run(["sh", "-n", str(ROLLBACK_SCRIPT)]).returncode == 0
    assert shutil.which("dash"), "dash is needed (Debian's /bin/sh)"
    assert subprocess.run(["dash", "-n", str(ROLLBACK_SCRIPT)]).returncode == 0
    assert shutil.which("shellcheck"), "shellcheck is needed (run scripts/setup)"
    checked = subprocess.run(
        ["shellcheck", "-s", "sh", str(ROLLBACK_SCRIPT)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout


def test_directories_get_their_mode_and_owner_back_and_new_ones_go(fake: Host, monkeypatch) -> None:
    """What save_directories_command records (an existing directory's mode and owner, a new
    one's absence), the script puts back: the deploy's chown/chmod are undone (issue 22:
    app_name "default" re-owned /etc/default and the rollback left it so)."""
    monkeypatch.setattr(transaction, "TRANSACTIONS", str(fake.transactions))
    system = fake.root / "etc/default"
    system.mkdir(parents=True)
    system.chmod(0o755)
    os.chown(system, 0, 0)
    created = fake.root / "opt/app"
    save = transaction.save_directories_command(
        [str(system), str(created.parent), str(created)], "app", run_id="r1"
    )
    again = transaction.save_directories_command([str(system)], "app", run_id="r1")
    for command in (save, again):
        saved = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
        assert saved.returncode == 0, saved.stderr
    assert len((fake.transactions / "r1" / "dirs").read_text().splitlines()) == 3  # once each
    os.chown(system, 0, 65534)  # what the deploy did: 0750 root:<app group>
    system.chmod(0o750)
    created.mkdir(parents=True)
    done = fake.run(root="")
    assert done.returncode == 0, done.stderr
    assert (system.stat().st_mode & 0o7777, system.stat().st_gid) == (0o755, 0)
    assert not created.exists() and not created.parent.exists()
