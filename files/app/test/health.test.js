'use strict';
// /api/health's figures from this worker and its siblings (siblings given as plain answers).
const test = require('node:test');
const assert = require('node:assert/strict');
const { createHealth } = require('../lib/health');

const CONFIG = { bind: '127.0.0.1', port: 3000, worker: 0, workers: 3, maxClients: 100, version: 'r1', configFingerprint: 'c1' };

function sibling(worker, version, config, connections = 2) {
  return { worker, version, config, connections };
}

test('workers.current counts the workers on this release and configuration', async () => {
  const answers = { 1: sibling(1, 'r1', 'c1'), 2: sibling(2, 'r1', 'c0') };
  const health = createHealth(CONFIG, () => ({ connections: 1, redis: 'off' }), {
    ask: async (_host, _port, index) => answers[index],
  });
  const body = await health('host');
  assert.equal(body.config, 'c1');
  const { list, ...counts } = body.workers;
  assert.deepEqual(counts, { up: 3, total: 3, current: 2 });
  assert.deepEqual(list.map((row) => [row.worker, row.version, row.config]), [[0, 'r1', 'c1'], [1, 'r1', 'c1'], [2, 'r1', 'c0']]);
  assert.equal(body.clients, 5);
  assert.equal(body.status, 'ok');
});

test('a missing sibling is degraded and not current', async () => {
  const health = createHealth(CONFIG, () => ({ connections: 0, redis: 'ok' }), {
    ask: async (_host, _port, index) => (index === 1 ? sibling(1, 'r0', 'c1') : null),
  });
  const body = await health('host');
  const { list, ...counts } = body.workers;
  assert.deepEqual(counts, { up: 2, total: 3, current: 1 });
  assert.deepEqual(list.map((row) => row.worker), [0, 1], 'the missing worker has no row');
  assert.equal(body.status, 'degraded');
});

test('each worker says its path, transports and whether it offers the upgrade', async () => {
  const config = { ...CONFIG, wsPath: '/ws', transports: ['polling'], allowUpgrades: true, listenPort: 3000 };
  const sib = { ...sibling(1, 'r1', 'c1'), path: '/other', transports: ['polling', 'websocket'], upgrades: true };
  const health = createHealth(config, () => ({ connections: 0, redis: 'off' }), {
    ask: async (_host, port, index) => (index === 1 ? { ...sib, port } : null),
  });
  const body = await health('host');
  assert.equal(body.probe_events, true);
  assert.deepEqual(body.transports, ['polling']);
  assert.equal(body.upgrades, false, 'polling only: no upgrade offered');
  const [own, other] = body.workers.list;
  assert.deepEqual([own.path, own.transports, own.upgrades, own.port], ['/ws', ['polling'], false, 3000]);
  assert.deepEqual([other.path, other.transports, other.upgrades, other.port], ['/other', ['polling', 'websocket'], true, 3001]);
});

test('health says whether recovery is on, its window, and whether Redis shares it', async () => {
  const own = () => ({ connections: 0, redis: 'ok', draining: true });
  const shared = createHealth({ ...CONFIG, workers: 1, recoveryMs: 120000, redis: { label: 'unix:///r.sock' } }, own);
  const body = await shared('host');
  assert.deepEqual(body.recovery, { enabled: true, max_disconnection_ms: 120000, shared: true });
  assert.equal(body.draining, true);
  assert.equal(body.workers.list[0].draining, true);
  const local = createHealth({ ...CONFIG, workers: 1, recoveryMs: 5000, redis: null }, own);
  assert.deepEqual((await local('host')).recovery, { enabled: true, max_disconnection_ms: 5000, shared: false });
  const off = createHealth({ ...CONFIG, workers: 1, recoveryMs: 0, redis: { label: 'x' } }, own);
  assert.deepEqual((await off('host')).recovery, { enabled: false, max_disconnection_ms: 0, shared: false });
});
