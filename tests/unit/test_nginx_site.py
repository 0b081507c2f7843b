"""The rendered nginx site: WebSocket headers, upstreams over the app workers (sticky by
Engine.IO session id), listen options, TLS and redirect; the rendered nginx.conf."""

from __future__ import annotations

import re

import pytest

from wsready.deploy import capacity
from wsready.deploy.nginx_config import main_context, render_main, render_site
from wsready.hostdata import HostConfig


def _site(workers: int = 1, **overrides) -> str:
    return render_site(HostConfig.from_data("wsr-1", overrides), workers)


def _block(text: str, opening: str) -> str:
    """From `opening` to its closing brace (blocks here nest no braces)."""
    start = text.index(opening)
    return text[start : text.index("}", start) + 1]


def _lines(block: str) -> list[str]:
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_socketio_location_has_upgrade_headers_and_no_uri() -> None:
    site = _site()
    block = site[site.index("location /ws/ {") : site.index("}", site.index("location /ws/ {"))]
    for line in (
        # The sid routing map picks the worker; without a URI part the request URI passes as is.
        "proxy_pass http://$wsready_socketio_upstream;",
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $wsready_connection_upgrade;",
        "proxy_set_header Host $host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_read_timeout 75s;",
        "proxy_send_timeout 75s;",
        "proxy_buffering off;",
    ):
        assert line in block, line
    assert "map $http_upgrade $wsready_connection_upgrade" in site
    assert "server 127.0.0.1:3000 max_fails=0;" in site
    assert 'proxy_set_header Connection "";' not in block  # upgrades keep their header


ONE_GENERATION = {"app_restart": "one-at-a-time"}


def test_one_worker_upstream_and_sid_map() -> None:
    site = _site(**ONE_GENERATION)
    assert _lines(_block(site, "upstream wsready_app {")) == [
        "upstream wsready_app {",
        "zone wsready_app 64k;",
        "least_conn;",
        "server 127.0.0.1:3000 max_fails=0;",
        "keepalive 32;",
        "}",
    ]
    assert _lines(_block(site, "map $arg_sid $wsready_socketio_upstream {")) == [
        "map $arg_sid $wsready_socketio_upstream {",
        "default wsready_app;",
        '"~^0-" 127.0.0.1:3000;',
        "}",
    ]


def test_two_workers_upstream_and_sid_map_route_each_session_to_its_worker() -> None:
    site = _site(2, **ONE_GENERATION)
    assert _lines(_block(site, "upstream wsready_app {")) == [
        "upstream wsready_app {",
        "zone wsready_app 64k;",
        "least_conn;",
        "server 127.0.0.1:3000 max_fails=0;",
        "server 127.0.0.1:3001 max_fails=0;",
        "keepalive 32;",
        "}",
    ]
    assert _lines(_block(site, "map $arg_sid $wsready_socketio_upstream {")) == [
        "map $arg_sid $wsready_socketio_upstream {",
        "default wsready_app;",
        '"~^0-" 127.0.0.1:3000;',
        '"~^1-" 127.0.0.1:3001;',
        "}",
    ]


def test_two_generations_each_an_upstream_picked_by_the_probes_header_or_the_active_file() -> None:
    site = _site(2, app_restart="generations")
    assert _lines(_block(site, "upstream wsready_app_b {")) == [
        "upstream wsready_app_b {",
        "zone wsready_app_b 64k;",
        "least_conn;",
        "server 127.0.0.1:3100 max_fails=0;",
        "server 127.0.0.1:3101 max_fails=0;",
        "keepalive 32;",
        "}",
    ]
    assert _lines(_block(site, "map $http_x_wsready_generation $wsready_generation {")) == [
        "map $http_x_wsready_generation $wsready_generation {",
        "include /etc/nginx/wsready-generation.conf;",
        "a wsready_app;",
        "b wsready_app_b;",
        "}",
    ]
    assert _lines(_block(site, "map $arg_sid $wsready_socketio_upstream {")) == [
        "map $arg_sid $wsready_socketio_upstream {",
        "default $wsready_generation;",
        '"~^0-" 127.0.0.1:3000;',
        '"~^1-" 127.0.0.1:3001;',
        '"~^100-" 127.0.0.1:3100;',
        '"~^101-" 127.0.0.1:3101;',
        "}",
    ]


def test_workers_on_an_ipv6_loopback_get_bracketed_addresses() -> None:
    site = _site(2, app_bind="::1", app_port=4000)
    assert "server [::1]:4000 max_fails=0;" in site and "server [::1]:4001 max_fails=0;" in site
    assert '"~^1-" [::1]:4001;' in site


def test_sid_patterns_do_not_confuse_worker_1_with_worker_10() -> None:
    site = _site(11, app_restart="generations")
    patterns = re.findall(r'"~(\^\d+-)" 127\.0\.0\.1:(\d+);', site)
    indexes = [*range(11), *range(100, 111)]  # both generations
    assert len(patterns) == 22
    for pattern, port in patterns:
        index = int(port) - 3000
        assert re.match(pattern, f"{index}-AbC_d")
        assert not any(re.match(pattern, f"{other}-AbC_d") for other in indexes if other != index)


@pytest.mark.parametrize(
    ("restart", "upstream"),
    [("one-at-a-time", "wsready_app"), ("generations", "$wsready_generation")],
)
def test_rest_locations_reuse_upstream_connections(restart: str, upstream: str) -> None:
    site = _site(2, app_restart=restart)
    for opening in ("location /api/ {", "location / {"):
        assert _lines(_block(site, opening)) == [
            opening,
            f"proxy_pass http://{upstream};",
            "proxy_http_version 1.1;",
            'proxy_set_header Connection "";',  # keepalive to the workers
            "proxy_set_header Host $host;",
            "proxy_set_header X-Real-IP $remote_addr;",
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "proxy_set_header X-Forwarded-Proto $scheme;",
            "}",
        ]


def test_listens_on_ipv4_and_ipv6_unless_disabled() -> None:
    assert "listen 80 backlog=4096 reuseport;" in _site()
    assert "listen [::]:80 backlog=4096 reuseport;" in _site()
    assert "[::]" not in _site(nginx_ipv6=False)


def test_listen_options_come_from_data() -> None:
    assert "    listen 80;\n" in _site(nginx_listen_backlog=None, nginx_reuseport=False)
    site = _site(nginx_listen_backlog=1024, nginx_reuseport=False)
    assert "listen 80 backlog=1024;" in site and "listen [::]:80 backlog=1024;" in site
    assert "listen 80 reuseport;" in _site(nginx_listen_backlog=None)


def test_trusted_proxies_set_the_real_ip_from_x_forwarded_for() -> None:
    assert "set_real_ip_from" not in _site()
    site = _site(nginx_trusted_proxies=["10.0.0.0/16"])
    assert "set_real_ip_from 10.0.0.0/16;" in site
    assert "real_ip_header X-Forwarded-For;" in site and "real_ip_recursive on;" in site


def test_rest_upstream_gets_api_and_root() -> None:
    site = _site(nginx_rest_upstream="http://127.0.0.1:8080", app_socketio_path="/socket")
    assert "server 127.0.0.1:8080;" in site
    assert "location /socket/ {" in site
    assert site.count("proxy_pass http://wsready_rest;") == 2


def test_tls_serves_443_and_redirects_all_but_health() -> None:
    site = _site(nginx_tls=True)
    assert "listen 443 ssl http2 backlog=4096 reuseport;" in site
    assert "listen [::]:443 ssl http2 backlog=4096 reuseport;" in site
    assert "ssl_certificate /etc/wsready/tls/self-signed-cert.pem;" in site
    assert "return 301 https://$host$request_uri;" in site
    assert "location = /api/health {" in site
    assert "return 301" not in _site(nginx_tls=True, nginx_tls_redirect=False)
    assert "https://$host:8443$request_uri" in _site(nginx_tls=True, nginx_tls_port=8443)


def test_extra_directives_land_in_every_server_block() -> None:
    site = _site(nginx_tls=True, nginx_extra_directives=["client_max_body_size 5m;"])
    assert site.count("    client_max_body_size 5m;\n") == 2


def test_given_and_self_signed_pairs_never_share_paths(tmp_path) -> None:
    """Going back from a given certificate to self-signed must not serve the given one."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("a certificate")
    key.write_text("its key")
    given = _site(nginx_tls=True, nginx_tls_cert_file=str(cert), nginx_tls_key_file=str(key))
    generated = _site(nginx_tls=True)
    assert "ssl_certificate /etc/wsready/tls/cert.pem;" in given
    assert "ssl_certificate_key /etc/wsready/tls/key.pem;" in given
    assert "ssl_certificate /etc/wsready/tls/self-signed-cert.pem;" in generated
    assert "ssl_certificate_key /etc/wsready/tls/self-signed-key.pem;" in generated


@pytest.mark.parametrize(
    ("family", "user", "modules", "sites"),
    [
        ("debian", "www-data", "/etc/nginx/modules-enabled/*.conf", "/etc/nginx/sites-enabled/*"),
        ("rhel", "nginx", "/usr/share/nginx/modules/*.conf", None),
    ],
)
def test_nginx_conf_carries_the_sized_limits(family, user, modules, sites) -> None:
    data = HostConfig.from_data("wsr-1", {})
    sized = capacity.plan(data, 2)
    lines = _lines(render_main(data, sized, family))
    for line in (
        f"user {user};",
        "worker_processes 4;",  # 20000 clients x 2 connections x 1.25 / 16384, at least 2 CPUs
        "worker_rlimit_nofile 17408;",
        "worker_shutdown_timeout 1800s;",
        "worker_connections 16384;",
        f"include {modules};",
        "include /etc/nginx/conf.d/*.conf;",
        "include /etc/nginx/mime.types;",
    ):
        assert line in lines, line
    assert (f"include {sites};" in lines) if sites else not any("sites-" in x for x in lines)
    assert main_context(data, sized, family)["worker_processes"] == 4


def test_nginx_conf_without_rlimit_and_with_auto_workers() -> None:
    data = HostConfig.from_data(
        "wsr-1",
        {
            "nginx_worker_rlimit_nofile": None,
            "nginx_worker_processes": "auto",
            "nginx_worker_shutdown_timeout_s": None,
        },
    )
    text = render_main(data, capacity.plan(data, 8), "debian")
    assert "worker_rlimit_nofile" not in text
    assert "worker_shutdown_timeout" not in text
    assert "worker_processes auto;" in _lines(text)
