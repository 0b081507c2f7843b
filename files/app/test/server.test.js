'use strict';
// The real server on a loopback port: REST and Socket.IO must agree on every token.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const jwt = require('jsonwebtoken');
const { io: connect } = require('socket.io-client');
const { loadConfig } = require('../lib/config');
const { createApp } = require('../lib/app');

const SECRET = 'server-test-secret-42';
const now = () => Math.floor(Date.now() / 1000);

async function startServer(env) {
  const lines = [];
  const config = loadConfig({ APP_PORT: '0', APP_VERSION: 'abc123', ...env });
  const service = createApp(config, { log: (line) => lines.push(line) });
  const port = await service.listen();
  return { service, lines, base: `http://127.0.0.1:${port}` };
}

/** Connect with `auth` / `extraHeaders`; resolve {connected, error, welcome, socket}. */
function socketConnect(base, { token, header, path = '/ws' } = {}) {
  return new Promise((resolve) => {
    const socket = connect(base, {
      path,
      transports: ['websocket'],
      reconnection: false,
      auth: token === undefined ? {} : { token },
      extraHeaders: header ? { Authorization: header } : {},
      timeout: 3000,
    });
    socket.once('welcome', (welcome) => resolve({ connected: true, welcome, socket }));
    socket.once('connect_error', (error) => {
      socket.close();
      resolve({ connected: false, error: error.message, socket });
    });
  });
}

async function rest(base, path, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(`${base}${path}`, { headers });
  return { status: response.status, body: await response.json() };
}

test('health answers without a token and counts connections', async (t) => {
  const { service, base, lines } = await startServer({ APP_AUTH: 'jwt', JWT_SECRET: SECRET });
  t.after(() => service.close());
  const before = await rest(base, '/api/health');
  assert.deepEqual(before, {
    status: 200,
    body: {
      status: 'ok',
      websocket: 'enabled',
      version: 'abc123',
      config: '',
      worker: 0,
      connections: 0,
      clients: 0,
      max_clients: 20000,
      workers: { up: 1, total: 1, current: 1, list: before.body.workers.list },
      redis: 'off',
      path: '/ws',
      transports: ['polling', 'websocket'],
      upgrades: true,
      probe_events: true,
      recovery: { enabled: true, max_disconnection_ms: 120000, shared: false },
      draining: false,
    },
  });
  assert.deepEqual(before.body.workers.list.map((row) => [row.worker, row.path, row.upgrades]), [[0, '/ws', true]]);
  const token = jwt.sign({ sub: 'probe' }, SECRET, { expiresIn: 60 });
  const client = await socketConnect(base, { token });
  assert.equal(client.connected, true);
  assert.equal((await rest(base, '/api/health')).body.connections, 1);
  assert.equal((await rest(base, '/api/health')).body.clients, 1);
  assert.match(client.socket.io.engine.id, /^0-[\w-]{20}$/, 'the Engine.IO sid names worker 0');
  client.socket.close();
  assert.match(lines[0], /^Socket\.IO listening on http:\/\/127\.0\.0\.1:\d+ path \/ws \(auth jwt\)$/);
});

test('jwt token matrix: REST accepts exactly when the socket accepts', async (t) => {
  const { service, base, lines } = await startServer({
    APP_AUTH: 'jwt',
    JWT_SECRET: SECRET,
    JWT_AUDIENCE: 'wsready',
  });
  t.after(() => service.close());
  const sign = (claims, secret = SECRET) => jwt.sign({ sub: 'probe', ...claims }, secret);
  const cases = [
    { name: 'none', token: undefined, accepted: false },
    { name: 'expired', token: sign({ aud: 'wsready', exp: now() - 5 }), accepted: false },
    { name: 'nbf in the future', token: sign({ aud: 'wsready', nbf: now() + 600 }), accepted: false },
    { name: 'wrong signature', token: sign({ aud: 'wsready' }, 'not-the-secret'), accepted: false },
    { name: 'wrong audience', token: sign({ aud: 'other', exp: now() + 60 }), accepted: false },
    { name: 'valid', token: sign({ aud: 'wsready', exp: now() + 60 }), accepted: true },
  ];
  for (const { name, token, accepted } of cases) {
    const restResult = await rest(base, '/api/whoami', token);
    const socketResult = await socketConnect(base, { token });
    socketResult.socket.close();
    if (accepted) {
      assert.deepEqual(restResult, { status: 200, body: { auth: 'jwt', subject: 'probe' } }, name);
      assert.equal(socketResult.connected, true, name);
    } else {
      assert.deepEqual(restResult, { status: 401, body: { error: 'unauthorized' } }, name);
      assert.equal(socketResult.connected, false, name);
      assert.equal(socketResult.error, 'unauthorized', name);
    }
  }
  const logged = lines.join('\n');
  for (const { token } of cases) {
    if (token) assert.ok(!logged.includes(token), 'a token appeared in the log');
  }
  assert.ok(!logged.includes(SECRET));
  assert.match(logged, /WebSocket client refused: \S+ \(jwt expired\)/);
  assert.match(logged, /REST request refused: GET \/api\/whoami \(invalid signature\)/);
});

test('socket falls back to the Authorization header', async (t) => {
  const { service, base } = await startServer({ APP_AUTH: 'jwt', JWT_SECRET: SECRET });
  t.after(() => service.close());
  const token = jwt.sign({ sub: 'legacy' }, SECRET, { expiresIn: 60 });
  const accepted = await socketConnect(base, { header: `Bearer ${token}` });
  accepted.socket.close();
  assert.equal(accepted.connected, true);
  const refused = await socketConnect(base, { header: 'Bearer wrong' });
  assert.equal(refused.connected, false);
});

test('static tokens: REST and socket share the hash list', async (t) => {
  const hash = crypto.createHash('sha256').update('ops-token-1').digest('hex');
  const { service, base } = await startServer({ APP_AUTH: 'static', STATIC_TOKEN_SHA256: hash });
  t.after(() => service.close());
  for (const [token, accepted] of [['ops-token-1', true], ['ops-token-2', false]]) {
    const restResult = await rest(base, '/api/whoami', token);
    const socketResult = await socketConnect(base, { token });
    socketResult.socket.close();
    assert.equal(restResult.status, accepted ? 200 : 401, token);
    assert.equal(socketResult.connected, accepted, token);
  }
});

test('events flow both ways: welcome from the server, echo acknowledged', async (t) => {
  const { service, base, lines } = await startServer({ APP_AUTH: 'off', APP_LOG_CONNECTIONS: '1' });
  t.after(() => service.close());
  const client = await socketConnect(base);
  assert.equal(client.connected, true);
  const id = client.socket.id;
  assert.deepEqual(client.welcome, { id });
  const reply = await client.socket.timeout(2000).emitWithAck('echo', { n: 1, text: 'hi' });
  assert.deepEqual(reply, { n: 1, text: 'hi' });
  const disconnected = new Promise((resolve) => {
    const poll = setInterval(() => {
      if (lines.some((line) => line.startsWith('WebSocket client disconnected'))) {
        clearInterval(poll);
        resolve();
      }
    }, 10);
  });
  client.socket.close();
  await disconnected;
  assert.ok(lines.includes(`WebSocket client connected: ${id} (transport websocket, clients 1)`));
  assert.ok(lines.includes(`WebSocket client disconnected: ${id} (transport websocket, client namespace disconnect)`));
});

test('connections are not logged by default (APP_LOG_CONNECTIONS unset)', async (t) => {
  const { service, base, lines } = await startServer({ APP_AUTH: 'off' });
  t.after(() => service.close());
  const client = await socketConnect(base);
  assert.equal(client.connected, true);
  const gone = new Promise((resolve) => client.socket.once('disconnect', resolve));
  client.socket.close();
  await gone;
  // The server has seen the disconnect once its count is back to 0.
  const deadline = Date.now() + 3000;
  while (service.io.engine.clientsCount !== 0) {
    assert.ok(Date.now() < deadline, 'the server still counts the client');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.deepEqual(lines.filter((line) => line.startsWith('WebSocket client')), []);
});

test('WS_PATH and CORS origins come from the environment', async (t) => {
  const { service, base } = await startServer({
    WS_PATH: '/realtime',
    CORS_ORIGINS: 'https://app.example.com, https://admin.example.com',
  });
  t.after(() => service.close());
  const wrongPath = await socketConnect(base, { path: '/ws' });
  assert.equal(wrongPath.connected, false);
  const rightPath = await socketConnect(base, { path: '/realtime' });
  rightPath.socket.close();
  assert.equal(rightPath.connected, true);
  const allowed = await fetch(`${base}/realtime/?EIO=4&transport=polling`, {
    headers: { Origin: 'https://admin.example.com' },
  });
  assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://admin.example.com');
  const other = await fetch(`${base}/api/health`, { headers: { Origin: 'https://evil.example' } });
  assert.equal(other.headers.get('access-control-allow-origin'), null);
  const listed = await fetch(`${base}/api/health`, { headers: { Origin: 'https://app.example.com' } });
  assert.equal(listed.headers.get('access-control-allow-origin'), 'https://app.example.com');
});

test('close() disconnects clients and stops the listener', async () => {
  const { service, base } = await startServer({});
  const client = await socketConnect(base);
  const gone = new Promise((resolve) => client.socket.once('disconnect', resolve));
  await service.close();
  assert.match(await gone, /^(io server disconnect|transport close)$/);
  await assert.rejects(fetch(`${base}/api/health`));
});

test('answers name their worker and the probe room carries a message between two clients', async () => {
  const { service, base } = await startServer({ APP_WORKER: '0', APP_WORKERS: '1' });
  const holder = connect(base, { path: '/ws', transports: ['websocket'] });
  const emitter = connect(base, { path: '/ws' });
  try {
    const health = await fetch(`${base}/api/health`);
    assert.equal(health.headers.get('x-wsready-worker'), '0');
    const handshake = await fetch(`${base}/ws/?EIO=4&transport=polling`);
    assert.equal(handshake.headers.get('x-wsready-worker'), '0');
    const unknown = await fetch(`${base}/ws/?EIO=4&transport=polling&sid=0-nosuchsession`);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.headers.get('x-wsready-worker'), '0', 'Engine.IO errors name the worker too');
    const nonce = crypto.randomBytes(12).toString('base64url');
    const joined = await holder.timeout(3000).emitWithAck('wsready:probe-join', nonce);
    assert.deepEqual(joined, { joined: true, worker: 0 });
    const got = new Promise((resolve) => holder.once('wsready:probe', resolve));
    const sent = await emitter.timeout(3000).emitWithAck('wsready:probe-emit', nonce);
    assert.deepEqual(sent, { sent: true, worker: 0 });
    assert.deepEqual(await got, { nonce, worker: 0 });
    const refused = await emitter.timeout(3000).emitWithAck('wsready:probe-emit', 'short');
    assert.deepEqual(refused, { error: 'bad nonce' });
  } finally {
    holder.close();
    emitter.close();
    await service.close();
  }
});

test('APP_TRANSPORTS=polling: the handshake offers no upgrade and a WebSocket is refused with code 0', async () => {
  const { service, base } = await startServer({ APP_TRANSPORTS: 'polling' });
  try {
    const handshake = await (await fetch(`${base}/ws/?EIO=4&transport=polling`)).text();
    assert.deepEqual(JSON.parse(handshake.slice(1)).upgrades, []);
    const ws = await fetch(`${base}/ws/?EIO=4&transport=websocket`);
    assert.equal(ws.status, 400);
    assert.equal((await ws.json()).code, 0);
  } finally {
    await service.close();
  }
});
