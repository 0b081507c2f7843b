"""Host data validation: each bad value is named with its key; the defaults pass."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from wsready import hostdata

ROOT = Path(__file__).resolve().parents[2]
HEX = "ab" * 32
SECRET = "s" * 40


def _errors_for(data: dict) -> list[str]:
    return [str(error) for error in hostdata.validate(data)]


def test_defaults_pass() -> None:
    assert hostdata.validate({}) == []


def test_every_documented_key_has_a_check() -> None:
    assert sorted(set(hostdata.load_defaults()) - set(hostdata.CHECKS)) == []


def test_checks_only_for_documented_keys() -> None:
    assert sorted(set(hostdata.CHECKS) - set(hostdata.load_defaults())) == []


BAD = [
    ({"app_port": 0}, "app_port", "0"),
    ({"app_port": 70000}, "app_port", "70000"),
    ({"nginx_listen_port": "80"}, "nginx_listen_port", "'80'"),
    ({"app_port": 80}, "app_port", "80"),
    ({"firewall_allow_cidrs": ["10.0.0.5/24"]}, "firewall_allow_cidrs[0]", "'10.0.0.5/24'"),
    ({"firewall_allow_cidrs": ["not-a-cidr"]}, "firewall_allow_cidrs[0]", "'not-a-cidr'"),
    ({"sg_allow_cidrs": "0.0.0.0/0"}, "sg_allow_cidrs", "'0.0.0.0/0'"),
    ({"nodejs_source": "nvm"}, "nodejs_source", "'nvm'"),
    ({"app_auth": "basic"}, "app_auth", "'basic'"),
    ({"app_source": "/nonexistent/app"}, "app_source", "'/nonexistent/app'"),
    ({"app_socketio_path": "ws"}, "app_socketio_path", "'ws'"),
    ({"app_socketio_path": "/ws/"}, "app_socketio_path", "'/ws/'"),
    ({"nginx_ipv6": "yes"}, "nginx_ipv6", "'yes'"),
    ({"firewall_enabled": 1}, "firewall_enabled", "1"),
    ({"nginx_tls": "false"}, "nginx_tls", "'false'"),
    ({"proxy_url": "ftp://proxy:3128"}, "proxy_url", "'ftp://proxy:3128'"),
    ({"proxy_url": "http://:3128"}, "proxy_url", "'http://:3128'"),
    ({"proxy_url": "http://ops:hunter2@proxy:3128"}, "proxy_url", "'<hidden>'"),
    ({"nginx_rest_upstream": "127.0.0.1:8080"}, "nginx_rest_upstream", "'127.0.0.1:8080'"),
    (
        {"nginx_rest_upstream": "http://127.0.0.1:8080/api"},
        "nginx_rest_upstream",
        "'http://127.0.0.1:8080/api'",
    ),
    ({"aws_endpoint_url": "localhost:5000"}, "aws_endpoint_url", "'localhost:5000'"),
    (
        {"nodejs_source": "binary", "nodejs_binary_url": "https://x.test/node.tar.gz"},
        "nodejs_binary_sha256",
        "None",
    ),
    (
        {"nodejs_source": "binary", "nodejs_binary_sha256": HEX},
        "nodejs_binary_url",
        "None",
    ),
    (
        {"nodejs_source": "binary", "nodejs_binary_url": "https://x.test/n.zip"},
        "nodejs_binary_url",
        "'https://x.test/n.zip'",
    ),
    ({"nodejs_binary_sha256": "abc123"}, "nodejs_binary_sha256", "'abc123'"),
    ({"app_auth": "jwt"}, "app_jwt_secret", "None"),
    ({"app_auth": "static"}, "app_static_token_hashes", "[]"),
    ({"app_static_token_hashes": ["xyz"]}, "app_static_token_hashes[0]", "'xyz'"),
    ({"nginx_proxy_read_timeout_s": 45}, "nginx_proxy_read_timeout_s", "45"),
    ({"app_cors_origins": ["*"]}, "app_cors_origins[0]", "'*'"),
    ({"app_cors_origins": "https://a.test"}, "app_cors_origins", "'https://a.test'"),
    (
        {"app_cors_origins": ["https://a.test/path"]},
        "app_cors_origins[0]",
        "'https://a.test/path'",
    ),
    ({"nginx_tls_cert_file": "/nonexistent.pem"}, "nginx_tls_cert_file", "'/nonexistent.pem'"),
    ({"app_name": "my app;rm"}, "app_name", "'my app;rm'"),
    ({"app_user": "root"}, "app_user", "'root'"),
    ({"app_user": "Bad User"}, "app_user", "'Bad User'"),
    ({"app_dir": "opt/app"}, "app_dir", "'opt/app'"),
    ({"app_dir": "/"}, "app_dir", "'/'"),
    ({"app_bind": "0.0.0.0"}, "app_bind", "'0.0.0.0'"),
    ({"sg_ssh_cidrs": ["0.0.0.0/0"]}, "sg_ssh_cidrs[0]", "'0.0.0.0/0'"),
    ({"sg_ssh_cidrs": ["::/0"]}, "sg_ssh_cidrs[0]", "'::/0'"),
    ({"sg_id": "security-group"}, "sg_id", "'security-group'"),
    ({"instance_id": "web-1"}, "instance_id", "'web-1'"),
    ({"firewall_ssh_cidrs": []}, "firewall_ssh_cidrs", "[]"),
    ({"verify_retries": -1}, "verify_retries", "-1"),
    ({"verify_timeout_s": 0}, "verify_timeout_s", "0"),
    ({"verify_address": "http://host"}, "verify_address", "'http://host'"),
    ({"nodejs_major": 16}, "nodejs_major", "16"),
    ({"app_env": {"BAD-NAME": "x"}}, "app_env['BAD-NAME']", "'BAD-NAME'"),
    ({"nginx_extra_directives": "gzip on;"}, "nginx_extra_directives", "'gzip on;'"),
    ({"nginx_tls": True, "nginx_tls_port": 80}, "nginx_tls_port", "80"),
    ({"nginx_listen_prot": 8080}, "nginx_listen_prot", "8080"),
    ({"verify_tls_ca_file": "/nonexistent/ca.pem"}, "verify_tls_ca_file", "'/nonexistent/ca.pem'"),
    ({"monitor_interval_s": 5}, "monitor_interval_s", "5"),
    ({"monitor_targets": ["10.0.1.5"]}, "monitor_targets[0]", "'10.0.1.5'"),
    ({"monitor_wheelhouse": "/nonexistent/wheels"}, "monitor_wheelhouse", "'/nonexistent/wheels'"),
    ({"monitor_prometheus_file": "wsready.prom"}, "monitor_prometheus_file", "'wsready.prom'"),
]


@pytest.mark.parametrize(("data", "key", "shown"), BAD, ids=[b[1] for b in BAD])
def test_bad_value_is_named_with_key_and_value(data: dict, key: str, shown: str) -> None:
    messages = _errors_for(data)
    assert any(message.startswith(f"{key} = {shown}: ") for message in messages), messages


def test_typo_gets_a_suggestion() -> None:
    (message,) = _errors_for({"nginx_listen_prot": 8080})
    assert "did you mean nginx_listen_port?" in message


def test_foreign_keys_are_ignored() -> None:
    assert _errors_for({"ssh_user": "root", "ssh_key": "/k", "_sudo": True}) == []


def test_all_problems_reported_at_once() -> None:
    errors = hostdata.validate({"app_port": 0, "nginx_ipv6": "yes", "nodejs_source": "x"})
    assert {error.key for error in errors} == {"app_port", "nginx_ipv6", "nodejs_source"}


def test_jwt_secret_is_never_echoed() -> None:
    (message,) = _errors_for({"app_auth": "jwt", "app_jwt_secret": "short-secret-value"})
    assert "short-secret-value" not in message
    assert message.startswith("app_jwt_secret = '<hidden>': ")


def test_secret_looking_typo_is_not_echoed() -> None:
    (message,) = _errors_for({"app_jwt_secert": "do-not-print-me"})
    assert "do-not-print-me" not in message
    assert message.startswith("app_jwt_secert = '<hidden>': ")
    assert "did you mean app_jwt_secret?" in message


def test_app_env_values_are_not_echoed() -> None:
    (message,) = _errors_for({"app_env": {"API_KEY": "line1\nline2-secret"}})
    assert "secret" not in message and message.startswith("app_env['API_KEY'] = '<hidden>'")


def test_ssh_from_world_allowed_when_explicit() -> None:
    assert _errors_for({"sg_ssh_cidrs": ["0.0.0.0/0"], "sg_allow_ssh_from_world": True}) == []


def test_valid_overrides_pass(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text("{}")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("c")
    key.write_text("k")
    data = {
        "proxy_url": "http://10.0.0.1:3128",
        "nodejs_source": "binary",
        "nodejs_binary_url": "https://registry.test/node-v22.tar.xz",
        "nodejs_binary_sha256": HEX,
        "app_source": str(app),
        "app_auth": "jwt",
        "app_jwt_secret": SECRET,
        "app_cors_origins": ["https://app.example.com", "http://localhost:8080"],
        "nginx_tls": True,
        "nginx_tls_cert_file": str(cert),
        "nginx_tls_key_file": str(key),
        "nginx_rest_upstream": "http://127.0.0.1:8080",
        "nginx_extra_directives": ["client_max_body_size 5m;"],
        "sg_enabled": True,
        "sg_id": "sg-0123456789abcdef0",
        "sg_ssh_cidrs": ["203.0.113.0/24"],
        "aws_region": "eu-north-1",
        "verify_address": "10.200.1.2",
    }
    assert _errors_for(data) == []


def test_tls_files_come_in_pairs(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("c")
    messages = _errors_for({"nginx_tls_cert_file": str(cert)})
    assert any(m.startswith("nginx_tls_cert_file = ") and "together" in m for m in messages)


def test_production_inventory_imports_and_validates() -> None:
    spec = importlib.util.spec_from_file_location("production", ROOT / "inventory/production.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    groups = [name for name, value in vars(module).items() if isinstance(value, tuple)]
    assert groups, "production.py defines no host group"
    for name in groups:
        hosts, group_data = getattr(module, name)
        assert hosts, name
        for host in hosts:
            host_name, host_data = host if isinstance(host, tuple) else (host, {})
            errors = hostdata.validate({**group_data, **host_data})
            assert errors == [], (name, host_name, [str(e) for e in errors])
            assert "*" not in {**group_data, **host_data}.get("app_cors_origins", [])


def test_proxy_credentials_are_refused_without_echoing_them() -> None:
    (message,) = _errors_for({"proxy_url": "http://ops:hunter2@proxy:3128"})
    assert "must not carry credentials" in message
    assert "hunter2" not in message and "ops:" not in message
