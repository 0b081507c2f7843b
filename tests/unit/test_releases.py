"""The OS releases the deploy supports (wsready.deploy.families.RELEASES): finding a host's
row from /etc/os-release or pyinfra's LinuxDistribution fact, refusing the others by name,
and what differs per release (nginx's HTTP/2 switch)."""

from __future__ import annotations

import pytest

from wsready.deploy import families
from wsready.deploy.nginx_config import render_site
from wsready.fleet import onboard
from wsready.hostdata import HostConfig


def _distro(name, major, minor=None, **meta):
    return {"name": name, "major": major, "minor": minor, "release_meta": meta}


@pytest.mark.parametrize(
    ("distro", "expected"),
    [
        (_distro("Debian", 12, ID="debian", VERSION_ID="12"), "Debian 12 (bookworm)"),
        (_distro("Debian", 13, 2, ID="debian", VERSION_ID="13"), "Debian 13 (trixie)"),
        (_distro("Ubuntu", 24, 4, ID="ubuntu", VERSION_ID="24.04"), "Ubuntu 24.04"),
        (_distro("Amazon Linux", 2023, ID="amzn", VERSION_ID="2023"), "Amazon Linux 2023"),
        # facts without os-release's keys: the name and version pyinfra read elsewhere
        (_distro("Debian", 13), "Debian 13 (trixie)"),
        (_distro("Ubuntu", 22, 4), "Ubuntu 22.04"),
    ],
)
def test_a_supported_host_finds_its_row(distro, expected) -> None:
    assert families.release_of_distribution(distro).name == expected


@pytest.mark.parametrize(
    ("distro", "named"),
    [
        (
            _distro("Debian", 14, ID="debian", VERSION_ID="14", PRETTY_NAME="Debian GNU/Linux 14"),
            "Debian GNU/Linux 14 is not supported",
        ),
        (  # testing / sid: no VERSION_ID at all
            _distro("Debian", None, ID="debian", PRETTY_NAME="Debian GNU/Linux forky/sid"),
            "Debian GNU/Linux forky/sid is not supported",
        ),
        (_distro("Debian", 10, ID="debian", VERSION_ID="10"), "Debian 10 is not supported"),
        (_distro("CentOS", 7, ID="centos", VERSION_ID="7"), "CentOS 7 is not supported"),
        (_distro(None, None), "an unknown OS (no VERSION_ID) is not supported"),
    ],
)
def test_any_other_release_is_refused_by_name_with_the_supported_list(distro, named) -> None:
    with pytest.raises(families.UnsupportedRelease) as refused:
        families.release_of_distribution(distro)
    assert str(refused.value).startswith(named)
    assert "Debian 12 (bookworm), Debian 13 (trixie)" in str(refused.value)


def test_onboarding_and_the_deploy_share_one_table() -> None:
    trixie = 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_ID="13"\n'
    assert onboard.check_os(trixie).ok
    forky = 'PRETTY_NAME="Debian GNU/Linux 14 (forky)"\nID=debian\nVERSION_ID="14"\n'
    finding = onboard.check_os(forky)
    assert not finding.ok
    assert finding.detail.startswith("Debian GNU/Linux 14 (forky) is not supported")


def test_proven_releases_name_the_versions_they_ran() -> None:
    proven = {r.name: dict(r.proven_versions) for r in families.RELEASES if r.proven}
    assert proven == {
        "Debian 12 (bookworm)": {
            "nginx": "1.22",
            "redis": "7.0",
            "systemd": "252",
            "python": "3.11",
        },
        "Debian 13 (trixie)": {"nginx": "1.26", "redis": "8.0", "systemd": "257", "python": "3.13"},
    }
    assert all(r.family is families.FAMILIES[r.family_name] for r in families.RELEASES)


def _tls_server(site: str) -> list[str]:
    """The lines of the server block that holds the certificate."""
    blocks = site.split("\nserver {")
    (tls,) = [block for block in blocks if "ssl_certificate " in block]
    return [line.strip() for line in tls.splitlines() if line.strip()]


def test_http2_is_a_listen_parameter_before_nginx_1_25_and_a_directive_after() -> None:
    data = HostConfig.from_data("wsr-1", {"nginx_tls": True, "nginx_ipv6": True})
    bookworm = families.release("debian", "12").nginx_http2
    trixie = families.release("debian", "13").nginx_http2
    old = _tls_server(render_site(data, 2, http2=bookworm))
    new = _tls_server(render_site(data, 2, http2=trixie))
    listens = [line for line in old if line.startswith("listen")]
    assert [line.split()[:4] for line in listens] == [
        ["listen", "443", "ssl", "http2"],
        ["listen", "[::]:443", "ssl", "http2"],
    ]
    assert "http2 on;" not in old
    listens = [line for line in new if line.startswith("listen")]
    assert [line.split()[:3] for line in listens] == [
        ["listen", "443", "ssl"],
        ["listen", "[::]:443", "ssl"],
    ]
    assert not any("http2" in line for line in listens)
    assert new.count("http2 on;") == 1
