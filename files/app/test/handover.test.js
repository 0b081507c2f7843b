'use strict';
// Closed-loop drain pacing (lib/handover.js, lib/drain.js): the window of clients in flight
// grows while they are restored quickly, halves when they are slow, and bounds the closes.
const test = require('node:test');
const assert = require('node:assert/strict');
const { createHandovers, SLOW_MS, GONE_MS } = require('../lib/handover');
const { createDrain, sessionsByConnection } = require('../lib/drain');

function clock(start = 1000) {
  let t = start;
  return { now: () => t, add: (ms) => (t += ms) };
}

test('the window doubles per round of quick restores, up to what the rate could have in flight', () => {
  const time = clock();
  const h = createHandovers({ rate: 100, now: time.now, firstWindow: 10 });
  assert.equal(h.window(), 10);
  h.closed(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  assert.equal(h.room(), 0, 'a full window leaves no room');
  time.add(800);
  h.settle(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  assert.equal(h.window(), 20, 'slow start: + one per restore');
  const many = Array.from({ length: 20 }, (_, k) => `m${k}`);
  h.closed(many);
  time.add(800);
  h.settle(many);
  assert.equal(h.window(), 40);
  const more = Array.from({ length: 200 }, (_, k) => `n${k}`);
  h.closed(more);
  time.add(800);
  h.settle(more);
  assert.equal(h.window(), (100 * SLOW_MS) / 1000, 'capped at rate x SLOW_MS');
});

test('slow restores halve the window once per SLOW_MS, then it grows by a quarter per round', () => {
  const time = clock();
  const h = createHandovers({ rate: 1000, now: time.now, firstWindow: 64 });
  const first = Array.from({ length: 40 }, (_, k) => `s${k}`);
  h.closed(first);
  time.add(SLOW_MS + 1);
  h.settle(first.slice(0, 10)); // 10 restored late, 30 still lagging
  assert.equal(h.window(), 32);
  time.add(100);
  h.settle(first.slice(10, 20)); // still slow, but a cut was made less than SLOW_MS ago
  assert.equal(h.window(), 32);
  time.add(100);
  h.settle(first.slice(20));
  const quick = Array.from({ length: 32 }, (_, k) => `q${k}`);
  h.closed(quick);
  time.add(500);
  h.settle(quick);
  assert.equal(h.window(), 32 + 8, 'after a cut: + a quarter of the restores');
  assert.equal(h.stats().cuts, 1);
  assert.equal(h.stats().slow, 40);
});

test('a session never restored is given up after GONE_MS and counted once', () => {
  const time = clock();
  const h = createHandovers({ rate: 1000, now: time.now, firstWindow: 20, minWindow: 10 });
  h.closed(['gone']);
  assert.equal(h.inFlight(), 1);
  time.add(GONE_MS + 1);
  h.settle([]);
  assert.equal(h.inFlight(), 0);
  assert.equal(h.stats().gone, 1);
  assert.equal(h.window(), 10, 'one slow sign among one: halved, not below the minimum');
});

test('one slow handover among many quick ones is not congestion', () => {
  const time = clock();
  const h = createHandovers({ rate: 1000, now: time.now, firstWindow: 100 });
  const all = Array.from({ length: 100 }, (_, k) => `p${k}`);
  h.closed(all.slice(0, 1));
  time.add(SLOW_MS + 1);
  h.closed(all.slice(1));
  time.add(300);
  h.settle(all);
  assert.equal(h.stats().slow, 1);
  assert.ok(h.window() > 100, `${h.window()}`);
});

/** An io with `count` connections of one socket each, as createDrain sees it. */
function fakeIo(count) {
  const clients = {};
  const sockets = new Map();
  const io = {
    engine: {
      clients,
      get clientsCount() {
        return Object.keys(clients).length;
      },
    },
    _nsps: new Map([['/', { sockets }]]),
  };
  for (let k = 0; k < count; k += 1) {
    const conn = { id: `c${k}`, close: () => delete clients[`c${k}`] };
    clients[conn.id] = conn;
    sockets.set(`s${k}`, { conn, pid: `pid${k}` });
  }
  return io;
}

test('sessions are found per connection by their recovery id', () => {
  const io = fakeIo(3);
  io._nsps.set('/admin', { sockets: new Map([['x', { conn: { id: 'c1' }, pid: 'admin1' }]]) });
  const found = sessionsByConnection(io);
  assert.deepEqual(found.get('c1'), ['pid1', 'admin1']);
  assert.deepEqual(found.get('c0'), ['pid0']);
});

test('a drain closes no more than the window while nothing is restored, then goes on as they are', async () => {
  const io = fakeIo(200);
  const restored = new Set();
  const asked = [];
  const waitingInRedis = async (pids) => {
    asked.push(pids.length);
    return pids.map((pid) => !restored.has(pid));
  };
  const lines = [];
  const drain = createDrain(io, { rate: 100000, deadlineMs: 20000, waitingInRedis, log: (l) => lines.push(l), tickMs: 5, checkMs: 10 });
  const done = drain.start();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(drain.closed(), 50, 'the first window, nothing restored yet');
  assert.ok(asked.length > 0, 'the sessions in flight were looked up');
  for (let k = 0; k < 200; k += 1) restored.add(`pid${k}`); // every closed client comes back at once
  await done;
  assert.equal(drain.closed(), 200);
  assert.match(lines[0], /at most 100000 a second, at most 50 in flight to start with/);
  assert.match(lines.at(-1), /Drained 200 connection\(s\) in \d+ ms \(in flight at most \d+/);
});

test('a failed lookup leaves the drain at the rate alone, and says so', async () => {
  const io = fakeIo(120);
  const lines = [];
  const waitingInRedis = async () => {
    throw new Error('The client is closed');
  };
  const drain = createDrain(io, { rate: 100000, deadlineMs: 20000, waitingInRedis, log: (l) => lines.push(l), tickMs: 5, checkMs: 10 });
  await drain.start();
  assert.equal(drain.closed(), 120);
  assert.ok(lines.some((l) => /cannot see restored sessions \(The client is closed\); pacing at the rate alone/.test(l)), lines.join('\n'));
  assert.equal(drain.handovers(), null);
});
