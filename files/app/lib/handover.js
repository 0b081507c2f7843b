'use strict';
// Closed-loop pacing of a drain. A draining worker closes connections at most at its rate
// (lib/drain.js), and at most `window` of them may be in flight: closed, their session not
// yet restored on another worker (its recovery key still in Redis). The window grows while
// handovers complete quickly and halves when they get slow, as TCP's congestion window does.
// A host that cannot reconnect clients as fast as the rate then hands them over as fast as it
// can, each client away for about the same short time, instead of building a backlog that
// grows until clients time out and retry (a reconnection storm: at 1,000 clients on a 2-CPU
// host the open-loop drain left clients away for 25 s, p50).

// A handover slower than this is a sign of congestion: the official client waits 0.5-1.5 s
// (reconnectionDelay 1 s, randomization 0.5) before it reconnects, the rest is the host.
const SLOW_MS = 2000;
// More than this share of the handovers slow: halve the window (at most once per SLOW_MS).
const SLOW_SHARE = 0.05;
// A session not restored by then belongs to a client that is gone: stop waiting for it.
const GONE_MS = 10000;
const FIRST_WINDOW = 50;
const MIN_WINDOW = 10;

/**
 * createHandovers({rate}) -> {closed(pids), settle(restored), room(), window(), waiting(minAgeMs),
 * inFlight(), stats()}. `rate` (per second) bounds the window to what the rate could have in
 * flight within SLOW_MS; `now` is injectable for tests.
 */
function createHandovers({ rate, now = Date.now, slowMs = SLOW_MS, goneMs = GONE_MS, firstWindow = FIRST_WINDOW, minWindow = MIN_WINDOW } = {}) {
  const maxWindow = Math.max(minWindow, Math.ceil((rate * slowMs) / 1000));
  let window = Math.min(maxWindow, Math.max(minWindow, firstWindow));
  let growing = true; // slow start: the window doubles per round until the first slow sign
  let lastCut = -Infinity;
  const inFlight = new Map(); // session pid -> when its connection was closed
  const counts = { restored: 0, slow: 0, gone: 0, cuts: 0, largest: window, smallest: window };

  /** Sessions whose connections were closed just now. */
  function closed(pids) {
    const at = now();
    for (const pid of pids) inFlight.set(pid, at);
  }

  /** Sessions in flight for at least `minAgeMs` (their key has had time to be written). */
  function waiting(minAgeMs) {
    const t = now();
    return [...inFlight].filter(([, at]) => t - at >= minAgeMs).map(([pid]) => pid);
  }

  /** `restored`: sessions no longer waiting in Redis. Adjusts the window. */
  function settle(restored) {
    const t = now();
    let finished = 0;
    let slow = 0;
    for (const pid of restored) {
      const at = inFlight.get(pid);
      if (at === undefined) continue;
      inFlight.delete(pid);
      finished += 1;
      if (t - at > slowMs) slow += 1;
    }
    for (const [pid, at] of inFlight) {
      if (t - at <= goneMs) continue;
      inFlight.delete(pid);
      counts.gone += 1;
      slow += 1;
    }
    let lagging = 0;
    for (const at of inFlight.values()) if (t - at > slowMs) lagging += 1;
    counts.restored += finished;
    counts.slow += slow;
    const signs = slow + lagging;
    if (signs > 0 && signs > SLOW_SHARE * (finished + inFlight.size)) {
      if (t - lastCut >= slowMs) {
        window = Math.max(minWindow, Math.floor(window / 2));
        growing = false;
        lastCut = t;
        counts.cuts += 1;
      }
    } else if (finished > 0) {
      window = Math.min(maxWindow, window + (growing ? finished : Math.max(1, Math.floor(finished / 4))));
    }
    counts.largest = Math.max(counts.largest, window);
    counts.smallest = Math.min(counts.smallest, window);
  }

  return {
    closed,
    settle,
    waiting,
    room: () => Math.max(0, window - inFlight.size),
    window: () => window,
    inFlight: () => inFlight.size,
    stats: () => ({ ...counts, window, inFlight: inFlight.size }),
  };
}

module.exports = { createHandovers, SLOW_MS, GONE_MS };
