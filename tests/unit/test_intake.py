"""The checker's intake (issue 22): one deadline per request however slowly a target answers,
a body cap, clamped figures, sanitised wire text, and one target's failure isolated from
the fleet's report. Hostile targets are real servers on loopback (tests/hostile_servers.py)."""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time

import pytest

from tests.hostile_servers import hostile
from tests.unit.test_sweep import TARGET, diagnose_by_results, no_sleep, result
from wsready.exitstatus import ExitStatus
from wsready.fleet import prometheus
from wsready.fleet.sweep import CheckOptions, check_all, target_budget
from wsready.probes import Target, intake, sanitize
from wsready.probes import websocket as ws_probes
from wsready.probes.context import RunContext
from wsready.probes.http import MAX_FIGURE, get_direct, health_figures
from wsready.probes.plan import plan_probes


def test_a_trickled_body_ends_at_the_deadline_not_per_read() -> None:
    with hostile("trickle") as url:
        started = time.monotonic()
        with pytest.raises(intake.DeadlineExceeded):
            get_direct(Target(url=url), url + "/api/health", 1.5)
        assert time.monotonic() - started < 3


def test_trickled_headers_end_at_the_deadline() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle_headers() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
            if stop.is_set():
                break
            conn.sendall(bytes([byte]))
            time.sleep(0.2)
        conn.close()

    threading.Thread(target=trickle_headers, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    started = time.monotonic()
    try:
        with pytest.raises(intake.DeadlineExceeded):
            get_direct(Target(url=url), url + "/", 1.0)
        assert time.monotonic() - started < 2.5
    finally:
        stop.set()
        listener.close()


def test_a_300_mib_body_is_read_up_to_the_cap() -> None:
    with hostile("huge-body") as url:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        response = get_direct(Target(url=url), url + "/", 10)
        grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert len(response.content) == intake.MAX_BODY_BYTES and response.truncated
    assert grown_mib < 50


def test_a_trickled_websocket_handshake_ends_at_the_deadline() -> None:
    with hostile("trickle") as url:
        target = Target(url=url)
        probe = next(p for p in plan_probes(target, 1.5) if p.kind == "ws-upgrade")
        started = time.monotonic()
        seen = ws_probes.upgrade(probe, RunContext(target=target))
    assert time.monotonic() - started < 3
    assert seen.detail.get("error") == "timeout"


def test_a_400_digit_count_is_clamped() -> None:
    figures = health_figures({"clients": 10**400, "max_clients": 5, "workers": {"up": True}})
    assert figures == {"clients": MAX_FIGURE, "max_clients": 5}


def test_wire_text_loses_control_and_bidi_characters_and_is_capped() -> None:
    assert sanitize.text("nginx\x1b]0;pwned\x07\x1b[2J\u202eevil\u200b\r\nx") == (
        "nginx]0;pwned[2Jevil  x"
    )
    assert len(sanitize.text("a" * 5000)) == sanitize.MAX_TEXT
    assert sanitize.value({"k\x1b": ["v\u2066", 3]}) == {"k": ["v", 3]}
    assert sanitize.chat("<https://evil.example|click> & <!channel>") == (
        "&lt;https://evil.example|click&gt; &amp; &lt;!channel&gt;"
    )


def test_a_hung_target_is_unknown_within_its_budget_and_the_rest_is_reported() -> None:
    release = threading.Event()
    hung = Target(url="http://127.0.0.1:9001", name="hung")

    def probes(target: Target, _timeout: float):
        if target is hung:
            release.wait(30)  # a probe that never returns on its own
        if target.name == "raises":
            raise OverflowError("int too large to convert to float")
        return [result(True)]

    targets = [TARGET, hung, Target(url="http://127.0.0.1:9002", name="raises")]
    started = time.monotonic()
    try:
        report = check_all(
            targets,
            CheckOptions(retries=0, concurrency=2),
            probes,
            diagnose_by_results,
            no_sleep,
            budget=lambda target, _options: 1.0,
        )
    finally:
        release.set()
    assert time.monotonic() - started < 5
    assert [o.status for o in report.outcomes] == [
        ExitStatus.OK, ExitStatus.UNKNOWN, ExitStatus.UNKNOWN,
    ]  # fmt: skip
    assert "no result within 1 s" in report.outcomes[1].error
    assert "OverflowError" in report.outcomes[2].error


def test_the_budget_covers_every_probe_and_attempt() -> None:
    options = CheckOptions(timeout_s=2, retries=1, backoff_s=1)
    budget = target_budget(Target(url="http://127.0.0.1:1"), options)
    assert 2 * 2 * 5 < budget < 2 * (2 * 30 + 10) + 1


def test_an_outcome_with_a_nan_figure_is_unknown_and_prometheus_still_writes_the_rest(
    tmp_path,
) -> None:
    def probes(target: Target, _timeout: float):
        health = result(True)
        if target.name == "odd":
            health.detail["clients"] = float("nan")
        return [health]

    odd = Target(url="http://127.0.0.1:9003", name="odd")
    report = check_all(
        [TARGET, odd], CheckOptions(retries=0), probes, diagnose_by_results, no_sleep
    )
    assert [o.status for o in report.outcomes] == [ExitStatus.OK, ExitStatus.UNKNOWN]
    path = tmp_path / "wsready.prom"
    prometheus.write(report, str(path))
    text = path.read_text()
    assert 'wsready_target_status{target="web-1"} 0.0' in text
    assert 'wsready_target_status{target="odd"} 3.0' in text


def test_deadlines_are_kept_by_one_thread_however_many_are_armed() -> None:
    with contextlib.ExitStack() as stack:
        dogs = [stack.enter_context(intake.Watchdog(30)) for _ in range(100)]
        names = [thread.name for thread in threading.enumerate()]
    assert names.count("wsready-deadlines") == 1
    assert len(names) < 50, names  # a thread per watchdog would be 100 more
    assert not any(dog.fired for dog in dogs)


def test_a_deadline_still_fires_among_many_that_ended() -> None:
    for _ in range(2000):  # ended before their deadline: dropped, never fired
        with intake.Watchdog(60):
            pass
    left, right = socket.socketpair()
    with left, right, intake.Watchdog(0.3) as dog:
        dog.watch(left)
        left.settimeout(10)
        started = time.monotonic()
        assert left.recv(1) == b""  # shut down at the deadline, not at the 10 s timeout
        assert dog.fired and time.monotonic() - started < 5


def test_handshake_lines_are_read_whole_and_the_first_frame_stays_in_the_socket() -> None:
    intake.watched_websocket(intake.Watchdog(1))  # installs the line reader
    answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    frame = b"\x81\x020{"
    left, right = socket.socketpair()
    with left, right:
        right.sendall(answer + frame)
        left.settimeout(5)
        intake._HEADER_LINES.fast = True
        try:
            lines = [intake._recv_line(left) for _ in range(3)]
        finally:
            intake._HEADER_LINES.fast = False
        assert lines == [
            b"HTTP/1.1 101 Switching Protocols\r\n",
            b"Upgrade: websocket\r\n",
            b"\r\n",
        ]
        assert left.recv(16) == frame
