"""Text a target sent, made safe to show: once, where probe results are made.

Whatever a target answers (a Server or Location header, a health value, a body, an error
message with its text) may hold terminal escape sequences, carriage returns that redraw a
line, bidirectional overrides that reorder what a reader sees, or megabytes. `text` drops
every control, format (bidi, zero-width), surrogate, private-use and unassigned character
and caps the length; `value` does so through dicts and lists (keys too). run_probes applies
it to every result (wsready/probes/runner.py), so the table, JSON, Prometheus labels, the
status page and alerts all get clean text. `chat` additionally escapes `&`, `<` and `>` for
alert webhooks: chat services read `<url|label>` as a link.
"""

from __future__ import annotations

import unicodedata
from typing import Any

MAX_TEXT = 512  # characters of any one string a result keeps
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_ELLIPSIS = "…"


def text(value: str, limit: int = MAX_TEXT) -> str:
    """`value` without control, format, surrogate, private-use or unassigned characters (a
    tab or newline becomes a space), at most `limit` characters (cut with '…')."""
    if value.isascii() and value.isprintable():  # nothing to drop (most of what is seen)
        return value if len(value) <= limit else value[: limit - 1] + _ELLIPSIS
    kept = []
    for char in value:
        if char in "\t\n\r":
            kept.append(" ")
        elif unicodedata.category(char) not in _DROPPED:
            kept.append(char)
        if len(kept) > limit:
            break
    clean = "".join(kept)
    return clean if len(clean) <= limit else clean[: limit - 1] + _ELLIPSIS


def value(item: Any, limit: int = MAX_TEXT) -> Any:
    """`item` with every string in it (dict keys included) cleaned by `text`."""
    if isinstance(item, str):
        return text(item, limit)
    if isinstance(item, dict):
        return {value(key, limit): value(inner, limit) for key, inner in item.items()}
    if isinstance(item, list | tuple):
        return [value(inner, limit) for inner in item]
    return item


def chat(message: str) -> str:
    """`message` for a chat webhook's text: `&`, `<`, `>` escaped (Slack's rule), so no
    value can become a link or a mention."""
    return message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
