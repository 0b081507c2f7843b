"""deploy.py with a unit template whose ExecStartPre fails (tests/e2e/files/): a unit change
that every pre-check accepts and that keeps the app's workers from starting."""

from pathlib import Path

import wsready.deploy.app_config as app_config

app_config.UNIT_TEMPLATE = Path(__file__).resolve().parent / "files" / "broken-app@.service.j2"

exec(compile((app_config.ROOT / "deploy.py").read_text(), "deploy.py", "exec"))  # noqa: S102
