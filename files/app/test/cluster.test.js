'use strict';
// Two real workers (server.js processes, APP_WORKERS=2, APP_WORKER=0/1 on consecutive loopback
// ports) sharing a real redis-server that this test starts on a free loopback port: broadcasts
// cross workers, health aggregates the siblings, a Redis outage degrades but does not break a
// worker, and the workers recover by themselves when Redis returns.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  REDIS_PASSWORD,
  waitFor,
  freePorts,
  requireRedisServer,
  startRedis,
  startWorker,
  health,
  broadcast,
  client,
  stop,
} = require('./support/cluster');

test('two workers share Redis: broadcast, health, sid, outage and recovery', { timeout: 90000 }, async (t) => {
  requireRedisServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsready-redis-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePorts(2);
  let redisPort;
  do redisPort = await freePorts(1);
  while (redisPort === port || redisPort === port + 1);

  let redis = await startRedis(redisPort, dir);
  const workers = [0, 1].map((i) => startWorker(i, { port, workers: 2, redisPort }));
  const clients = [];
  t.after(async () => {
    for (const c of clients) c.socket.close();
    await Promise.all([...workers, redis].map(stop));
  });
  const ports = [port, port + 1];

  const ok = (h) => h.status === 'ok' && h.redis === 'ok' && h.workers.up === 2 && h.workers.total === 2;
  for (const p of ports) await waitFor(`worker on ${p} healthy`, async () => ok(await health(p)));

  // Each worker's Engine.IO session ids start with its index.
  const a = await client(ports[0]);
  const b = await client(ports[1]);
  clients.push(a, b);
  assert.match(a.socket.io.engine.id, /^0-/);
  assert.match(b.socket.io.engine.id, /^1-/);

  // Health on either worker: its own connections, clients summed over the siblings.
  const ids = new Set();
  for (const [i, p] of ports.entries()) {
    const h = await waitFor('both clients counted and the Redis named', async () => {
      const answer = await health(p);
      return answer.clients === 2 && answer.redis_id ? answer : null;
    });
    assert.match(h.redis_id, /^[0-9a-f]{16}$/, 'a digest of the Redis run_id, never its address');
    ids.add(h.redis_id);
    assert.deepEqual(h, {
      status: 'ok',
      websocket: 'enabled',
      version: 'cluster-test',
      config: 'cfg-a',
      worker: i,
      connections: 1,
      clients: 2,
      max_clients: 20000,
      workers: { up: 2, total: 2, current: 2, list: h.workers.list },
      redis: 'ok',
      path: '/ws',
      transports: ['polling', 'websocket'],
      upgrades: true,
      probe_events: true,
      recovery: { enabled: true, max_disconnection_ms: 120000, shared: true },
      draining: false,
      redis_id: h.redis_id,
    });
    assert.deepEqual(h.workers.list.map((row) => [row.worker, row.port, row.config]), [[0, ports[0], 'cfg-a'], [1, ports[1], 'cfg-a']]);
    const own = await health(p, 'worker');
    const { list: ownList, ...ownCounts } = own.workers;
    assert.deepEqual([own.worker, own.clients, ownCounts, ownList.length], [i, 1, { up: 1, total: 1, current: 1 }, 1]);
  }
  assert.equal(ids.size, 1, 'both workers name the same Redis');

  // A broadcast POSTed to worker 1 reaches the clients of worker 0 and worker 1.
  assert.deepEqual(await broadcast(ports[1], { event: 'news', data: { n: 1 } }), {
    status: 200,
    body: { sent: true, worker: 1 },
  });
  await waitFor('news on both workers', () => a.got('news').length === 1 && b.got('news').length === 1);
  assert.deepEqual(a.got('news')[0].data, { n: 1 });
  assert.deepEqual(b.got('news')[0].data, { n: 1 });

  // Through a proxy (nginx adds these headers): refused. Bad bodies: 400 naming the problem.
  for (const header of [{ 'X-Forwarded-For': '203.0.113.9' }, { 'X-Real-IP': '203.0.113.9' }]) {
    const refused = await broadcast(ports[0], { event: 'news', data: 'proxied' }, header);
    assert.equal(refused.status, 403, JSON.stringify(header));
  }
  for (const [body, error] of [
    [{ event: 'connect' }, /reserved/],
    [{ event: 'disconnect', data: 1 }, /reserved/],
    [{ event: '' }, /non-empty string/],
    [{ event: 42 }, /non-empty string/],
    [{ event: 'x'.repeat(65) }, /at most 64/],
    [['news'], /JSON object/],
  ]) {
    const answer = await broadcast(ports[0], body);
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.match(answer.body.error, error);
  }
  assert.equal((await broadcast(ports[0], { event: 'x'.repeat(64) })).status, 200);

  // Redis killed: both workers degraded, redis down, nobody crashed, local clients still served.
  redis.child.kill('SIGKILL');
  await redis.exited;
  for (const p of ports) {
    await waitFor(`worker on ${p} degraded`, async () => {
      const h = await health(p);
      return h.status === 'degraded' && h.redis === 'down' && h.workers.up === 2;
    });
  }
  assert.ok(a.socket.connected && b.socket.connected, 'clients stay connected while Redis is down');
  assert.deepEqual(await broadcast(ports[0], { event: 'local', data: 'only-worker-0' }), {
    status: 200,
    body: { sent: true, worker: 0 },
  });
  await waitFor('a local broadcast during the outage', () => a.got('local').length === 1);

  // Redis back on the same port: ok again without a restart, and broadcasts cross workers again.
  redis = await startRedis(redisPort, dir);
  for (const p of ports) await waitFor(`worker on ${p} healthy again`, async () => ok(await health(p)), 15000);
  assert.equal((await broadcast(ports[0], { event: 'again', data: 2 })).status, 200);
  await waitFor('a broadcast from worker 0 on both workers after recovery', () =>
    a.got('again').length === 1 && b.got('again').length === 1);

  // A sibling gone: the other worker reports it.
  await stop(workers[1]);
  await waitFor('worker 0 sees its sibling gone', async () => {
    const h = await health(ports[0]);
    return h.status === 'degraded' && h.workers.up === 1 && h.workers.total === 2 && h.redis === 'ok';
  });

  for (const [i, worker] of workers.entries()) {
    const { stdout, stderr } = worker.output;
    assert.ok(!stdout.includes(REDIS_PASSWORD) && !stderr.includes(REDIS_PASSWORD), `worker ${i} logged the password`);
    assert.equal(stderr, '', `worker ${i} wrote to stderr`);
    // State changes only: connected, lost, connected again - not one line per reconnect attempt.
    const redisLines = stdout.split('\n').filter((line) => line.startsWith('Redis '));
    assert.deepEqual(
      redisLines.map((line) => /: (connected again|connected|connection lost|unreachable)/.exec(line)[1]),
      ['connected', 'connection lost', 'connected again'],
      `worker ${i}:\n${stdout}`,
    );
    assert.ok(!stdout.includes('WebSocket client connected'), 'connections logged without APP_LOG_CONNECTIONS=1');
  }
  assert.equal(workers[0].child.exitCode, null, 'worker 0 still running');
  assert.deepEqual(await workers[1].exited, { code: 0, signal: null });
});

test('Redis down at start: the worker serves, reports it, and joins Redis once it is up', { timeout: 60000 }, async (t) => {
  requireRedisServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsready-redis-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePorts(1);
  let redisPort;
  do redisPort = await freePorts(1);
  while (redisPort === port);

  const worker = startWorker(0, { port, workers: 1, redisPort });
  let redis = null;
  let c = null;
  t.after(async () => {
    if (c) c.socket.close();
    await Promise.all([worker, redis].filter(Boolean).map(stop));
  });
  const h = await waitFor('a degraded answer', async () => {
    const answer = await health(port);
    return answer.redis === 'down' ? answer : null;
  });
  assert.equal(h.status, 'degraded');
  c = await client(port);
  assert.equal((await broadcast(port, { event: 'local', data: 1 })).status, 200);
  await waitFor('a local broadcast without Redis', () => c.got('local').length === 1);

  redis = await startRedis(redisPort, dir);
  await waitFor('redis ok', async () => {
    const answer = await health(port);
    return answer.status === 'ok' && answer.redis === 'ok';
  }, 15000);
  assert.equal(worker.output.stderr, '');
  const redisLines = worker.output.stdout.split('\n').filter((line) => line.startsWith('Redis '));
  assert.equal(redisLines.length, 2, worker.output.stdout);
  assert.match(redisLines[0], /^Redis redis:\/\/127\.0\.0\.1:\d+: unreachable \(.+\); serving this worker's clients only/);
  assert.match(redisLines[1], /^Redis redis:\/\/127\.0\.0\.1:\d+: connected, broadcasts reach every worker$/);
});
