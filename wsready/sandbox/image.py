"""The sandbox host image: Debian bookworm or trixie (debootstrap minbase), cached as a zstd
tarball per release.

Both releases come from the Debian mirror in this machine's own apt sources (the same mirror
serves every release) and are checked with debootstrap's default keyring, the host's
debian-archive-keyring: bookworm's update of it (2023.3+deb12u1 and later) carries trixie's
archive, security and release keys. A trixie image gets its apt sources in deb822 form
(/etc/apt/sources.list.d/debian.sources), as Debian 13 installs and cloud images have them.

The cache lives in ~/.cache/wsready/ together with the ed25519 key whose public half is root's
`authorized_keys` in the image: key and image travel together, and the image is rebuilt when
it is missing or was built for another key or an older recipe.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from wsready.processes import stop_processes
from wsready.sandbox import mounts as sandbox_mounts
from wsready.sandbox import state as sandbox_state

SUITE = "bookworm"  # the default release
# Bump when the image recipe below changes: cached images of an older recipe are rebuilt.
RECIPE_VERSION = 2
# The Debian releases a sandbox host can run, each with its own recipe version (the cache is
# sandbox-<release>-v<recipe>.tar.zst).
RECIPE_VERSIONS = {"bookworm": RECIPE_VERSION, "trixie": 1}
RELEASES = tuple(RECIPE_VERSIONS)
# Where the image's apt sources go: one-line sources.list, or deb822 (Debian 13 onwards).
DEB822_SOURCES = "etc/apt/sources.list.d/debian.sources"
DEB822_RELEASES = frozenset({"trixie"})
PACKAGES = (
    "systemd,systemd-sysv,dbus,openssh-server,iproute2,ca-certificates,curl,sudo,procps,gnupg"
)
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
# Timers that would run apt on their own and fight a deploy for the dpkg lock.
MASKED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer")

# Documentation, manual pages and translations are left out of the image and out of every
# package installed later (40% of the image's files): a throwaway host never reads them.
DPKG_EXCLUDES = """\
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
"""
TRIMMED_DIRS = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale")

HOST_KEYS_UNIT = """\
[Unit]
Description=Generate this host's own SSH host keys on first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
RequiredBy=ssh.service
"""

SSHD_CONFIG = """\
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
"""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wsready"


@dataclass(frozen=True)
class AptMirrors:
    """Where Debian packages come from on this machine (and so inside the sandbox)."""

    debian: str = DEFAULT_MIRROR
    security: str = DEFAULT_SECURITY_MIRROR

    def hosts(self) -> list[str]:
        return list(
            dict.fromkeys(urlsplit(url).hostname or "" for url in (self.debian, self.security))
        )

    def sources_list(self, suite: str = SUITE) -> str:
        return (
            f"deb {self.debian} {suite} main\n"
            f"deb {self.debian} {suite}-updates main\n"
            f"deb {self.security} {suite}-security main\n"
        )

    def sources_deb822(self, suite: str) -> str:
        """The same entries as `sources_list`, as deb822 stanzas."""
        return (
            f"Types: deb\nURIs: {self.debian}\nSuites: {suite} {suite}-updates\n"
            "Components: main\n\n"
            f"Types: deb\nURIs: {self.security}\nSuites: {suite}-security\n"
            "Components: main\n"
        )


def parse_apt_sources(texts: Iterable[str], suite: str = SUITE) -> AptMirrors:
    """Find the Debian and security mirrors for `suite` in one-line and deb822 sources."""
    debian = security = None
    for text in texts:
        for uri, suites in _entries(text):
            if suite in suites and debian is None:
                debian = uri
            if f"{suite}-security" in suites and security is None:
                security = uri
    return AptMirrors(
        (debian or DEFAULT_MIRROR).rstrip("/"), (security or DEFAULT_SECURITY_MIRROR).rstrip("/")
    )


def _entries(text: str) -> Iterable[tuple[str, list[str]]]:
    """(uri, suites) for every `deb` entry, one-line style or deb822 stanzas."""
    stanza: dict[str, str] = {}
    for raw in [*text.splitlines(), ""]:
        line = raw.split("#", 1)[0].strip()
        if raw.strip().startswith("#"):
            continue
        if line.startswith("deb "):
            words = re.sub(r"\[[^\]]*\]", " ", line).split()[1:]
            if len(words) >= 2:
                yield words[0], [words[1]]
            continue
        if ":" in line:
            key, value = line.split(":", 1)
            stanza[key.strip().lower()] = value.strip()
            continue
        if not line and stanza:
            if "deb" in stanza.get("types", "").split():
                suites = stanza.get("suites", "").split()
                for uri in stanza.get("uris", "").split():
                    yield uri, suites
            stanza = {}


def host_mirrors() -> AptMirrors:
    """The mirrors this machine's apt sources name for its own release (bookworm when
    /etc/os-release does not say): they serve the other releases too."""
    paths = [Path("/etc/apt/sources.list")]
    sources_d = Path("/etc/apt/sources.list.d")
    if sources_d.is_dir():
        paths += sorted(sources_d.glob("*.list")) + sorted(sources_d.glob("*.sources"))
    return parse_apt_sources((p.read_text() for p in paths if p.is_file()), host_codename())


def host_codename(os_release: Path = Path("/etc/os-release")) -> str:
    """VERSION_CODENAME of this machine (SUITE when it has none)."""
    try:
        text = os_release.read_text()
    except OSError:
        return SUITE
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "VERSION_CODENAME" and value.strip().strip("\"'"):
            return value.strip().strip("\"'")
    return SUITE


def check_release(release: str) -> str:
    """`release` when a sandbox image can be built for it, else ValueError naming it."""
    if release not in RECIPE_VERSIONS:
        raise ValueError(f"release = {release!r}: must be one of {', '.join(RELEASES)}")
    return release


def tarball_name(release: str = SUITE) -> str:
    return f"sandbox-{check_release(release)}-v{RECIPE_VERSIONS[release]}.tar.zst"


@dataclass(frozen=True)
class Image:
    tarball: Path
    key: Path  # private key; `<key>.pub` is in the image's authorized_keys


def ensure_image(mirrors: AptMirrors | None = None, log=print, release: str = SUITE) -> Image:
    """The cached image of `release`, built first when missing or stale (about a minute)."""
    check_release(release)
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two `up`s at once build the image only once
        key = _ensure_key(directory)
        tarball = directory / tarball_name(release)
        built_for = directory / f"{tarball.name}.pub"
        pub = key.with_name(key.name + ".pub").read_text()
        if not tarball.is_file() or not built_for.is_file() or built_for.read_text() != pub:
            _build(tarball, pub, mirrors or host_mirrors(), log, release)
            built_for.write_text(pub)
            for old in directory.glob(f"sandbox-{release}-v*.tar.zst*"):
                if old not in (tarball, built_for):
                    old.unlink()  # images of older recipes
        return Image(tarball, key)


def _ensure_key(directory: Path) -> Path:
    key = directory / "sandbox_ed25519"
    if not key.is_file():
        for stale in (key, key.with_name(key.name + ".pub")):
            stale.unlink(missing_ok=True)
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "wsready-sandbox",
                "-f",
                str(key),
            ],
            check=True,
        )
    key.chmod(0o600)
    return key


def _build(tarball: Path, pub: str, mirrors: AptMirrors, log, release: str = SUITE) -> None:
    started = time.monotonic()
    log(
        f"Building the {release} sandbox image from {mirrors.debian} "
        "(about a minute on an idle machine)..."
    )
    sandbox_state.STATE_ROOT.mkdir(parents=True, exist_ok=True)
    build_dir = Path(tempfile.mkdtemp(prefix=".build-", dir=sandbox_state.STATE_ROOT))
    partial = tarball.with_name(tarball.name + ".partial")
    try:
        root = build_dir / "rootfs"
        _debootstrap(root, mirrors.debian, log, started, release)
        log(f"  [{time.monotonic() - started:4.0f}s] configuring the image")
        _configure(root, pub, mirrors, release)
        log(f"  [{time.monotonic() - started:4.0f}s] packing {tarball.name}")
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "--acls", "-I", "zstd -T0 -3",
             "-C", str(root), "-cf", str(partial), "."],
            check=True,
        )  # fmt: skip
        partial.replace(tarball)
    finally:
        # an interrupted debootstrap can leave /proc or /sys mounted inside the tree
        sandbox_mounts.remove_tree(build_dir)
        partial.unlink(missing_ok=True)
    size_mb = tarball.stat().st_size / 1e6
    log(f"Sandbox image ready in {time.monotonic() - started:.0f}s ({size_mb:.0f} MB): {tarball}")


class DebootstrapProgress:
    """Which debootstrap `I:` lines to show: each new phase, then one every `every_s`."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.phases: set[str] = set()
        self.last_shown: float | None = None

    def show(self, line: str, now: float) -> str | None:
        words = line.split()
        if len(words) < 2 or words[0] != "I:":
            return None
        new_phase = words[1] not in self.phases
        if not new_phase and self.last_shown is not None and now - self.last_shown < self.every_s:
            return None
        self.phases.add(words[1])
        self.last_shown = now
        return " ".join(words[1:])


def _debootstrap(root: Path, mirror: str, log, started: float, release: str = SUITE) -> None:
    """Run debootstrap, printing each new phase and, within a phase, a line every 5 seconds."""
    cmd = ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", release, str(root), mirror]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    progress = DebootstrapProgress()
    tail: list[str] = []
    try:
        for line in proc.stdout:
            tail = [*tail[-20:], line.rstrip()]
            now = time.monotonic()
            if shown := progress.show(line, now):
                log(f"  [{now - started:4.0f}s] {shown}")
    except BaseException:
        stop_processes(proc)  # interrupted: let it stop before its tree is removed
        raise
    if proc.wait() != 0:
        raise RuntimeError("debootstrap failed:\n" + "\n".join(tail))


def _configure(root: Path, pub: str, mirrors: AptMirrors, release: str = SUITE) -> None:
    """Root SSH by key only, fresh host keys and machine-id per host, the host's CAs."""
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(pub)
    (ssh_dir / "authorized_keys").chmod(0o600)
    (root / "etc/ssh/sshd_config.d/wsready.conf").write_text(SSHD_CONFIG)
    for host_key in (root / "etc/ssh").glob("ssh_host_*"):
        host_key.unlink()
    (root / "etc/systemd/system/wsready-ssh-host-keys.service").write_text(HOST_KEYS_UNIT)
    _chroot(root, "systemctl", "enable", "--quiet", "wsready-ssh-host-keys.service")
    _chroot(root, "systemctl", "mask", "--quiet", *MASKED_UNITS)
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    if release in DEB822_RELEASES:
        (root / "etc/apt/sources.list").unlink(missing_ok=True)
        (root / DEB822_SOURCES).write_text(mirrors.sources_deb822(release))
    else:
        (root / "etc/apt/sources.list").write_text(mirrors.sources_list(release))
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text(
        "# No DNS here: package registries are reached through the proxy (proxy_url).\n"
    )
    cas = sorted(HOST_CA_DIR.glob("*.crt")) if HOST_CA_DIR.is_dir() else []
    if cas:
        for ca in cas:
            shutil.copy2(ca, root / "usr/local/share/ca-certificates" / ca.name)
        _chroot(root, "update-ca-certificates", "--fresh")
    _trim(root)
    _chroot(root, "apt-get", "clean")


def _trim(root: Path) -> None:
    """Apply DPKG_EXCLUDES to what debootstrap already installed, and to later installs."""
    (root / "etc/dpkg/dpkg.cfg.d/wsready-excludes").write_text(DPKG_EXCLUDES)
    dirs = [str(root / top) for top in TRIMMED_DIRS if (root / top).is_dir()]
    keep = ["!", "-name", "copyright", "!", "-name", "locale.alias"]
    subprocess.run(
        ["find", *dirs, "-mindepth", "1", "!", "-type", "d", *keep, "-delete"], check=True
    )
    subprocess.run(["find", *dirs, "-mindepth", "1", "-type", "d", "-empty", "-delete"], check=True)


def _chroot(root: Path, *cmd: str) -> None:
    result = subprocess.run(["chroot", str(root), *cmd], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"in the image, {' '.join(cmd)} failed: {result.stderr.strip()}")


def unpack(image: Image, rootfs: Path, hostname: str) -> None:
    """Unpack the image into `rootfs` (which must not exist yet) and name the host."""
    rootfs.mkdir(parents=True)
    subprocess.run(
        ["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "-I", "zstd",
         "-C", str(rootfs), "-xf", str(image.tarball)],
        check=True,
    )  # fmt: skip
    (rootfs / "etc/hostname").write_text(hostname + "\n")
    (rootfs / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {hostname}\n")


def progress_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
