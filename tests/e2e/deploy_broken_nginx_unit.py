"""deploy.py with an nginx drop-in (tests/e2e/files/) that leaves nginx's log directory
read-only: a unit change that every pre-check accepts and that keeps nginx from starting."""

from pathlib import Path

import tasks.nginx_hardening

tasks.nginx_hardening.TEMPLATE = (
    Path(__file__).resolve().parent / "files" / "broken-nginx-hardening.conf.j2"
)

exec(compile((tasks.nginx_hardening.ROOT / "deploy.py").read_text(), "deploy.py", "exec"))  # noqa: S102
