"""The one text table of wsready: columns padded to their widest cell, two spaces apart;
the last column is left as it is (free text), trailing spaces dropped.

    render([("TARGET", "STATUS"), ("web-1", "OK")], indent="  ")
"""

from __future__ import annotations

from collections.abc import Sequence


def render(rows: Sequence[Sequence[str]], indent: str = "") -> str:
    """`rows` (the header first, if any) as aligned lines."""
    if not rows:
        return ""
    columns = len(rows[0])
    widths = [max(len(row[column]) for row in rows) for column in range(columns - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append((indent + "  ".join([*cells, row[-1]])).rstrip())
    return "\n".join(lines)
