"""Probing through a front door reaches every host (wsready/probes/session.py, sampled.py,
fleet/sweep.py, fleet/targets.py): the pure logic. A balancer over several app hosts is
played by `Balancer` below (each host names itself in every answer, as its nginx's
X-Wsready-Host does); tests/e2e/test_front_door.py does the same on a real HAProxy."""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.oracle_run import broadcast_trigger, run_oracle
from tests.unit.checkfakes import FakeDiagnosis
from tests.unit.test_client_sessions import TARGET, result, run_of
from tests.unit.test_oracle import FAST, N, app, on_this_machine
from wsready import cli
from wsready.exitstatus import ExitStatus
from wsready.fleet import targets
from wsready.fleet.sweep import CheckOptions, TargetOutcome, check_all, expecting
from wsready.probes import ProbeResult, Target
from wsready.probes import session as sessions
from wsready.probes.context import RunContext
from wsready.probes.diagnosis import diagnose
from wsready.probes.plan import plan_probes
from wsready.probes.sampled import front_door_hosts, worker_summary, workers
from wsready.probes.session import (
    POLLING,
    WEBSOCKET,
    Sample,
    Session,
    Step,
    covered,
    open_session,
    sample,
)

ROWS = [{"worker": "0", "path": "/ws"}, {"worker": "1", "path": "/ws"}]


def made(mode: str, host: str | None, worker: str, ok: bool = True) -> Session:
    """A session of `mode` made by `worker` of `host`: its handshake and connect answered."""
    steps = [
        Step("handshake", True, "200", status=200, worker=worker, host=host),
        Step("connect", ok, "200" if ok else "400", status=200 if ok else 400, worker=worker,
             host=host),
    ]  # fmt: skip
    return Session(mode, steps, sid=f"{worker}-x", worker=worker)


class Balancer:
    """Round robin over hosts, each handing sessions to its workers in turn (least
    connections with every session held does the same)."""

    def __init__(self, hosts: list[str], workers: int = 2) -> None:
        self.turn = itertools.cycle(hosts)
        self.next_worker = {host: itertools.cycle(str(w) for w in range(workers)) for host in hosts}
        self.opened: list[tuple[str, str]] = []

    def open_session(self, target: Target, mode: str, step_s: float, deadline: float) -> Session:
        host = next(self.turn)
        worker = next(self.next_worker[host])
        self.opened.append((host, worker))
        return made(mode, host, worker)


def test_two_hosts_of_two_workers_are_each_reached_on_every_worker_in_both_modes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Keyed by worker alone, sampling stopped once workers 0 and 1 answered (3 sessions:
    a0, b0, a1), never reaching worker 1 of host b."""
    balancer = Balancer(["wsr-a", "wsr-b"])
    monkeypatch.setattr(sessions, "open_session", balancer.open_session)

    taken = sample(TARGET, ["0", "1"], 3, 10)

    for mode in (POLLING, WEBSOCKET):
        reached = {(s.host, s.worker) for s in taken.of(mode)}
        assert reached == {("wsr-a", "0"), ("wsr-a", "1"), ("wsr-b", "0"), ("wsr-b", "1")}, mode
    assert len(taken.sessions) == 8, balancer.opened
    assert taken.bound == 8  # 2 per worker per host


def test_an_expected_host_that_never_answers_stops_sampling_at_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    balancer = Balancer(["wsr-a"])
    monkeypatch.setattr(sessions, "open_session", balancer.open_session)
    target = Target("http://10.200.1.2", behind=("wsr-a", "wsr-b"))

    started = time.monotonic()
    taken = sample(target, ["0", "1"], 3, 10)

    assert len(taken.of(POLLING)) == len(taken.of(WEBSOCKET)) == 8  # 2 × 2 workers × 2 hosts
    assert taken.hosts_seen == ["wsr-a"]
    assert time.monotonic() - started < 1


def test_one_host_behind_no_front_door_samples_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    balancer = Balancer(["wsr-a"])
    monkeypatch.setattr(sessions, "open_session", balancer.open_session)

    taken = sample(TARGET, ["0", "1"], 3, 10)

    assert [(s.mode, s.worker) for s in taken.sessions] == [
        (POLLING, "0"), (POLLING, "1"), (WEBSOCKET, "0"), (WEBSOCKET, "1"),
    ]  # fmt: skip
    assert not taken.several_hosts and taken.label(taken.sessions[1]) == "1"


def test_a_third_host_not_given_is_looked_for_one_session_past_the_hosts_seen() -> None:
    # One worker per host: a and b answered once each; a third host would have had its turn.
    two = [made(POLLING, "wsr-a", "0"), made(POLLING, "wsr-b", "0")]
    assert not covered(two, POLLING, ["0"], least=1)
    assert covered([*two, made(POLLING, "wsr-a", "0")], POLLING, ["0"], least=1)
    # Given the hosts, their coverage is enough; a host given but unseen is never covered.
    assert covered(two, POLLING, ["0"], ("wsr-a", "wsr-b"), least=1)
    assert not covered(two, POLLING, ["0"], ("wsr-a", "wsr-b", "wsr-c"), least=1)
    # A host seen only by the other kind of session must be reached by this kind too.
    assert not covered([*two, made(WEBSOCKET, "wsr-c", "0")], POLLING, ["0"], least=1)


def _ctx(taken: Sample, target: Target = TARGET) -> RunContext:
    ctx = RunContext(target=target)
    ctx.sample = taken
    ctx.results["health"] = result("health", True, "200", worker_list=ROWS)
    return ctx


def _probe(name: str, target: Target = TARGET):
    return next(p for p in plan_probes(target, 3) if p.name == name)


def test_the_workers_probe_names_each_host_and_the_steps_it_answered() -> None:
    lost = made(POLLING, "wsr-a", "1", ok=False)
    lost.steps[1].host = "wsr-b"  # the request of a's session answered by b
    taken = Sample(
        [made(POLLING, "wsr-a", "0"), lost, made(POLLING, "wsr-b", "0"),
         made(POLLING, "wsr-b", "1")],
        ["0", "1"], 8,
    )  # fmt: skip

    seen = workers(_probe("workers"), _ctx(taken))

    assert not seen.ok
    assert seen.detail["failing"] == ["wsr-a/1"]
    assert "worker wsr-a/1: 1/1 sessions failed at connect 400" in seen.actual
    hosts = {row["host"]: row for row in seen.detail["host_table"]}
    assert hosts["wsr-a"]["steps"] == {"handshake": 2, "connect": 1}
    assert hosts["wsr-b"]["steps"] == {"handshake": 2, "connect": 3}
    assert hosts["wsr-a"]["workers"] == ["0", "1"] and hosts["wsr-a"]["failed"] == 1
    summary = worker_summary([seen])
    assert [row["worker"] for row in summary] == ["wsr-a/0", "wsr-a/1", "wsr-b/0", "wsr-b/1"]
    assert {row["host"] for row in summary} == {"wsr-a", "wsr-b"}


def test_one_host_keeps_the_worker_names_check_json_had() -> None:
    taken = Sample([made(POLLING, "wsr-a", "0"), made(POLLING, "wsr-a", "1")], ["0", "1"], 4)
    seen = workers(_probe("workers"), _ctx(taken))
    assert seen.ok and seen.actual == "2/2 ok, 2 sessions (not reached within the bound, no " \
        "session failed: worker 0 by websocket; worker 1 by websocket)"  # fmt: skip
    assert [row["worker"] for row in worker_summary([seen])] == ["0", "1"]


def test_the_hosts_probe_is_planned_only_for_a_front_door_and_names_the_host_never_reached() -> (
    None
):
    assert "hosts" not in [p.name for p in plan_probes(TARGET, 3)]
    door = Target("http://10.200.1.2", behind=("wsr-a", "wsr-b"))
    taken = Sample([made(POLLING, "wsr-a", "0"), made(WEBSOCKET, "wsr-a", "1")], ["0", "1"], 8)

    seen = front_door_hosts(_probe("hosts", door), _ctx(taken, door))

    assert not seen.ok and seen.detail["missing"] == ["wsr-b"]
    assert "1 of 2 hosts never answered through the front door in 2 sessions: wsr-b" in seen.actual
    row = next(r for r in seen.detail["host_table"] if r["host"] == "wsr-b")
    assert row == {"host": "wsr-b", "expected": True, "sessions": 0, "failed": 0,
                   "workers": [], "modes": [], "steps": {}}  # fmt: skip
    both = Sample([made(POLLING, "wsr-a", "0"), made(POLLING, "wsr-b", "0")], ["0"], 8)
    assert front_door_hosts(_probe("hosts", door), _ctx(both, door)).ok


def test_a_host_that_never_answers_is_named_not_registered_and_clients_still_work() -> None:
    missing = result(
        "hosts", False, "1 of 2 hosts never answered", missing=["wsr-b"], reached=["wsr-a"],
        hosts_missing=1,
    )  # fmt: skip

    diagnosis = diagnose(TARGET, [*run_of(), missing])

    assert (diagnosis.layer, diagnosis.code) == ("front door", "front-door-host-not-registered")
    assert diagnosis.status == ExitStatus.WARNING and diagnosis.clients_work
    assert "wsr-b" in diagnosis.title and "clients land only on wsr-a" in diagnosis.title
    assert "wsready lb register" in diagnosis.fix


def test_the_front_door_expects_the_app_hosts_healthy_on_their_own_address() -> None:
    def outcome(name: str, status: ExitStatus, host: str) -> TargetOutcome:
        health = result("health", status != ExitStatus.CRITICAL, "200", host=host)
        return TargetOutcome(Target("http://10.0.0.1", name=name), status, [health])

    door = Target("http://10.0.0.9", name="lb", front_of=("app-1", "app-2", "app-3"))
    outcomes = [
        outcome("app-1", ExitStatus.OK, "wsr-1"),
        outcome("app-2", ExitStatus.WARNING, "wsr-2"),
        outcome("app-3", ExitStatus.CRITICAL, "wsr-3"),  # broken on its own: not expected
        outcome("other", ExitStatus.OK, "wsr-9"),
    ]

    assert expecting(door, outcomes).behind == ("wsr-1", "wsr-2")


def test_check_probes_the_front_door_after_its_hosts_expecting_them() -> None:
    seen: list[tuple[str, tuple[str, ...]]] = []

    def run(target: Target, timeout_s: float) -> list[ProbeResult]:
        seen.append((target.label, target.behind))
        return [result("health", True, "200", host=f"wsr-{target.label}")]

    door = Target("http://10.0.0.9", name="lb", front_of=("a", "b"))
    fleet = [door, Target("http://10.0.0.1", name="a"), Target("http://10.0.0.2", name="b")]
    ok = lambda target, results: FakeDiagnosis("none", "ok", ExitStatus.OK)  # noqa: E731

    report = check_all(fleet, CheckOptions(concurrency=4), run=run, diagnose_fn=ok)

    assert seen[-1] == ("lb", ("wsr-a", "wsr-b")), seen
    assert [o.label for o in report.outcomes] == ["lb", "a", "b"]  # input order kept


BALANCED = """\
app = [("app-1", {"ssh_hostname": "10.200.1.2"}), ("app-2", {"ssh_hostname": "10.200.2.2"})]
redis = [("redis-1", {"ssh_hostname": "10.200.3.2"})]
balancer = [("lb-1", {"ssh_hostname": "10.200.4.2"})]
"""


def test_an_inventory_with_a_balancer_group_makes_its_host_the_app_hosts_front_door(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fleet.py"
    path.write_text(BALANCED, encoding="utf-8")
    found = {t.name: t.front_of for t in targets.from_inventory(str(path))}
    assert found == {"app-1": (), "app-2": (), "lb-1": ("app-1", "app-2")}
    (alone,) = targets.from_inventory(str(path), group="balancer")
    assert alone.front_of == ()  # no app host checked beside it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--expect-host", "wsr 1", "http://127.0.0.1"],
            "wsready check: error: --expect-host = 'wsr 1': is not a host name",
        ),
        (
            ["--expect-host", "wsr-1", "--inventory", "fleet.py"],
            "wsready check: error: --expect-host = 'wsr-1': is for URLs; with --inventory",
        ),
    ],
)
def test_bad_expected_hosts_are_refused_naming_the_option(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["check", *args]) == 3
    assert capsys.readouterr().err.startswith(message)
    assert cli.main(["diagnose", "--expect-host", "a;b", "http://127.0.0.1"]) == 3
    assert "--expect-host = 'a;b'" in capsys.readouterr().err


class HeldSocket:
    closed = False

    def close(self, timeout: float = 0) -> None:
        self.closed = True


@pytest.mark.parametrize("idle", [False, True])
def test_the_single_probes_websocket_is_closed_before_sampling_unless_idle_holds_it(
    idle: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left open, it loads one worker in nginx's least_conn, and every polling handshake went
    to the other worker: a host's worker was never reached by polling (seen in e2e)."""
    monkeypatch.setattr(sessions, "open_session", Balancer(["wsr-a"]).open_session)
    ctx = RunContext(target=TARGET, idle=idle)
    ctx.results["health"] = result("health", True, "200", worker_list=ROWS)
    held = ctx.websocket = HeldSocket()

    workers(_probe("workers"), ctx)

    assert held.closed is not idle and (ctx.websocket is None) is not idle


class LeastConn:
    """A TCP balancer on loopback without stickiness: each new connection goes to the backend
    with the fewest open connections (ties in turn), as HAProxy's leastconn does without its
    cookie. Bytes are piped both ways until either side closes."""

    def __init__(self, ports: list[int]) -> None:
        self.ports, self.open = ports, dict.fromkeys(ports, 0)
        self.turn = itertools.count()
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with self.lock:
                least = min(self.open.values())
                tied = [port for port in self.ports if self.open[port] == least]
                port = tied[next(self.turn) % len(tied)]
                self.open[port] += 1
            threading.Thread(target=self._pipe, args=(client, port), daemon=True).start()

    def _pipe(self, client: socket.socket, port: int) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            client.close()
            return

        def copy(source: socket.socket, sink: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := source.recv(65536):
                    sink.sendall(data)
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

        back = threading.Thread(target=copy, args=(upstream, client), daemon=True)
        back.start()
        copy(client, upstream)
        back.join(10)
        client.close()
        upstream.close()
        with self.lock:
            self.open[port] -= 1

    def close(self) -> None:
        self.server.close()


def test_a_balancer_without_stickiness_fails_the_polling_session_as_it_fails_the_client() -> None:
    """The official client holds a long-poll GET open while it POSTs CONNECT on another
    connection: a least-connections balancer sends the POST to the other server, which does
    not know the session. The probe now does the same (before, its requests went one after
    the other on one connection, to one server, and it said OK while every client failed)."""
    with app() as first, app() as second:  # two servers, as two hosts of one worker
        door = LeastConn([first, second])
        try:
            target = Target(f"http://127.0.0.1:{door.port}")
            session = open_session(target, POLLING, 3, time.monotonic() + 10)
            session.close()
            clients = run_oracle(
                target.url, trigger=broadcast_trigger(on_this_machine, [first]), clients=N,
                mode="default", **FAST,
            )  # fmt: skip
        finally:
            door.close()

    failed = session.failed
    assert failed is not None and failed.name == "connect", session.to_dict()
    assert failed.engineio_error == {"code": 1, "message": "Session ID unknown"}, failed
    # Which request meets the other server varies: the CONNECT POST (`xhr post error`), the
    # next long-poll (`xhr poll error`) or the upgrade (`websocket error`).
    assert not clients.ok, clients.describe()
    assert re.search(r"xhr po(ll|st) error|websocket error", clients.describe()), clients.describe()
