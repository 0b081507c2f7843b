"""Mirror discovery from apt sources (pure part of wsready.sandbox.image)."""

from __future__ import annotations

import pytest

from wsready.sandbox import image as sandbox_image

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.net/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example.net/debian-security
Suites: bookworm-security
Components: main
"""

ONE_LINE = """\
# comment
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://ftp.example.org/debian/ bookworm main
deb-src http://src.example.org/debian bookworm main
deb http://ftp.example.org/debian-security bookworm-security main
deb https://packages.cloud.example.com/apt cloud-sdk-bookworm main
"""


def test_deb822_sources_give_both_mirrors():
    mirrors = sandbox_image.parse_apt_sources([DEB822])
    assert mirrors.debian == "http://mirror.example.net/debian"
    assert mirrors.security == "http://security.example.net/debian-security"
    assert mirrors.hosts() == ["mirror.example.net", "security.example.net"]


def test_one_line_sources_with_options_and_trailing_slash():
    mirrors = sandbox_image.parse_apt_sources([ONE_LINE])
    assert mirrors.debian == "http://ftp.example.org/debian"
    assert mirrors.security == "http://ftp.example.org/debian-security"
    assert mirrors.hosts() == ["ftp.example.org"]


def test_unrelated_repositories_fall_back_to_deb_debian_org():
    mirrors = sandbox_image.parse_apt_sources(["deb https://apt.example.com/x nodistro main\n"])
    assert mirrors.debian == sandbox_image.DEFAULT_MIRROR
    assert mirrors.security == sandbox_image.DEFAULT_SECURITY_MIRROR


def test_sources_list_for_the_image_has_updates_and_security():
    text = sandbox_image.AptMirrors("http://m/debian", "http://s/debian-security").sources_list()
    assert text.splitlines() == [
        "deb http://m/debian bookworm main",
        "deb http://m/debian bookworm-updates main",
        "deb http://s/debian-security bookworm-security main",
    ]


def test_cache_dir_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert sandbox_image.cache_dir() == tmp_path / "wsready"


def test_debootstrap_progress_shows_new_phases_and_a_line_every_few_seconds():
    progress = sandbox_image.DebootstrapProgress(every_s=5)
    lines = [
        (0.0, "I: Retrieving InRelease"),
        (0.1, "I: Checking Release signature"),
        (1.0, "I: Retrieving libc6 2.36-9"),  # same phase, too soon
        (2.0, "W: some warning"),  # not progress
        (6.5, "I: Retrieving systemd 252.36-1"),  # same phase, 5 s later
        (6.6, "I: Extracting base-files..."),
    ]
    shown = [progress.show(text, now) for now, text in lines]
    assert shown == [
        "Retrieving InRelease",
        "Checking Release signature",
        None,
        None,
        "Retrieving systemd 252.36-1",
        "Extracting base-files...",
    ]


def test_each_release_has_its_own_cached_image_and_bookworms_name_is_unchanged():
    assert sandbox_image.tarball_name() == "sandbox-bookworm-v2.tar.zst"
    assert sandbox_image.tarball_name("trixie").startswith("sandbox-trixie-v")
    assert sandbox_image.RELEASES == ("bookworm", "trixie")


def test_an_unknown_release_is_refused_by_name():
    with pytest.raises(ValueError, match=r"release = 'forky': must be one of bookworm, trixie"):
        sandbox_image.tarball_name("forky")


def test_trixie_gets_deb822_sources_from_the_same_mirrors():
    text = sandbox_image.AptMirrors("http://m/debian", "http://s/debian-security").sources_deb822(
        "trixie"
    )
    assert text.split("\n\n") == [
        "Types: deb\nURIs: http://m/debian\nSuites: trixie trixie-updates\nComponents: main",
        "Types: deb\nURIs: http://s/debian-security\nSuites: trixie-security\nComponents: main\n",
    ]
    # and apt reads them back as the same mirrors
    mirrors = sandbox_image.parse_apt_sources([text], "trixie")
    assert (mirrors.debian, mirrors.security) == ("http://m/debian", "http://s/debian-security")


def test_the_host_machines_mirrors_are_those_of_its_own_release(tmp_path):
    os_release = tmp_path / "os-release"
    os_release.write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n'
    )
    assert sandbox_image.host_codename(os_release) == "bookworm"
    os_release.write_text('VERSION_CODENAME="trixie"\n')
    assert sandbox_image.host_codename(os_release) == "trixie"
    assert sandbox_image.host_codename(tmp_path / "missing") == sandbox_image.SUITE
