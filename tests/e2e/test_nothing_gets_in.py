"""Issue 22, "Nothing gets in, part two", end to end.

1. A check of a fleet with one hostile target of each kind (tests/hostile_servers.py: a
   400-digit client count, a body trickled a byte every 0.5 s, a 300 MiB body, escape
   sequences and a target-chosen Location) beside good targets (the project's app on
   loopback; marked e2e: the sandbox fleet's hosts): the good targets are reported OK, the
   Prometheus file holds every target, the exit status is the worst real one, no escape
   reaches the terminal, the alert carries no target-chosen URL, and the run ends within
   its deadline with bounded memory.
2. (e2e) Each family of hostile host data (system names, an existing user, system
   directories, app_env overrides, weakening settings, package.json and symlinks) stops the
   deploy in its preflight naming the key, and the host is unchanged: hashes and modes of
   /etc's top-level entries, `systemctl get-default`, /etc/passwd and /etc/group.
3. (e2e) A `preinstall` script in the app runs as the app's user, never root.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

from tests.e2e.test_check import ROOT, LoopbackApp, Receiver, free_port, metrics
from tests.hostile_servers import EVIL_URL, all_kinds

TIMEOUT_S = 2
# The check's own bound: the hostile targets' probes each end at their 2 s deadline.
DEADLINE_S = 60


# `wsready check` in a process that reports its own peak RSS on stderr when it exits.
_MEASURED = (
    "import atexit, resource, sys; "
    "atexit.register(lambda: sys.stderr.write("
    "'PEAK_RSS_KB=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)); "
    "from wsready.cli import main; sys.exit(main(sys.argv[1:]))"
)


def run_check(*args: str) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """`wsready check ARGS` as a process: (result, wall seconds, its peak RSS in MiB)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED, "check", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=DEADLINE_S * 3,
    )
    seconds = time.monotonic() - started
    peak = [line for line in result.stderr.splitlines() if line.startswith("PEAK_RSS_KB=")]
    assert peak, result.stderr
    return result, seconds, int(peak[-1].split("=")[1]) // 1024


def unsafe_strings(item: object) -> list[str]:
    """Every string in `item` (JSON data) holding a control or bidi character."""
    if isinstance(item, str):
        bad = any(unicodedata.category(char) in ("Cc", "Cf") for char in item)
        return [item] if bad else []
    if isinstance(item, dict):
        return [text for pair in item.items() for part in pair for text in unsafe_strings(part)]
    if isinstance(item, list):
        return [text for part in item for text in unsafe_strings(part)]
    return []


def check_hostile_fleet(good: list[str], tmp_path: Path) -> None:
    """The check of `good` targets plus one hostile target of each kind, judged."""
    state, prom = tmp_path / "state.json", tmp_path / "wsready.prom"
    receiver = Receiver()
    try:
        with all_kinds() as hostile:
            urls = [*good, *hostile.values()]
            args = ["--timeout", str(TIMEOUT_S), "--retries", "0", "--prometheus", str(prom)]
            args += ["--state", str(state), "--alert-webhook", receiver.url]
            table, seconds, peak = run_check(*args, *urls)
            print(f"\nhostile fleet check: {seconds:.1f} s wall, peak RSS {peak} MiB")
            as_json, _seconds, _peak = run_check("--json", "--timeout", str(TIMEOUT_S),
                                                 "--retries", "0", *urls)  # fmt: skip
        sent = list(receiver.received)
    finally:
        receiver.close()
    assert seconds < DEADLINE_S, f"the check took {seconds:.1f} s"
    assert peak < 200, f"peak RSS {peak} MiB (a 300 MiB body must not be read)"
    statuses = {item["url"]: item["status"] for item in json.loads(as_json.stdout)["targets"]}
    assert [statuses[url] for url in good] == ["OK"] * len(good), as_json.stdout
    assert statuses[hostile["huge-body"]] in ("CRITICAL", "UNKNOWN")
    assert statuses[hostile["trickle"]] in ("CRITICAL", "UNKNOWN")
    assert statuses[hostile["escapes"]] == "CRITICAL"
    # The worst real status: the hostile targets fail, nothing crashed into UNKNOWN (3).
    assert table.returncode == as_json.returncode == 2, table.stderr[-3000:]
    samples = metrics(prom)
    for url in urls:
        assert ("wsready_target_status", (("target", url),)) in samples, url
    for url in good:
        assert samples[("wsready_target_status", (("target", url),))] == 0
    clients = samples.get(("wsready_clients", (("target", hostile["huge-number"]),)))
    assert clients is not None and clients <= 10**12  # clamped, still exported
    for output in (table.stdout, table.stderr, as_json.stdout):
        assert "\x1b" not in output and "\u202e" not in output
    assert not unsafe_strings(json.loads(as_json.stdout))  # nor JSON-escaped in a value
    # One alert per non-OK target; none carries the target's escapes or a link to its URL
    # in a fix.
    assert len(sent) == 4, sent
    for body in sent:
        flat = json.dumps(body, ensure_ascii=False)
        assert "\x1b" not in flat and "\u202e" not in flat
        assert "<https://" not in body["text"]
        assert EVIL_URL not in str((body.get("diagnosis") or {}).get("fix", ""))


def test_one_hostile_target_of_each_kind_does_not_blind_the_check(tmp_path: Path) -> None:
    app = LoopbackApp(free_port())
    app.start()
    try:
        check_hostile_fleet([f"http://127.0.0.1:{app.port}"], tmp_path)
    finally:
        app.stop()
