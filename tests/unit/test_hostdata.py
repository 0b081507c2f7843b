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
    # Not a digest: maybe the token itself, so never echoed.
    ({"app_static_token_hashes": ["xyz"]}, "app_static_token_hashes[0]", "'<hidden>'"),
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
    # Scale-out keys.
    ({"app_workers": 0}, "app_workers", "0"),
    ({"app_workers": 65}, "app_workers", "65"),
    ({"app_workers": "2"}, "app_workers", "'2'"),
    ({"app_workers": True}, "app_workers", "True"),
    ({"app_max_clients": 0}, "app_max_clients", "0"),
    ({"app_max_clients": 2.5}, "app_max_clients", "2.5"),
    ({"app_port": 65535, "app_workers": 2}, "app_port", "65535"),
    ({"app_port": 79, "app_workers": 2}, "app_port", "79"),  # worker 1 on nginx's 80
    ({"app_redis_url": "http://10.0.0.5:6379"}, "app_redis_url", "'http://10.0.0.5:6379'"),
    ({"app_redis_url": "redis://10.0.0.5:6379/db"}, "app_redis_url", "'redis://10.0.0.5:6379/db'"),
    (
        {"app_redis_url": "redis://10.0.0.5:6379?timeout=1"},
        "app_redis_url",
        "'redis://10.0.0.5:6379?timeout=1'",
    ),
    ({"app_redis_url": "redis://:pw-in-url@10.0.0.5:6379"}, "app_redis_url", "'<hidden>'"),
    ({"app_log_connections": "0"}, "app_log_connections", "'0'"),
    ({"app_max_http_buffer_size": 100}, "app_max_http_buffer_size", "100"),
    ({"app_listen_backlog": 0}, "app_listen_backlog", "0"),
    ({"redis_password": "short"}, "redis_password", "'<hidden>'"),
    ({"kernel_sysctls": {"net.core.somaxconn": "1;rm"}}, "kernel_sysctls['net.core.somaxconn']",
     "'1;rm'"),
    ({"kernel_sysctls": {"net.core.somaxconn": True}}, "kernel_sysctls['net.core.somaxconn']",
     "True"),
    ({"kernel_sysctls": {"Net Core;rm": 1}}, "kernel_sysctls['Net Core;rm']", "'Net Core;rm'"),
    ({"kernel_sysctls": ["net.core.somaxconn"]}, "kernel_sysctls", "['net.core.somaxconn']"),
    ({"private_address": "fe80::1%eth0"}, "private_address", "'fe80::1%eth0'"),
    ({"private_address": "10.0.1.x"}, "private_address", "'10.0.1.x'"),
    ({"private_address": "FD00::1"}, "private_address", "'FD00::1'"),  # written as fd00::1
    ({"private_address": 167772161}, "private_address", "167772161"),
    ({"redis_address": 167772161}, "redis_address", "167772161"),
    ({"redis_address": "redis://10.0.0.5"}, "redis_address", "'redis://10.0.0.5'"),
    ({"redis_port": 0}, "redis_port", "0"),
    ({"redis_allow_cidrs": ["10.0.0.5/24"]}, "redis_allow_cidrs[0]", "'10.0.0.5/24'"),
    ({"nginx_worker_processes": 0}, "nginx_worker_processes", "0"),
    ({"nginx_worker_processes": "two"}, "nginx_worker_processes", "'two'"),
    ({"nginx_worker_processes": True}, "nginx_worker_processes", "True"),
    ({"nginx_worker_connections": 10}, "nginx_worker_connections", "10"),
    ({"nginx_worker_rlimit_nofile": 16000}, "nginx_worker_rlimit_nofile", "16000"),
    (
        {"nginx_worker_connections": 4096, "nginx_worker_rlimit_nofile": 4000},
        "nginx_worker_rlimit_nofile",
        "4000",
    ),
    ({"nginx_listen_backlog": 0}, "nginx_listen_backlog", "0"),
    ({"nginx_reuseport": "yes"}, "nginx_reuseport", "'yes'"),
    ({"nginx_hardening": "off"}, "nginx_hardening", "'off'"),
    ({"nginx_trusted_proxies": ["10.0.0.1/8"]}, "nginx_trusted_proxies[0]", "'10.0.0.1/8'"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "key", "shown"), BAD, ids=[b[1] for b in BAD])
def test_bad_value_is_named_with_key_and_value(data: dict, key: str, shown: str) -> None:
    messages = _errors_for(data)
    assert any(message.startswith(f"{key} = {shown}: ") for message in messages), messages


def test_rlimit_below_worker_connections_says_which() -> None:
    (message,) = _errors_for({"nginx_worker_rlimit_nofile": 16000})
    assert message == (
        "nginx_worker_rlimit_nofile = 16000: must be at least nginx_worker_connections (16384)"
    )


def test_private_address_scope_id_is_refused_by_name() -> None:
    (message,) = _errors_for({"private_address": "fe80::1%eth0"})
    assert message.endswith("must not carry a scope id (%...)")


def test_redis_url_with_credentials_hides_them() -> None:
    for url in ("redis://:hunter2-secret@10.0.0.5:6379", "redis://ops:hunter2-secret@h:6379"):
        (message,) = _errors_for({"app_redis_url": url})
        assert "hunter2-secret" not in message and "ops" not in message
        assert message == (
            "app_redis_url = '<hidden>': must not carry credentials: the password goes in "
            "redis_password"
        )


def test_redis_password_is_never_echoed() -> None:
    for bad in ("too-short-secret", "x" * 40 + " with-space", "x" * 40 + "\t", 12345):
        (message,) = _errors_for({"redis_password": bad})
        assert message.startswith("redis_password = '<hidden>': ")
        assert str(bad) not in message


def test_scale_out_overrides_pass() -> None:
    data = {
        "app_workers": 4,
        "app_max_clients": 50_000,
        "app_redis_url": "redis://10.0.0.5:6379/0",
        "redis_password": "r" * 40,
        "app_log_connections": True,
        "app_max_http_buffer_size": 100_000,
        "app_listen_backlog": 1024,
        "nginx_worker_processes": "auto",
        "nginx_worker_connections": 32_768,
        "nginx_worker_rlimit_nofile": 32_768,
        "nginx_listen_backlog": None,
        "nginx_reuseport": False,
        "nginx_hardening": False,
        "nginx_trusted_proxies": ["10.0.0.0/16"],
        "kernel_sysctls": {"net.core.somaxconn": "8192", "net.ipv4.ip_local_port_range": "1 2"},
        "private_address": "10.0.1.5",
        "redis_address": "10.0.0.5",
        "redis_allow_cidrs": ["10.0.2.0/24"],
    }
    assert _errors_for(data) == []
    assert _errors_for({"kernel_sysctls": {}, "nginx_worker_rlimit_nofile": None}) == []
    assert _errors_for({"private_address": "fd00::1", "app_redis_url": "rediss://r:6380"}) == []


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
