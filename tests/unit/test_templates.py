"""Every template of files/ renders into a file that reads like a hand-written one: no runs
of blank lines, no blank line opening or closing a `{ }` block, no trailing spaces, one final
newline. Each template is rendered the way the deploy renders it, over the data that switch
its conditional parts on and off; `test_every_template_is_covered` fails for a new template
until it has cases here."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyinfra.api.util import get_template

import tasks.monitor as monitor
from tasks.nginx_hardening import render_dropin
from wsready.deploy import app_config, app_release, capacity, families, redis_plan
from wsready.deploy.nginx_config import render_main, render_site, status_include
from wsready.hostdata import HostConfig

ROOT = Path(__file__).resolve().parents[2]
HASH = "admin:$apr1$abcdefgh$0123456789abcdefghijkl"
SITE_VARIANTS = [
    {},
    {"nginx_tls": True},
    {"nginx_tls": True, "nginx_tls_redirect": True, "nginx_tls_hsts": 31536000},
    {"nginx_tls": "acme", "nginx_server_name": "ws.example.com", "acme_email": "a@example.com"},
    {
        "nginx_rest_upstream": "http://10.0.0.9:8080",
        "nginx_trusted_proxies": ["10.0.0.0/8"],
        "nginx_extra_directives": ["client_max_body_size 5m;"],
        "nginx_ipv6": False,
        "nginx_listen_backlog": None,
        "nginx_reuseport": False,
    },
    {"monitor_status_path": "/status"},
]


def _config(**values) -> HostConfig:
    return HostConfig.from_data("wsr-1", values)


def _sites() -> list[str]:
    rendered = []
    for values in SITE_VARIANTS:
        data = _config(**values)
        for http2 in (families.HTTP2_LISTEN, families.HTTP2_DIRECTIVE):
            include = status_include(data, ["monitors"])
            rendered.append(render_site(data, 2, "0123456789abcdef", include, http2=http2))
    return rendered


def _mains() -> list[str]:
    data = _config()
    unlimited = _config(nginx_worker_rlimit_nofile=None)
    return [
        render_main(each, capacity.plan(each, 2), family)
        for each in (data, unlimited)
        for family in families.FAMILIES
    ]


def _app_units() -> list[str]:
    release = app_release.scan(app_config.BUNDLED_APP)
    local = redis_plan.RedisEndpoint(f"unix://{redis_plan.LOCAL_SOCKET}", None, local=True)
    rendered = []
    for workers, redis in ((1, None), (3, local)):
        config = app_config.app_config(_config(), release, workers, redis)
        rendered += [config.unit, config.target]
    return rendered


def _status() -> list[str]:
    return [
        monitor.status_location(_config(monitor_status_path="/status", **extra))
        for extra in ({}, {"monitor_status_htpasswd": HASH})
    ]


def _monitor_units(name: str) -> list[str]:
    context = {
        "monitor_user": monitor.MONITOR_USER,
        "venv": monitor.VENV,
        "env_file": monitor.ENV_FILE,
        "targets_file": monitor.TARGETS_FILE,
        "prometheus_file": "/var/lib/node_exporter/wsready.prom",
        "prometheus_dir": "/var/lib/node_exporter",
        "state_file": monitor.STATE_FILE,
        "state_directory": monitor.STATE_DIRECTORY,
        "timeout_s": monitor.CHECK_TIMEOUT_S,
        "retries": monitor.CHECK_RETRIES,
        "start_timeout_s": 60,
        "status_page": monitor.STATUS_PAGE,
        "status_refresh_s": 60,
        "interval_s": 60,
        "service": monitor.SERVICE,
    }
    # files.template renders these with pyinfra's defaults, as here
    template = get_template(str(ROOT / "files" / "systemd" / name))
    return [template.render(**context, extra_args=extra) for extra in ("", " --token-env X")]


CASES = {
    "nginx/wsready.conf.j2": _sites,
    "nginx/nginx.conf.j2": _mains,
    "nginx/status.conf.j2": _status,
    "systemd/nginx-hardening.conf.j2": lambda: [render_dropin(f) for f in families.FAMILIES],
    "systemd/app@.service.j2": lambda: _app_units()[0::2],
    "systemd/app.target.j2": lambda: _app_units()[1::2],
    "systemd/monitor.service.j2": lambda: _monitor_units("monitor.service.j2"),
    "systemd/monitor.timer.j2": lambda: _monitor_units("monitor.timer.j2"),
}


def hand_written_problems(text: str) -> list[str]:
    """What keeps `text` from reading like a hand-written config file."""
    problems = []
    if not text.endswith("\n") or text.endswith("\n\n"):
        problems.append("does not end with exactly one newline")
    lines = text.split("\n")[:-1]
    for number, line in enumerate(lines, 1):
        previous = lines[number - 2] if number > 1 else None
        following = lines[number] if number < len(lines) else None
        if line != line.rstrip():
            problems.append(f"line {number}: trailing whitespace")
        if line.strip():
            continue
        if number == 1:
            problems.append("line 1: blank")
        elif previous is not None and not previous.strip():
            problems.append(f"line {number}: a second blank line in a row")
        elif previous is not None and previous.rstrip().endswith("{"):
            problems.append(f"line {number}: blank after an opening brace")
        elif following is not None and following.strip() == "}":
            problems.append(f"line {number}: blank before a closing brace")
    return problems


def test_every_template_is_covered() -> None:
    templates = {str(path.relative_to(ROOT / "files")) for path in ROOT.glob("files/**/*.j2")}
    assert templates == set(CASES)


@pytest.mark.parametrize("template", sorted(CASES))
def test_rendered_files_read_like_hand_written_ones(template: str) -> None:
    rendered = CASES[template]()
    assert rendered
    for text in rendered:
        assert hand_written_problems(text) == [], text


def test_the_checker_names_what_it_finds() -> None:
    text = "a {\n\n    b;\n\n\n    c;   \n\n}\n\n"
    assert hand_written_problems(text) == [
        "does not end with exactly one newline",
        "line 2: blank after an opening brace",
        "line 5: a second blank line in a row",
        "line 6: trailing whitespace",
        "line 7: blank before a closing brace",
    ]
