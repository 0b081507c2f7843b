"""The status page's data keys (monitor_status_*), ruled in wsready/hostdata/monitor.py."""

from __future__ import annotations

import pytest

from wsready import hostdata
from wsready.hostdata import HostConfig

HASH = "ops:$apr1$abcdefgh$0123456789abcdefghijkl"


def errors(**data) -> list[str]:
    return [str(error) for error in hostdata.validate(data)]


def test_defaults_serve_private_ranges_without_auth() -> None:
    defaults = HostConfig.from_data("wsr-1", {})
    assert defaults.monitor_status_path == "/status"
    assert "10.0.0.0/8" in defaults.monitor_status_allow_cidrs
    assert "0.0.0.0/0" not in defaults.monitor_status_allow_cidrs
    assert defaults.monitor_status_htpasswd is None
    assert errors() == []


@pytest.mark.parametrize(
    "data",
    [
        {"monitor_status_path": None},
        {"monitor_status_path": "/ops/fleet-status"},
        {"monitor_status_allow_cidrs": ["203.0.113.0/24", "2001:db8::/32"]},
        {"monitor_status_htpasswd": HASH},
        {"monitor_status_htpasswd": HASH + "\nbob:$6$saltsalt$" + "x" * 86},
    ],
)
def test_good_status_data(data: dict) -> None:
    assert errors(**data) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"monitor_status_path": "status"}, "monitor_status_path = 'status': must be None or"),
        ({"monitor_status_path": "/st atus"}, "must be None or a URL path"),
        ({"monitor_status_path": "/api/status"}, "is the app's (/api)"),
        ({"monitor_status_path": "/ws"}, "is the app's (/ws)"),
        (
            {"monitor_status_path": "/socket/s", "app_socketio_path": "/socket"},
            "is the app's (/socket)",
        ),
        ({"monitor_status_allow_cidrs": []}, "must name at least one CIDR"),
        ({"monitor_status_allow_cidrs": "10.0.0.0/8"}, "must be a list of CIDR"),
        ({"monitor_status_allow_cidrs": ["10.0.0.0/33"]}, "monitor_status_allow_cidrs[0]"),
    ],
)
def test_bad_status_data_is_refused(data: dict, message: str) -> None:
    found = errors(**data)
    assert any(message in line for line in found), found


@pytest.mark.parametrize("value", ["ops:hunter2-plain", "ops", "", "ops:$1$weakmd5hash", 42])
def test_htpasswd_must_hold_hashes_and_is_never_echoed(value) -> None:  # noqa: ANN001
    (line,) = errors(monitor_status_htpasswd=value)
    assert line.startswith("monitor_status_htpasswd = '<hidden>': must be htpasswd lines")
    if isinstance(value, str) and value:
        assert value not in line
