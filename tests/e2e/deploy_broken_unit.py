"""deploy.py with a unit template whose ExecStartPre fails (tests/e2e/files/): a unit change
that every pre-check accepts and that keeps the app's workers from starting."""

from pathlib import Path

import tasks.app

tasks.app.UNIT_TEMPLATE = Path(__file__).resolve().parent / "files" / "broken-app@.service.j2"

exec(compile((tasks.app.ROOT / "deploy.py").read_text(), "deploy.py", "exec"))  # noqa: S102
