"""Rendering files/ templates so the files read like hand-written ones.

Jinja's `trim_blocks` and `lstrip_blocks`: a line holding only a block tag (`{% if %}`,
`{% for %}`, ...) leaves nothing behind, neither its indentation nor its newline, so a
rendered nginx config has no runs of blank lines where a condition was false. For templates
whose block tags stand on lines of their own: nginx.conf and the wsready site. The others
keep Jinja's defaults (the app's units have tags inside lines; status.conf.j2 and the
nginx drop-in trim with `{%-`), and tests/unit/test_templates.py holds every template's
output to the same rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyinfra.api.util import get_template

OPTIONS = {"trim_blocks": True, "lstrip_blocks": True}


def render(path: Path, context: dict[str, Any] | None = None, **values: Any) -> str:
    """`path` rendered with `context` and `values`, block-tag lines left out."""
    return get_template(str(path), jinja_env_kwargs=dict(OPTIONS)).render(context or {}, **values)
