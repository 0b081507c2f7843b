"""Issue 22, "Nothing gets in, part two", end to end.

1. A check of a fleet with one hostile target of each kind (tests/hostile_servers.py: a
   400-digit client count, a body trickled a byte every 0.5 s, a 300 MiB body, escape
   sequences and a target-chosen Location) beside good targets (the project's app on
   loopback; marked e2e: the sandbox fleet's hosts): the good targets are reported OK, the
   Prometheus file holds every target, the exit status is the worst real one, no escape
   reaches the terminal, the alert carries no target-chosen URL, and the run ends within
   its deadline with bounded memory.
2. (e2e) Each family of hostile host data (system names, an existing user, system
   directories, app_env overrides, weakening settings, package.json and symlinks) stops the
   deploy in its preflight naming the key, and the host is unchanged: hashes and modes of
   /etc's top-level entries, `systemctl get-default`, /etc/passwd and /etc/group.
3. (e2e) A `preinstall` script in the app runs as the app's user, never root.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest

from tests.e2e.conftest import Fleet, host_ssh, redeploy
from tests.e2e.test_check import ROOT, LoopbackApp, Receiver, free_port, metrics
from tests.e2e.variants import app_variant, crash_at_start
from tests.hostile_servers import EVIL_URL, all_kinds
from wsready.deploy import app_release

TIMEOUT_S = 2
# The check's own bound: the hostile targets' probes each end at their 2 s deadline.
DEADLINE_S = 60


# `wsready check` in a process that reports its own peak RSS on stderr when it exits.
_MEASURED = (
    "import atexit, resource, sys; "
    "atexit.register(lambda: sys.stderr.write("
    "'PEAK_RSS_KB=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)); "
    "from wsready.cli import main; sys.exit(main(sys.argv[1:]))"
)


def run_check(*args: str) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """`wsready check ARGS` as a process: (result, wall seconds, its peak RSS in MiB)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED, "check", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=DEADLINE_S * 3,
    )
    seconds = time.monotonic() - started
    peak = [line for line in result.stderr.splitlines() if line.startswith("PEAK_RSS_KB=")]
    assert peak, result.stderr
    return result, seconds, int(peak[-1].split("=")[1]) // 1024


def unsafe_strings(item: object) -> list[str]:
    """Every string in `item` (JSON data) holding a control or bidi character."""
    if isinstance(item, str):
        bad = any(unicodedata.category(char) in ("Cc", "Cf") for char in item)
        return [item] if bad else []
    if isinstance(item, dict):
        return [text for pair in item.items() for part in pair for text in unsafe_strings(part)]
    if isinstance(item, list):
        return [text for part in item for text in unsafe_strings(part)]
    return []


def check_hostile_fleet(good: list[str], tmp_path: Path) -> None:
    """The check of `good` targets plus one hostile target of each kind, judged."""
    state, prom = tmp_path / "state.json", tmp_path / "wsready.prom"
    receiver = Receiver()
    try:
        with all_kinds() as hostile:
            urls = [*good, *hostile.values()]
            args = ["--timeout", str(TIMEOUT_S), "--retries", "0", "--prometheus", str(prom)]
            args += ["--state", str(state), "--alert-webhook", receiver.url]
            table, seconds, peak = run_check(*args, *urls)
            print(f"\nhostile fleet check: {seconds:.1f} s wall, peak RSS {peak} MiB")
            as_json, _seconds, _peak = run_check("--json", "--timeout", str(TIMEOUT_S),
                                                 "--retries", "0", *urls)  # fmt: skip
        sent = list(receiver.received)
    finally:
        receiver.close()
    assert seconds < DEADLINE_S, f"the check took {seconds:.1f} s"
    assert peak < 200, f"peak RSS {peak} MiB (a 300 MiB body must not be read)"
    statuses = {item["url"]: item["status"] for item in json.loads(as_json.stdout)["targets"]}
    assert [statuses[url] for url in good] == ["OK"] * len(good), as_json.stdout
    assert statuses[hostile["huge-body"]] in ("CRITICAL", "UNKNOWN")
    assert statuses[hostile["trickle"]] in ("CRITICAL", "UNKNOWN")
    assert statuses[hostile["escapes"]] == "CRITICAL"
    # The worst real status: the hostile targets fail, nothing crashed into UNKNOWN (3).
    assert table.returncode == as_json.returncode == 2, table.stderr[-3000:]
    samples = metrics(prom)
    for url in urls:
        assert ("wsready_target_status", (("target", url),)) in samples, url
    for url in good:
        assert samples[("wsready_target_status", (("target", url),))] == 0
    clients = samples.get(("wsready_clients", (("target", hostile["huge-number"]),)))
    assert clients is not None and clients <= 10**12  # clamped, still exported
    for output in (table.stdout, table.stderr, as_json.stdout):
        assert "\x1b" not in output and "\u202e" not in output
    assert not unsafe_strings(json.loads(as_json.stdout))  # nor JSON-escaped in a value
    # One alert per non-OK target; none carries the target's escapes or a link to its URL
    # in a fix.
    assert len(sent) == 4, sent
    for body in sent:
        flat = json.dumps(body, ensure_ascii=False)
        assert "\x1b" not in flat and "\u202e" not in flat
        assert "<https://" not in body["text"]
        assert EVIL_URL not in str((body.get("diagnosis") or {}).get("fix", ""))


def test_one_hostile_target_of_each_kind_does_not_blind_the_check(tmp_path: Path) -> None:
    app = LoopbackApp(free_port())
    app.start()
    try:
        check_hostile_fleet([f"http://127.0.0.1:{app.port}"], tmp_path)
    finally:
        app.stop()


# --- on the sandbox fleet ------------------------------------------------------------------

# The host as the issue asks it compared: /etc's top-level entries (mode, owner, type; a
# file's hash), the boot target, the users and groups; and the directories named below.
SNAPSHOT = (
    "for f in /etc/*; do stat -c '%a %U:%G %F %n' \"$f\"; "
    '[ -f "$f" ] && [ ! -L "$f" ] && sha256sum "$f"; done; '
    "systemctl get-default; cat /etc/passwd /etc/group; ls -la /etc/systemd/system; "
    "stat -c '%a %U:%G %n' /var/lib/private /opt /opt/wsready-app /etc/wsready-app; "
    "readlink /opt/wsready-app/current; ls /etc/wsready/transaction 2>/dev/null; true"
)
ASLR = "kernel.randomize_va_space"
LOGIN_USER = "wsr-e2e-login"  # made on the host below: an existing user wsready did not make
FOREIGN_ETC = "wsr-e2e-foreign"  # /etc/<this> made on the host below, not by wsready


def hostile_sources(tmp_path: Path) -> dict[str, Path]:
    """Apps whose package.json main would add a root ExecStartPre, and one whose symlink
    leaves the app's directory (towards a local 'key')."""
    newline = app_variant(tmp_path / "main-newline", "main-newline")
    package = json.loads((newline / "package.json").read_text())
    package["main"] = "server.js\nExecStartPre=+/bin/touch /tmp/wsready-pwned"
    (newline / "package.json").write_text(json.dumps(package))
    linked = app_variant(tmp_path / "symlink", "symlink")
    key = tmp_path / "id_ed25519"
    key.write_text("PRIVATE KEY\n")
    (linked / "config.js").symlink_to(key)
    return {"main": newline, "symlink": linked}


@pytest.mark.e2e
def test_every_family_is_refused_and_the_host_is_unchanged(fleet: Fleet, tmp_path: Path) -> None:
    host = fleet.hosts[0]
    sources = hostile_sources(tmp_path)
    families = [
        ("app_name", "app_name=default"),  # default.target: the boot target
        ("app_name", "app_name=ssh"),  # /etc/ssh
        ("app_name", "app_name=ssl"),  # /etc/ssl: the CA bundle
        ("app_name", f"app_name={FOREIGN_ETC}"),  # exists on this host, not wsready's
        ("app_user", "app_user=sshd"),
        ("app_user", f"app_user={LOGIN_USER}"),  # exists on this host, not wsready's
        ("app_dir", "app_dir=/var/lib/private/app"),
        ("app_env['APP_BIND']", 'app_env={"APP_BIND": "0.0.0.0"}'),
        ("app_env['JWT_SECRET']", 'app_env={"JWT_SECRET": "x"}'),
        ("nginx_trusted_proxies[0]", 'nginx_trusted_proxies=["0.0.0.0/0"]'),
        (f"kernel_sysctls[{ASLR!r}]", f'kernel_sysctls={{"{ASLR}": 0}}'),
        ("app_source", f"app_source={sources['main']}"),
        ("app_source", f"app_source={sources['symlink']}"),
    ]  # fmt: skip
    host_ssh(
        host,
        f"useradd -m -s /bin/bash {LOGIN_USER} && mkdir /etc/{FOREIGN_ETC} && "
        f"echo keep > /etc/{FOREIGN_ETC}/settings",
    )
    try:
        before = host_ssh(host, SNAPSHOT)
        assert "graphical.target" in before or "multi-user.target" in before
        for key, data in families:
            started = time.monotonic()
            result = redeploy(fleet, "--limit", host.name, "--data", data)
            print(f"{data[:60]!r}: refused in {time.monotonic() - started:.1f} s")
            assert result.returncode != 0, f"{data}: accepted\n{result}"
            assert "nothing was changed on any host" in result.output, str(result)[-3000:]
            assert f"{key} = " in result.output, str(result)[-3000:]
            assert "PRIVATE KEY" not in result.output
        after = host_ssh(host, SNAPSHOT)
        assert after == before
        assert host_ssh(host, "test -e /tmp/wsready-pwned && echo PWNED || true").strip() == ""
    finally:
        host_ssh(host, f"userdel -r {LOGIN_USER}; rm -rf /etc/{FOREIGN_ETC}", check=False)


def with_preinstall(path: Path) -> Path:
    """The bundled app with a `preinstall` script that records who runs it; its version
    bumped in package.json and the lock, so the lock's hash is new and npm ci runs."""
    app_variant(path, "preinstall")
    package = json.loads((path / "package.json").read_text())
    package["version"] = "1.0.1-e2e"
    package["scripts"]["preinstall"] = "id -un > preinstall-ran-as && id -u >> preinstall-ran-as"
    (path / "package.json").write_text(json.dumps(package, indent=2))
    lock = json.loads((path / "package-lock.json").read_text())
    lock["version"] = lock["packages"][""]["version"] = "1.0.1-e2e"
    (path / "package-lock.json").write_text(json.dumps(lock, indent=2))
    return path


@pytest.mark.e2e
def test_the_apps_install_scripts_run_as_the_app_user_not_root(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    source = with_preinstall(tmp_path / "preinstall")
    release = app_release.scan(source)
    try:
        result = redeploy(fleet, "--limit", host.name, "--data", f"app_source={source}")
        assert result.returncode == 0, str(result)[-4000:]
        deps = f"/opt/wsready-app/deps/{release.deps_hash}"
        ran_as = host_ssh(host, f"cat {deps}/preinstall-ran-as").split()
        print(f"\npreinstall ran as {ran_as}")
        assert ran_as[0] == "wsready" and ran_as[1] != "0"
        # The installed tree went to root, writable by no one else; npm's scratch is gone.
        others = f"find {deps} \\( ! -user root -o ! -type l -perm /022 \\) | head -5"
        assert host_ssh(host, others).strip() == ""
        assert host_ssh(host, f"ls -A {deps}").split() == [
            ".installed", "node_modules", "package-lock.json", "package.json",
            "preinstall-ran-as",
        ]  # fmt: skip
    finally:
        restored = redeploy(fleet, "--limit", host.name)
        assert restored.returncode == 0, str(restored)[-4000:]


@pytest.mark.e2e
def test_one_hostile_target_of_each_kind_beside_the_fleet(fleet: Fleet, tmp_path: Path) -> None:
    check_hostile_fleet([f"http://{host.address}" for host in fleet.hosts], tmp_path)


@pytest.mark.e2e
def test_a_rolled_back_deploy_puts_directory_owners_and_modes_back(
    fleet: Fleet, tmp_path: Path
) -> None:
    """A deploy re-owns /etc/<app_name> (0750 root:<app_user>); when its probes fail, the
    rollback puts the directory's mode and owner back, as it found them (issue 22: the
    rollback said all was put back while /etc/default stayed re-owned)."""
    host = fleet.hosts[1]
    name = "wsr-e2e-dirs"
    host_ssh(host, f"install -d -m 0755 -o root -g root /etc/{name}")  # empty: free to take
    looked = f"stat -c '%a %U:%G' /etc/{name}; ls -A /etc/{name}; systemctl get-default"
    try:
        before = host_ssh(host, looked)
        source = app_variant(tmp_path / "app", "dirs", crash_at_start)
        result = redeploy(
            fleet, "--limit", host.name, "--data", f"app_name={name}",
            "--data", f"app_source={source}", "--data", "verify_timeout_s=4",
        )  # fmt: skip
        assert result.returncode != 0, str(result)[-3000:]
        assert "VerifyError" in result.output, str(result)[-3000:]  # failed, rolled back
        assert host_ssh(host, "ls /etc/wsready/transaction 2>/dev/null; true").strip() == ""
        assert host_ssh(host, looked) == before
        assert before.startswith("755 root:root")
        # The files the run wrote there (environment, Node.js runtime marker) are gone too.
        assert host_ssh(host, f"ls -A /etc/{name}").strip() == ""
    finally:
        # What the rollback leaves of the units' enablement (docs/security.md, known limits).
        cleanup = (
            f"rm -rf /etc/{name} /etc/systemd/system/{name}*"
            f" /etc/systemd/system/*.wants/{name}*; systemctl daemon-reload"
        )
        host_ssh(host, cleanup, check=False)
        restored = redeploy(fleet, "--limit", host.name)
        assert restored.returncode == 0, str(restored)[-3000:]
