"""The browser oracle (tests/oracle_browser.py) for real: Debian's Chromium, headless, runs the
official client's browser build against the bundled app on loopback. It sees what Node's
client cannot: a CORS list without the page's origin breaks the default clients' polling."""

from __future__ import annotations

from tests.oracle_browser import run_browser_oracle
from tests.oracle_run import broadcast_trigger
from tests.unit.test_oracle import app, on_this_machine

EVENT = "oracle"


def test_every_browser_client_connects_upgrades_and_receives() -> None:
    with app() as port:
        trigger = broadcast_trigger(on_this_machine, [port], EVENT)
        outcome = run_browser_oracle(f"http://127.0.0.1:{port}", trigger=trigger, clients=3)
    assert outcome.ok, outcome.describe()
    assert [record["transport"] for record in outcome.clients] == ["websocket"] * 6
    assert outcome.modes["default"].upgraded == 3
    assert outcome.trigger_result == port


def test_cors_without_the_page_origin_fails_polling_in_the_browser_only() -> None:
    with app(CORS_ORIGINS="https://app.example") as port:
        trigger = broadcast_trigger(on_this_machine, [port], EVENT)
        outcome = run_browser_oracle(f"http://127.0.0.1:{port}", trigger=trigger, clients=3)
    assert not outcome.ok
    default, websocket = outcome.modes["default"], outcome.modes["websocket"]
    assert (default.connected, default.errors) == (0, {"xhr poll error": 3}), outcome.describe()
    assert websocket.all_ok, "browsers apply no CORS to the WebSocket handshake"
