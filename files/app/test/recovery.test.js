'use strict';
// Connection state recovery and paced draining, with real workers (server.js processes) and a
// real redis-server: a client drained from one worker by SIGTERM reconnects to the other and
// gets its id, rooms and the broadcasts it missed back; a drain closes each client once, at
// the configured rate, refuses new sessions with 503 meanwhile, and stops at its deadline.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { io: connect } = require('socket.io-client');
const { waitFor, freePorts, requireRedisServer, startRedis, startWorker, health, broadcast, stop } = require('./support/cluster');

const NONCE = 'recovery-test-room-0001';

/** A socket.io-client with the default transports that records events and disconnects. */
function recordingClient(port, options = {}) {
  const socket = connect(`http://127.0.0.1:${port}`, { path: '/ws', timeout: 3000, ...options });
  const events = [];
  const disconnects = [];
  const connects = [];
  socket.onAny((event, ...args) => events.push({ event, args }));
  socket.on('disconnect', (reason) => disconnects.push({ reason, at: Date.now() }));
  socket.on('connect', () => connects.push({ id: socket.id, recovered: socket.recovered }));
  return { socket, events, disconnects, connects, got: (name) => events.filter((e) => e.event === name) };
}

async function tempRedis(t) {
  requireRedisServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsready-redis-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePorts(1);
  return { port, proc: await startRedis(port, dir) };
}

test('a drained client recovers its id, rooms and missed broadcasts on the other worker', { timeout: 60000 }, async (t) => {
  const redis = await tempRedis(t);
  let port;
  do port = await freePorts(2);
  while (port === redis.port || port + 1 === redis.port);
  const workers = [0, 1].map((i) => startWorker(i, { port, workers: 2, redisPort: redis.port, env: { DRAIN_RATE: '50' } }));
  const sockets = [];
  t.after(async () => {
    for (const s of sockets) s.close();
    await Promise.all([...workers, redis.proc].map(stop));
  });
  for (const p of [port, port + 1]) {
    await waitFor(`worker on ${p} healthy`, async () => {
      const h = await health(p);
      return h.redis === 'ok' && h.workers.up === 2 && h.recovery.shared === true;
    });
  }

  // The client lives on worker 0; when it reconnects it is sent to worker 1 (as nginx would:
  // the draining worker takes no new session).
  const c = recordingClient(port, { reconnectionDelay: 1000, randomizationFactor: 0 });
  sockets.push(c.socket);
  c.socket.io.on('reconnect_attempt', () => {
    c.socket.io.uri = `http://127.0.0.1:${port + 1}`;
  });
  await waitFor('connected to worker 0', () => c.socket.connected && /^0-/.test(c.socket.io.engine.id));
  assert.deepEqual(await c.socket.emitWithAck('wsready:probe-join', NONCE), { joined: true, worker: 0 });
  const other = recordingClient(port + 1, { transports: ['websocket'] });
  sockets.push(other.socket);
  await waitFor('the second client connected', () => other.socket.connected);

  assert.equal((await broadcast(port + 1, { event: 'seq', data: 1 })).status, 200);
  await waitFor('seq 1', () => c.got('seq').length === 1);
  const before = { id: c.socket.id, connects: c.connects.length };

  // Broadcasts while it is away: to everyone (REST on worker 1) and to its room (a client of worker 1).
  c.socket.once('disconnect', () => {
    broadcast(port + 1, { event: 'seq', data: 2 });
    broadcast(port + 1, { event: 'seq', data: 3 });
    other.socket.emit('wsready:probe-emit', NONCE);
  });
  workers[0].child.kill('SIGTERM');
  assert.deepEqual(await workers[0].exited, { code: 0, signal: null });
  assert.match(workers[0].output.stdout, /Drained 1 connection\(s\) in \d+ ms/);

  await waitFor('reconnected', () => c.connects.length === before.connects + 1, 15000);
  assert.deepEqual(c.connects.at(-1), { id: before.id, recovered: true }, 'same id, recovered');
  assert.match(c.socket.io.engine.id, /^1-/, 'now on worker 1');
  assert.deepEqual(c.disconnects.map((d) => d.reason), ['transport close'], 'disconnected exactly once');
  await waitFor('the missed broadcasts', () => c.got('seq').length === 3 && c.got('wsready:probe').length === 1);
  assert.deepEqual(c.got('seq').map((e) => e.args[0]), [1, 2, 3], 'each broadcast once, in order');
  assert.equal(c.got('wsready:probe')[0].args[0].nonce, NONCE, 'the room message reached it');

  // Still in its room after recovery: a new room message reaches it on worker 1.
  other.socket.emit('wsready:probe-emit', NONCE);
  await waitFor('a room message after recovery', () => c.got('wsready:probe').length === 2);
  const h = await health(port + 1, 'worker');
  assert.equal(h.connections, 2);
});

test('a client away longer than the window is a new session', { timeout: 60000 }, async (t) => {
  const redis = await tempRedis(t);
  let port;
  do port = await freePorts(1);
  while (port === redis.port);
  const env = { RECOVERY_MAX_DISCONNECTION_MS: '300' };
  let worker = startWorker(0, { port, workers: 1, redisPort: redis.port, env });
  const sockets = [];
  t.after(async () => {
    for (const s of sockets) s.close();
    await Promise.all([worker, redis.proc].map(stop));
  });
  await waitFor('healthy', async () => (await health(port)).redis === 'ok');
  const c = recordingClient(port, { reconnectionDelay: 1500, randomizationFactor: 0 });
  sockets.push(c.socket);
  await waitFor('connected', () => c.socket.connected);
  assert.equal((await broadcast(port, { event: 'seq', data: 1 })).status, 200);
  await waitFor('seq 1', () => c.got('seq').length === 1);
  const first = c.socket.id;
  await stop(worker);
  worker = startWorker(0, { port, workers: 1, redisPort: redis.port, env });
  await waitFor('reconnected after 1.5 s', () => c.connects.length === 2, 15000);
  assert.equal(c.connects[1].recovered, false, 'the 300 ms window had passed');
  assert.notEqual(c.connects[1].id, first);
});

test('paced drain: each client closed once at the rate, new sessions refused, deadline kept', { timeout: 60000 }, async (t) => {
  const port = await freePorts(1);
  const count = 30;
  const rate = 20;
  // No Redis: the drain does not need it. Deadline 1 s: 20 clients at the rate, the rest at once.
  const worker = startWorker(0, { port, workers: 1, redisPort: 1, env: { REDIS_URL: '', DRAIN_RATE: String(rate), DRAIN_DEADLINE_MS: '1000' } });
  const clients = [];
  t.after(async () => {
    for (const c of clients) c.socket.close();
    await stop(worker);
  });
  await waitFor('listening', async () => (await health(port)).status === 'ok');
  for (let i = 0; i < count; i += 1) clients.push(recordingClient(port, { reconnection: false, transports: ['websocket'] }));
  await waitFor(`${count} connected`, () => clients.every((c) => c.socket.connected));

  const started = Date.now();
  worker.child.kill('SIGTERM');
  await waitFor('draining', async () => (await health(port)).draining === true, 2000);
  // New sessions while draining: 503 for a polling handshake and for a WebSocket handshake.
  const polling = await fetch(`http://127.0.0.1:${port}/ws/?EIO=4&transport=polling`);
  assert.equal(polling.status, 503);
  const upgrade = await new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: '/ws/?EIO=4&transport=websocket',
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('response', (res) => resolve(res.statusCode));
    req.on('upgrade', () => resolve(101));
    req.on('error', reject);
    req.end();
  });
  assert.equal(upgrade, 503);

  assert.deepEqual(await worker.exited, { code: 0, signal: null });
  await waitFor('every client disconnected', () => clients.every((c) => c.disconnects.length > 0));
  const offsets = clients.map((c) => c.disconnects[0].at - started).sort((a, b) => a - b);
  for (const c of clients) assert.deepEqual(c.disconnects.map((d) => d.reason), ['transport close']);
  // Paced: in the first 500 ms at most rate/2 (+ one tick) left; all were gone soon after the deadline.
  const early = offsets.filter((ms) => ms < 500).length;
  assert.ok(early <= rate / 2 + 2, `${early} clients left in the first 500 ms: ${offsets}`);
  assert.ok(offsets.at(-1) >= 900, `the last client left before the 1 s deadline: ${offsets}`);
  assert.ok(offsets.at(-1) < 3000, `the last client left long after the deadline: ${offsets}`);
  assert.match(worker.output.stdout, /Draining 30 connection\(s\): at most 20 a second, the rest after 1000 ms/);
  assert.match(worker.output.stdout, /Drain deadline reached: closing the \d+ connection\(s\) left at once/);
});

test('drain arithmetic: the budget grows with time at the rate; a request names its session', () => {
  const { budget, sessionOf } = require('../lib/drain');
  assert.equal(budget(1000, 50), 50);
  assert.equal(budget(20, 50), 1, 'at least one per tick');
  assert.equal(budget(20, 1000), 20);
  assert.equal(sessionOf({ url: '/ws/?EIO=4&transport=polling&sid=0-abc' }), '0-abc');
  assert.equal(sessionOf({ url: '/ws/?EIO=4&transport=polling' }), null);
  assert.equal(sessionOf({ url: '/ws/' }), null);
});

test('a long-polling session whose client is gone does not hold the drain to its deadline', { timeout: 30000 }, async (t) => {
  const port = await freePorts(1);
  const worker = startWorker(0, { port, workers: 1, redisPort: 1, env: { REDIS_URL: '', DRAIN_DEADLINE_MS: '20000' } });
  t.after(() => stop(worker));
  await waitFor('listening', async () => (await health(port)).status === 'ok');
  // An Engine.IO handshake and nothing after it: the session waits for a poll that never comes.
  const handshake = await fetch(`http://127.0.0.1:${port}/ws/?EIO=4&transport=polling`);
  assert.equal(handshake.status, 200);
  await waitFor('the session counted', async () => (await health(port)).connections === 1);
  const started = Date.now();
  worker.child.kill('SIGTERM');
  assert.deepEqual(await worker.exited, { code: 0, signal: null });
  const took = Date.now() - started;
  assert.ok(took < 5000, `stopping took ${took} ms (deadline 20 s, grace 1 s)`);
  assert.match(worker.output.stdout, /Drained 1 connection\(s\) in \d+ ms/);
});

test('a broadcast sent while a session is being restored reaches it once (the restore race)', { timeout: 60000 }, async (t) => {
  // In-process workers (createApp), so worker 1 can hold a restored socket in its middlewares
  // (as a slow token check would) while broadcasts are sent: Socket.IO's adapter alone drops
  // them for that socket (it is not in namespace.sockets yet).
  const { createApp } = require('../lib/app');
  const { loadConfig } = require('../lib/config');
  const { REDIS_PASSWORD } = require('./support/cluster');
  const redis = await tempRedis(t);
  let port;
  do port = await freePorts(2);
  while (port === redis.port || port + 1 === redis.port);
  const quiet = () => {};
  const services = [0, 1].map((i) =>
    createApp(
      loadConfig({
        APP_PORT: String(port),
        APP_WORKERS: '2',
        APP_WORKER: String(i),
        REDIS_URL: `redis://127.0.0.1:${redis.port}`,
        REDIS_PASSWORD,
      }),
      { log: quiet },
    ),
  );
  let c = null;
  t.after(async () => {
    if (c) c.socket.close();
    await Promise.all(services.map((s) => s.close()));
    await stop(redis.proc);
  });
  await Promise.all(services.map((s) => s.listen()));
  for (const p of [port, port + 1]) {
    await waitFor(`worker on ${p} healthy`, async () => (await health(p)).redis === 'ok');
  }
  c = recordingClient(port, { reconnectionDelay: 200, randomizationFactor: 0 });
  let held = 0;
  services[1].io.use((socket, next) => {
    if (!socket.recovered) return next();
    held += 1;
    // Restored (its missed broadcasts read from the stream), not connected yet: broadcast
    // from this worker (local delivery) and from the other (through the stream reader).
    services[1].io.emit('seq', 2);
    services[0].io.emit('seq', 3);
    return setTimeout(next, 500);
  });
  c.socket.io.on('reconnect_attempt', () => {
    c.socket.io.uri = `http://127.0.0.1:${port + 1}`;
  });
  await waitFor('connected to worker 0', () => c.socket.connected && /^0-/.test(c.socket.io.engine.id));
  services[0].io.emit('seq', 1);
  await waitFor('seq 1', () => c.got('seq').length === 1);
  const id = c.socket.id;
  services[0].io.of('/').sockets.get(id).conn.close();
  await waitFor('recovered on worker 1', () => c.connects.length === 2 && /^1-/.test(c.socket.io.engine.id), 15000);
  assert.deepEqual(c.connects.at(-1), { id, recovered: true });
  assert.equal(held, 1);
  await waitFor('seq 2 and 3', () => c.got('seq').length >= 3);
  services[0].io.emit('seq', 4);
  await waitFor('seq 4', () => c.got('seq').some((e) => e.args[0] === 4));
  assert.deepEqual(c.got('seq').map((e) => e.args[0]), [1, 2, 3, 4], 'each broadcast once, in order');
  assert.ok(services[1].restoring.restoring >= 2, `delivered while restoring: ${JSON.stringify(services[1].restoring)}`);
});

test('a broadcast applied before a restored socket exists is added to its replay (the restore race)', { timeout: 60000 }, async (t) => {
  // A restore's XRANGE has run, and before the Socket is built this worker applies
  // broadcasts (its own, and one from the other worker through the stream reader): without
  // the catch-up they are in neither the replay nor the socket's stream.
  const { createApp } = require('../lib/app');
  const { loadConfig } = require('../lib/config');
  const { REDIS_PASSWORD } = require('./support/cluster');
  const redis = await tempRedis(t);
  let port;
  do port = await freePorts(2);
  while (port === redis.port || port + 1 === redis.port);
  const services = [0, 1].map((i) =>
    createApp(
      loadConfig({ APP_PORT: String(port), APP_WORKERS: '2', APP_WORKER: String(i), REDIS_URL: `redis://127.0.0.1:${redis.port}`, REDIS_PASSWORD }),
      { log: () => {} },
    ),
  );
  let c = null;
  t.after(async () => {
    if (c) c.socket.close();
    await Promise.all(services.map((s) => s.close()));
    await stop(redis.proc);
  });
  await Promise.all(services.map((s) => s.listen()));
  for (const p of [port, port + 1]) {
    await waitFor(`worker on ${p} healthy`, async () => (await health(p)).redis === 'ok');
  }
  const adapter = services[1].io.of('/').adapter;
  const restore = adapter.restoreSession.bind(adapter);
  let restores = 0;
  adapter.restoreSession = async (pid, offset) => {
    const session = await restore(pid, offset);
    restores += 1;
    services[1].io.emit('seq', 2);
    services[0].io.emit('seq', 3);
    await new Promise((resolve) => setTimeout(resolve, 500)); // both applied on worker 1 meanwhile
    return session;
  };
  c = recordingClient(port, { reconnectionDelay: 200, randomizationFactor: 0 });
  await waitFor('connected to worker 0', () => c.socket.connected && /^0-/.test(c.socket.io.engine.id));
  c.socket.io.on('reconnect_attempt', () => {
    c.socket.io.uri = `http://127.0.0.1:${port + 1}`;
  });
  services[0].io.emit('seq', 1);
  await waitFor('seq 1', () => c.got('seq').length === 1);
  const id = c.socket.id;
  services[0].io.of('/').sockets.get(id).conn.close();
  await waitFor('recovered on worker 1', () => c.connects.length === 2 && /^1-/.test(c.socket.io.engine.id), 15000);
  assert.deepEqual(c.connects.at(-1), { id, recovered: true });
  assert.equal(restores, 1);
  await waitFor('seq 2 and 3', () => c.got('seq').length >= 3);
  services[1].io.emit('seq', 4);
  await waitFor('seq 4', () => c.got('seq').some((e) => e.args[0] === 4));
  assert.deepEqual(c.got('seq').map((e) => e.args[0]), [1, 2, 3, 4], 'each broadcast once, in order');
  assert.equal(services[1].restoring.caught_up, 2, JSON.stringify(services[1].restoring));
});
