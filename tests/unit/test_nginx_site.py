"""The rendered nginx site: WebSocket headers, upstreams, TLS and redirect."""

from __future__ import annotations

from tasks.nginx import render_site
from wsready import hostdata


def _site(**overrides) -> str:
    return render_site(hostdata.with_defaults(overrides))


def test_socketio_location_has_upgrade_headers_and_no_uri() -> None:
    site = _site()
    block = site[site.index("location /ws/ {") : site.index("}", site.index("location /ws/ {"))]
    for line in (
        "proxy_pass http://wsready_app;",
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
    assert "server 127.0.0.1:3000;" in site


def test_listens_on_ipv4_and_ipv6_unless_disabled() -> None:
    assert "listen 80;" in _site() and "listen [::]:80;" in _site()
    assert "[::]" not in _site(nginx_ipv6=False)


def test_rest_upstream_gets_api_and_root() -> None:
    site = _site(nginx_rest_upstream="http://127.0.0.1:8080", app_socketio_path="/socket")
    assert "server 127.0.0.1:8080;" in site
    assert "location /socket/ {" in site
    assert site.count("proxy_pass http://wsready_rest;") == 2


def test_tls_serves_443_and_redirects_all_but_health() -> None:
    site = _site(nginx_tls=True)
    assert "listen 443 ssl http2;" in site
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
    given = _site(nginx_tls=True, nginx_tls_cert_file=str(cert), nginx_tls_key_file=str(key))
    generated = _site(nginx_tls=True)
    assert "ssl_certificate /etc/wsready/tls/cert.pem;" in given
    assert "ssl_certificate_key /etc/wsready/tls/key.pem;" in given
    assert "ssl_certificate /etc/wsready/tls/self-signed-cert.pem;" in generated
    assert "ssl_certificate_key /etc/wsready/tls/self-signed-key.pem;" in generated
