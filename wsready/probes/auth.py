"""The rule from the runbook's last line: the socket validates the same token as REST."""

from __future__ import annotations

from wsready.probes.context import Clock, RunContext, finish, skip
from wsready.probes.model import Probe, ProbeResult


def _word(accepted: bool) -> str:
    return "accepts" if accepted else "refuses"


def agreement(probe: Probe, ctx: RunContext) -> ProbeResult:
    """REST accepts the token ⇔ the socket accepts it. A mismatch either way is CRITICAL:
    REST-valid but refused on the socket (clients break), or the reverse (socket unchecked)."""
    clock = Clock()
    if ctx.rest_accepted is None or ctx.socket_accepted is None:
        return skip(probe, "needs both a REST and a socket answer to the token")
    rest, sock = ctx.rest_accepted, ctx.socket_accepted
    text = f"REST {_word(rest)}, socket {_word(sock)}"
    detail = {"rest_accepted": rest, "socket_accepted": sock, "agree": rest == sock}
    return finish(probe, clock, text, detail=detail)
