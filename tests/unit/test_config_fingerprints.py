"""The fingerprints verify waits for: X-Wsready-Config (nginx.conf + the wsready site) and
the app's APP_CONFIG_FINGERPRINT (environment file + units), as tasks/nginx.py and
tasks/app.py compute them."""

from __future__ import annotations

import hashlib
import re

import pytest

from wsready.deploy import app_release, capacity
from wsready.deploy.app_config import BUNDLED_APP, app_config
from wsready.deploy.nginx_config import nginx_config, render_main, render_site
from wsready.deploy.verify import site_fingerprint
from wsready.hostdata import HostConfig

RELEASE = app_release.scan(BUNDLED_APP)


def _nginx(cpus: int = 2, family: str = "debian", **values):
    data = HostConfig.from_data("wsr-1", values)
    return nginx_config(data, capacity.plan(data, cpus), family)


def _server_blocks(site: str) -> list[str]:
    """The text of each top-level `server { ... }` block."""
    return re.split(r"^server \{$", site, flags=re.MULTILINE)[1:]


def test_nginx_fingerprint_is_16_hex_of_sha256_of_nginx_conf_and_the_bare_site() -> None:
    config = _nginx()
    data = HostConfig.from_data("wsr-1", {})
    sized = capacity.plan(data, 2)
    main, bare = render_main(data, sized, "debian"), render_site(data, sized.app_workers)
    assert config.fingerprint == hashlib.sha256((main + bare).encode()).hexdigest()[:16]
    assert re.fullmatch(r"[0-9a-f]{16}", config.fingerprint)
    assert config.main == main
    assert config.site == render_site(data, sized.app_workers, config.fingerprint)
    assert _nginx() == config  # stable: same data, same files, same fingerprint


@pytest.mark.parametrize(
    "change",
    [
        {"nginx_proxy_read_timeout_s": 90},  # the site
        {"nginx_extra_directives": ["if ($http_upgrade) { return 403; }"]},
        {"app_socketio_path": "/socket"},
        {"nginx_tls": True},
        {"nginx_listen_port": 8080},
        {"nginx_worker_connections": 20000, "nginx_worker_rlimit_nofile": 21000},  # nginx.conf
    ],
)
def test_nginx_fingerprint_changes_with_the_site_or_nginx_conf(change) -> None:
    assert _nginx(**change).fingerprint != _nginx().fingerprint


def test_nginx_fingerprint_changes_with_workers_and_the_distribution() -> None:
    base = _nginx().fingerprint
    assert _nginx(cpus=3).fingerprint != base  # one more upstream server
    assert _nginx(family="rhel").fingerprint != base  # nginx.conf's user and includes


@pytest.mark.parametrize(
    "values",
    [{}, {"nginx_tls": True}, {"nginx_tls": True, "nginx_tls_redirect": True},
     {"nginx_tls": True, "nginx_ipv6": True, "nginx_trusted_proxies": ["10.0.0.0/8"]}],
)  # fmt: skip
def test_every_server_block_sends_the_fingerprint(values) -> None:
    config = _nginx(**values)
    blocks = _server_blocks(config.site)
    assert len(blocks) == (2 if values.get("nginx_tls") else 1)
    header = f'add_header X-Wsready-Config "{config.fingerprint}" always;'
    for block in blocks:
        assert [line.strip() for line in block.splitlines()].count(header) == 1
        # ...and the host that answered (probes through a balancer name it).
        assert "add_header X-Wsready-Host $hostname always;" in block
    # No location sets a header of its own (that would hide the server-level ones).
    assert config.site.count("add_header") == 2 * len(blocks)
    # What verify reads back from the live site as the previous fingerprint.
    assert site_fingerprint(config.site.splitlines()) == config.fingerprint


def test_the_bare_site_has_no_fingerprint_header() -> None:
    assert "X-Wsready-Config" not in render_site(HostConfig.from_data("wsr-1", {}), 2)


def _app(workers: int = 1, **values):
    return app_config(HostConfig.from_data("wsr-1", values), RELEASE, workers, None)


def test_app_config_fingerprint_is_in_the_env_file_and_stable() -> None:
    config = _app()
    assert re.fullmatch(r"[0-9a-f]{16}", config.fingerprint)
    assert f'APP_CONFIG_FINGERPRINT="{config.fingerprint}"' in config.env_file.splitlines()
    assert _app() == config


@pytest.mark.parametrize(
    "change",
    [
        {"app_env": {"FEATURE_X": "on"}},  # the environment file
        {"app_auth": "jwt", "app_jwt_secret": "s" * 40},
        {"app_limit_nofile": 4096},  # the template unit
        {"app_port": 4000},
    ],
)
def test_app_config_fingerprint_changes_with_env_or_unit(change) -> None:
    changed = _app(**change)
    assert changed.fingerprint != _app().fingerprint
    assert f'APP_CONFIG_FINGERPRINT="{changed.fingerprint}"' in changed.env_file


def test_app_config_fingerprint_changes_with_the_target() -> None:
    one, two = _app(workers=1), _app(workers=2)
    assert one.target != two.target
    assert one.fingerprint != two.fingerprint


def test_app_config_fingerprint_covers_the_env_without_its_own_line() -> None:
    config = _app()
    bare_env = "".join(
        line + "\n"
        for line in config.env_file.splitlines()
        if not line.startswith("APP_CONFIG_FINGERPRINT=")
    )
    digest = hashlib.sha256((bare_env + config.unit + config.target).encode()).hexdigest()
    assert config.fingerprint == digest[:16]
