"""What the cloud steps of tasks/ share around their execute-time callbacks (python.call):
whether this is a `pyinfra --dry` run, and a log for a host that prints errors in red."""

from __future__ import annotations

import sys
from pathlib import Path

from pyinfra import logger


def is_dry_run() -> bool:
    """True under `pyinfra --dry`: pyinfra keeps that flag in its CLI arguments only."""
    return Path(sys.argv[0]).name == "pyinfra" and "--dry" in sys.argv[1:]


def logger_for(target):
    """A log for `target` (a pyinfra host): a line starting "error: " in red, as an error."""

    def log(message: str) -> None:
        if message.startswith("error: "):
            target.log_styled(message, fg="red", log_func=logger.error)
        else:
            target.log(message)

    return log
