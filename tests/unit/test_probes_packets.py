"""Engine.IO / Socket.IO packet text: parsing and building."""

from __future__ import annotations

import pytest

from wsready.probes.packets import (
    PacketError,
    connect_packet,
    engine_error,
    parse_open,
    parse_socket,
    snippet,
    split_polling_payload,
)

OPEN = '0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'


def test_open_packet_fields() -> None:
    opened = parse_open(OPEN)
    assert opened.sid == "abc"
    assert (opened.ping_interval_ms, opened.ping_timeout_ms) == (25000, 20000)
    assert opened.upgrades == ()
    assert opened.max_payload == 1000000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("40", "not an Engine.IO open packet"),
        ("<html>", "not an Engine.IO open packet"),
        ("0{not json", "not JSON"),
        ('0{"sid":"a","upgrades":[]}', "lacks pingInterval, pingTimeout"),
        ('0{"sid":"a","upgrades":[],"pingInterval":"x","pingTimeout":1}', "milliseconds"),
    ],
)
def test_open_packet_refused(text: str, message: str) -> None:
    with pytest.raises(PacketError, match=message):
        parse_open(text)


def test_connect_accepted() -> None:
    packet = parse_socket('40{"sid":"xyz"}')
    assert (packet.type, packet.namespace, packet.data) == ("0", "/", {"sid": "xyz"})


def test_connect_error() -> None:
    packet = parse_socket('44{"message":"unauthorized"}')
    assert packet.type == "4"
    assert packet.data == {"message": "unauthorized"}


def test_namespace_and_ack_id() -> None:
    packet = parse_socket('42/chat,17["echo",1]')
    assert (packet.type, packet.namespace, packet.data) == ("2", "/chat", ["echo", 1])


def test_bare_connect_without_payload() -> None:
    assert parse_socket("40").data is None


@pytest.mark.parametrize("text", ["2", "0{}", "4", "49", '40{"sid"'])
def test_not_a_socket_packet(text: str) -> None:
    with pytest.raises(PacketError):
        parse_socket(text)


def test_connect_packet_carries_the_token_as_auth_payload() -> None:
    assert connect_packet(None) == "40"
    assert connect_packet("t0k") == '40{"token": "t0k"}'
    assert connect_packet("t", namespace="/admin") == '40/admin,{"token": "t"}'


def test_polling_payload_split() -> None:
    assert split_polling_payload("0{}\x1e40") == ["0{}", "40"]
    assert split_polling_payload("") == []


def test_engine_error_json() -> None:
    assert engine_error(b'{"code":3,"message":"Bad request"}') == (3, "Bad request")
    assert engine_error("<html>400</html>") is None
    assert engine_error(b"") is None
    assert engine_error('{"error":"not found"}') is None


def test_snippet_is_one_short_line() -> None:
    assert snippet("a\n  b\tc") == "a b c"
    assert len(snippet("x" * 500, limit=40)) == 40
    assert snippet(b"\xff ok") == "\ufffd ok"
    assert snippet(None) == ""
