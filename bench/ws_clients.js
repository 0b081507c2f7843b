'use strict';
// Load generator for bench/ws_capacity.py: one process holding its share of Socket.IO clients.
//
//   node bench/ws_clients.js --url http://10.200.3.2 --clients 5000 --ramp 250 [--path /ws]
//        [--transports websocket|polling,websocket] [--event bench] [--connect-timeout-ms 20000]
//        [--max-seconds 600] [--id 0] [--token-env VAR]
//
// Opens --clients clients at --ramp clients/s (the real Engine.IO v4 + Socket.IO handshake,
// no reconnection, no multiplexing), records each client's connect latency and every error by
// kind, and records when each client receives the first `--event` broadcast. It writes JSON
// lines on stdout (progress, settled, snapshot, broadcast_done, result) and reads commands on
// stdin, one a line: "snapshot" (current figures), "release" (disconnect everyone, print the
// result, exit). It exits by itself when stdin closes or --max-seconds pass.
//
// socket.io-client is the app's own pinned devDependency (files/app/package.json, 4.8.4).

const path = require('node:path');
const readline = require('node:readline');
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');

const { io } = require(path.join(__dirname, '..', 'files', 'app', 'node_modules', 'socket.io-client'));

const PROGRESS_EVERY_MS = 500;
const TICK_MS = 10;
const RELEASE_GRACE_MS = 5000;
const MAX_ERROR_KINDS = 20;

function parseArgs(argv) {
  const options = {
    url: null,
    clients: 0,
    ramp: 100,
    path: '/ws',
    transports: ['websocket'],
    event: 'bench',
    connectTimeoutMs: 20000,
    maxSeconds: 600,
    id: 0,
    token: null,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${name}: missing value`);
    switch (name) {
      case '--url': options.url = value; break;
      case '--clients': options.clients = positiveInt(name, value); break;
      case '--ramp': options.ramp = positiveNumber(name, value); break;
      case '--path': options.path = value; break;
      case '--transports': options.transports = value.split(',').filter(Boolean); break;
      case '--event': options.event = value; break;
      case '--connect-timeout-ms': options.connectTimeoutMs = positiveInt(name, value); break;
      case '--max-seconds': options.maxSeconds = positiveNumber(name, value); break;
      case '--id': options.id = Number(value); break;
      case '--token-env': options.token = process.env[value] || null; break;
      default: throw new Error(`unknown option ${name}`);
    }
  }
  if (!options.url) throw new Error('--url is required');
  if (!options.clients) throw new Error('--clients is required');
  return options;
}

function positiveInt(name, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: must be a positive integer`);
  return n;
}

function positiveNumber(name, value) {
  const n = Number(value);
  if (!(n > 0)) throw new Error(`${name}: must be a positive number`);
  return n;
}

function emit(record) {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

/** A short, bounded name for an error: its message plus the transport's own description. */
function errorKind(prefix, error) {
  let kind = error && error.message ? String(error.message) : String(error);
  const description = error && error.description;
  const detail = description && (description.message || description.code || description);
  if (detail && typeof detail !== 'object') kind += `: ${detail}`;
  return `${prefix}: ${kind}`.slice(0, 120);
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const n = options.clients;
  const sockets = new Array(n).fill(null);
  const state = new Uint8Array(n); // 0 idle, 1 connecting, 2 connected, 3 failed, 4 dropped, 5 released
  const startedAt = new Float64Array(n);
  const connectMs = new Float64Array(n).fill(-1);
  const receivedAt = new Float64Array(n).fill(-1); // epoch ms (sub-ms) of the first broadcast
  const errors = new Map();
  let payloadT = null;
  let opened = 0;
  let connected = 0; // currently connected
  let everConnected = 0;
  let failed = 0;
  let dropped = 0;
  let received = 0;
  let receivedConnected = 0; // received and still connected
  let rampStart = 0;
  let rampEnd = null;
  let settledSent = false;
  let broadcastDoneSent = false;
  let releasing = false;

  const nowEpochMs = () => performance.timeOrigin + performance.now();
  // How late this process's own event loop ran: a connect time includes these stalls.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const cpuStart = process.cpuUsage();

  function count(kind) {
    const key = errors.has(kind) || errors.size < MAX_ERROR_KINDS ? kind : 'other';
    errors.set(key, (errors.get(key) || 0) + 1);
  }

  function figures(type) {
    return {
      type,
      id: options.id,
      clients: n,
      opened,
      connected,
      ever_connected: everConnected,
      failed,
      dropped,
      received,
      errors: failed + dropped,
    };
  }

  function checkMilestones() {
    if (!settledSent && opened === n && connected + failed + dropped === n) {
      settledSent = true;
      emit(figures('settled'));
    }
    if (!broadcastDoneSent && payloadT !== null && receivedConnected === connected) {
      broadcastDoneSent = true;
      emit(figures('broadcast_done'));
    }
  }

  function fail(i, kind) {
    if (state[i] !== 1) return;
    state[i] = 3;
    failed += 1;
    count(kind);
    const socket = sockets[i];
    sockets[i] = null;
    if (socket) socket.close();
    checkMilestones();
  }

  function open(i) {
    state[i] = 1;
    startedAt[i] = performance.now();
    const socket = io(options.url, {
      path: options.path,
      transports: options.transports,
      forceNew: true,
      reconnection: false,
      timeout: options.connectTimeoutMs,
      auth: options.token ? { token: options.token } : undefined,
    });
    sockets[i] = socket;
    const deadline = setTimeout(() => fail(i, 'connect: no Socket.IO connect in time'), options.connectTimeoutMs);
    socket.on('connect', () => {
      clearTimeout(deadline);
      if (state[i] !== 1) return;
      state[i] = 2;
      connectMs[i] = performance.now() - startedAt[i];
      connected += 1;
      everConnected += 1;
      checkMilestones();
    });
    socket.on('connect_error', (error) => {
      clearTimeout(deadline);
      fail(i, errorKind('connect', error));
    });
    socket.on('disconnect', (reason) => {
      if (state[i] !== 2 || releasing) return;
      state[i] = 4;
      connected -= 1;
      dropped += 1;
      if (receivedAt[i] >= 0) receivedConnected -= 1;
      count(`dropped: ${reason}`);
      checkMilestones();
    });
    socket.on(options.event, (data) => {
      if (receivedAt[i] >= 0) return;
      receivedAt[i] = nowEpochMs();
      received += 1;
      if (state[i] === 2) receivedConnected += 1;
      if (payloadT === null) {
        payloadT = data && typeof data.t === 'number' ? data.t : -1;
      }
      checkMilestones();
    });
  }

  // Ramp: open floor(elapsed * rate) clients so far, checked every TICK_MS.
  rampStart = performance.now();
  const ramp = setInterval(() => {
    const due = Math.min(n, Math.floor(((performance.now() - rampStart) / 1000) * options.ramp) + 1);
    while (opened < due) open(opened++);
    if (opened === n) {
      clearInterval(ramp);
      rampEnd = performance.now();
      checkMilestones();
    }
  }, TICK_MS);

  const progress = setInterval(() => emit(figures('progress')), PROGRESS_EVERY_MS);

  function result() {
    const latencies = [];
    for (let i = 0; i < n; i += 1) if (connectMs[i] >= 0) latencies.push(Math.round(connectMs[i] * 100) / 100);
    const arrivals = [];
    for (let i = 0; i < n; i += 1) if (receivedAt[i] >= 0) arrivals.push(Math.round(receivedAt[i] * 100) / 100);
    const rampSeconds = rampEnd === null ? null : (rampEnd - rampStart) / 1000;
    return {
      ...figures('result'),
      ramp_seconds: rampSeconds,
      connect_ms: latencies,
      received_at_ms: arrivals,
      payload_t: payloadT,
      error_kinds: Object.fromEntries(errors),
      memory_rss_bytes: process.memoryUsage.rss(),
      loop_delay_p99_ms: Math.round(loopDelay.percentile(99) / 1e4) / 100,
      loop_delay_max_ms: Math.round(loopDelay.max / 1e4) / 100,
      cpu_s: Math.round((process.cpuUsage(cpuStart).user + process.cpuUsage(cpuStart).system) / 1e4) / 100,
    };
  }

  function release() {
    if (releasing) return;
    releasing = true;
    clearInterval(ramp);
    clearInterval(progress);
    const final = result();
    let open = 0;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      // A pipe write is asynchronous: exit only once the (large) result line is flushed.
      process.stdout.write(`${JSON.stringify(final)}\n`, () => process.exit(0));
    };
    const grace = setTimeout(finish, RELEASE_GRACE_MS);
    for (let i = 0; i < n; i += 1) {
      const socket = sockets[i];
      if (!socket) continue;
      if (socket.connected) {
        open += 1;
        socket.io.engine.once('close', () => {
          open -= 1;
          if (open === 0) {
            clearTimeout(grace);
            finish();
          }
        });
      }
      socket.disconnect();
      state[i] = 5;
    }
    if (open === 0) {
      clearTimeout(grace);
      finish();
    }
  }

  const commands = readline.createInterface({ input: process.stdin });
  commands.on('line', (line) => {
    const command = line.trim();
    if (command === 'snapshot') emit(figures('snapshot'));
    else if (command === 'release') release();
  });
  commands.on('close', release);
  setTimeout(() => {
    emit({ type: 'log', id: options.id, message: `--max-seconds ${options.maxSeconds} reached` });
    release();
  }, options.maxSeconds * 1000).unref();
}

try {
  main();
} catch (error) {
  emit({ type: 'fatal', message: error.message });
  process.exit(2);
}
