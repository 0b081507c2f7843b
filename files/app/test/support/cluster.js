'use strict';
// Real processes for the app's cluster tests: a redis-server on a free loopback port, workers
// (server.js) on consecutive ports, socket.io-client clients, and waiting with a deadline.
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { io: connect } = require('socket.io-client');

const SERVER = path.join(__dirname, '..', '..', 'server.js');
const REDIS_PASSWORD = 'cluster-test-redis-pw-7f3a';
const children = new Set();

process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Poll `check` (sync or async) until it returns a truthy value; fail with `what` after timeoutMs. */
async function waitFor(what, check, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function canListen(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free loopback port P such that P .. P+count-1 are all free. */
async function freePorts(count) {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    const free = await Promise.all(Array.from({ length: count }, (_, i) => canListen(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free loopback ports found`);
}

function spawnLogged(command, args, options) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  children.add(child);
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk) => (output.stdout += chunk));
  child.stderr.on('data', (chunk) => (output.stderr += chunk));
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
    child.on('error', (error) => {
      children.delete(child);
      resolve({ error });
    });
  });
  return { child, output, exited };
}

function requireRedisServer() {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  assert.ok(
    !probe.error && probe.status === 0,
    'redis-server is not installed: the cluster test needs a real Redis (Debian: apt-get install -y redis-server; ' +
      'scripts/setup installs it; the system service is not used)',
  );
}

/** redis-server on 127.0.0.1:port, no persistence, files in a temporary directory. */
async function startRedis(port, dir) {
  const redis = spawnLogged(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--requirepass', REDIS_PASSWORD],
    { cwd: dir },
  );
  await waitFor(`redis-server on port ${port}`, () => {
    if (redis.child.exitCode !== null) throw new Error(`redis-server exited: ${redis.output.stdout.slice(-500)}`);
    return redis.output.stdout.includes('Ready to accept connections');
  });
  return redis;
}

function startWorker(worker, { port, workers, redisPort, env = {} }) {
  return spawnLogged(process.execPath, [SERVER], {
    env: {
      PATH: process.env.PATH,
      APP_PORT: String(port),
      APP_WORKERS: String(workers),
      APP_WORKER: String(worker),
      APP_VERSION: 'cluster-test',
      APP_CONFIG_FINGERPRINT: 'cfg-a',
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      REDIS_PASSWORD,
      ...env,
    },
  });
}

async function health(port, scope) {
  const response = await fetch(`http://127.0.0.1:${port}/api/health${scope ? `?scope=${scope}` : ''}`);
  assert.equal(response.status, 200);
  return response.json();
}

async function broadcast(port, body, headers = {}) {
  const response = await fetch(`http://127.0.0.1:${port}/api/broadcast`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** A connected socket.io-client that records every event it receives. */
async function client(port) {
  const socket = connect(`http://127.0.0.1:${port}`, {
    path: '/ws',
    transports: ['websocket'],
    reconnection: false,
    timeout: 3000,
  });
  const received = [];
  socket.onAny((event, data) => received.push({ event, data }));
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, received, got: (event) => received.filter((entry) => entry.event === event) };
}

async function stop(proc) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  await proc.exited;
}

module.exports = {
  REDIS_PASSWORD,
  waitFor,
  freePorts,
  spawnLogged,
  requireRedisServer,
  startRedis,
  startWorker,
  health,
  broadcast,
  client,
  stop,
};
