'use strict';
// server.js as systemd runs it: a log line once listening, clean exit on SIGTERM, and
// exit status 78 (EX_CONFIG) with a message naming the variable on bad settings.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');

const SERVER = path.join(__dirname, '..', 'server.js');

function start(env) {
  const child = spawn(process.execPath, [SERVER], {
    env: { PATH: process.env.PATH, APP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk) => (output.stdout += chunk));
  child.stderr.on('data', (chunk) => (output.stderr += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output, exited };
}

async function waitFor(predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('listens, logs it, and exits 0 on SIGTERM', async () => {
  const { child, output, exited } = start({ WS_PATH: '/ws' });
  await waitFor(() => output.stdout.includes('Socket.IO listening on'));
  const [, port] = /http:\/\/127\.0\.0\.1:(\d+) path \/ws/.exec(output.stdout);
  const health = await fetch(`http://127.0.0.1:${port}/api/health`);
  assert.equal(health.status, 200);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(
    output.stdout,
    /SIGTERM received: handing 0 connection\(s\) over\nDraining 0 connection\(s\): at most 1000 a second, the rest after 20000 ms\nDrained 0 connection\(s\) in \d+ ms\nServer stopped\n$/,
  );
});

test('bad settings exit 78 with a message naming the variable, secrets not echoed', async () => {
  const { output, exited } = start({ APP_AUTH: 'static', STATIC_TOKEN_SHA256: 'my-plain-token' });
  assert.equal(await exited, 78);
  assert.match(output.stderr, /^Configuration error: STATIC_TOKEN_SHA256: /);
  assert.ok(!output.stderr.includes('my-plain-token'));
});
