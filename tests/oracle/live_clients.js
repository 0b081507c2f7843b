#!/usr/bin/env node
'use strict';
// Long-lived official socket.io-client 4 clients for the live-deploy benchmark (issue 21):
// N clients with the default options (polling, upgrade, reconnection on) stay connected
// while the caller deploys, and count what a deploy did to them.
//
//   node live_clients.js --url http://10.200.3.2 [--path /ws] [--clients 100]
//                        [--event seq] [--connect-timeout-ms 30000] [--max-seconds 600]
//                        [--with-credentials 1] [--host-cookie WSREADY_HOST]
//                        [--connect-rate 0]
//
// --connect-rate N: start N clients a second (0: all at once), so that a large count does not
// open as one storm before the deploy is measured.
//
// --with-credentials 1: the clients keep cookies (engine.io-client's cookie jar in Node, one
// per Engine.IO session: a reconnection starts without it), which a balancer's cookie
// stickiness needs; each connect then records the host that cookie names (--host-cookie).
//
// stdout, one JSON object per line:
//   {"ready": {"connected": n, "failed": n}}  once every client connected (or the timeout);
//   then it waits for one stdin line "stop FIRST LAST" (the sequence numbers the caller
//   broadcast meanwhile; or --max-seconds), and prints
//   {"result": {...}} : per client disconnects, reconnects, recovered reconnects, connect
//   errors by message, milliseconds disconnected, and the sequence numbers of the `event`
//   broadcasts (data {"seq": n}) it received, as gaps (missed) and duplicates; then exits 0.
// Bad argv: exit 2 with {"error": ...}.

const readline = require('node:readline');
const { io } = require('socket.io-client');

const DEFAULTS = {
  path: '/ws', clients: 100, event: 'seq', 'connect-timeout-ms': 30000, 'max-seconds': 600,
  'with-credentials': 0, 'host-cookie': 'WSREADY_HOST', 'connect-rate': 0,
};
const LIMITS = {
  clients: [1, 5000], 'connect-timeout-ms': [1, 600000], 'max-seconds': [1, 7200], 'with-credentials': [0, 1],
  'connect-rate': [0, 100000],
};

function fail(message) {
  process.stdout.write(`${JSON.stringify({ error: message })}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i += 2) {
    const name = (argv[i] || '').replace(/^--/, '');
    const value = argv[i + 1];
    if (!['url', ...Object.keys(DEFAULTS)].includes(name) || value === undefined) fail(`bad argument ${JSON.stringify(argv[i])}`);
    if (LIMITS[name]) {
      const number = Number(value);
      const [low, high] = LIMITS[name];
      if (!/^\d+$/.test(value) || number < low || number > high) fail(`--${name} ${JSON.stringify(value)}: must be ${low}..${high}`);
      options[name] = number;
    } else {
      options[name] = value;
    }
  }
  if (!options.url || !/^https?:\/\/[^\s/]+$/.test(options.url)) fail('--url http(s)://HOST[:PORT] is required');
  return options;
}

/** The host the balancer's stickiness cookie names for this Engine.IO session (null without it). */
function cookieHost(socket, name) {
  const jar = socket.io.engine && socket.io.engine._cookieJar; // engine.io-client's, Node only
  if (!jar) return null;
  // HAProxy's `cookie … maxlife` appends |dates to the server's name.
  for (const [key, cookie] of jar.cookies) if (key === name) return cookie.value.split('|')[0];
  return null;
}

function startClient(options) {
  const clientOptions = { path: options.path, forceNew: true };
  if (options['with-credentials']) clientOptions.withCredentials = true;
  const socket = io(options.url, clientOptions);
  const state = {
    connects: 0,
    recovered: 0,
    disconnects: 0,
    reasons: {},
    errors: {},
    downSince: null,
    downMs: [],
    seqs: [],
    seqAt: {},
    timeline: [],
    host: null,
  };
  socket.on('connect', () => {
    const sid = socket.io.engine ? socket.io.engine.id : '';
    const host = cookieHost(socket, options['host-cookie']);
    state.timeline.push({ at: Date.now(), connect: sid.split('-')[0], recovered: socket.recovered, host });
    state.host = host;
    state.connects += 1;
    if (socket.recovered) state.recovered += 1;
    if (state.downSince !== null) {
      state.downMs.push(Date.now() - state.downSince);
      state.downSince = null;
    }
  });
  socket.on('disconnect', (reason) => {
    state.timeline.push({ at: Date.now(), disconnect: reason });
    state.disconnects += 1;
    state.reasons[reason] = (state.reasons[reason] || 0) + 1;
    state.downSince = Date.now();
  });
  socket.on('connect_error', (error) => {
    const kind = (error && error.message) || String(error);
    state.errors[kind] = (state.errors[kind] || 0) + 1;
  });
  socket.on(options.event, (data) => {
    if (data && Number.isInteger(data.seq)) {
      state.seqs.push(data.seq);
      state.seqAt[data.seq] = Date.now();
    }
  });
  return { socket, state };
}

/** Missed: sequence numbers from `first` to `last` (as sent) that never arrived. */
function gaps(seqs, first, last) {
  const seen = new Set(seqs);
  const numbers = [];
  if (first !== null) for (let n = first; n <= last; n += 1) if (!seen.has(n)) numbers.push(n);
  return { received: seqs.length, missed: numbers.length, duplicates: seqs.length - seen.size, numbers: numbers.slice(0, 20) };
}

/** For a client with a gap: when it moved, and when the broadcasts around the gap arrived. */
function trace(state, numbers) {
  const around = {};
  for (const n of numbers) {
    for (const m of [n - 1, n + 1]) if (state.seqAt[m] !== undefined) around[m] = state.seqAt[m];
  }
  return { timeline: state.timeline, arrived: around };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const deadline = Date.now() + options['connect-timeout-ms'];
  const clients = [];
  const rate = options['connect-rate'];
  const started = Date.now();
  while (clients.length < options.clients) {
    const due = rate ? Math.min(options.clients, Math.floor(((Date.now() - started) / 1000) * rate) + 1) : options.clients;
    while (clients.length < due) clients.push(startClient(options));
    if (clients.length < options.clients) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  while (Date.now() < deadline && !clients.every((c) => c.socket.connected && c.socket.io.engine.transport.name === 'websocket')) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const connected = clients.filter((c) => c.socket.connected).length;
  process.stdout.write(`${JSON.stringify({ ready: { connected, failed: clients.length - connected } })}\n`);
  // Reset the counters: only what happens from now on (the deploy) counts; the host each
  // client is on now starts its list of hosts.
  for (const c of clients) Object.assign(c.state, { host0: c.state.host, connects: 0, recovered: 0, disconnects: 0, reasons: {}, errors: {}, downMs: [], seqs: [], seqAt: {}, timeline: [] });

  const range = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve([null, null]), options['max-seconds'] * 1000);
    readline.createInterface({ input: process.stdin }).on('line', (line) => {
      const match = /^stop(?: (\d+) (\d+))?$/.exec(line.trim());
      if (match) {
        clearTimeout(timer);
        resolve(match[1] === undefined ? [null, null] : [Number(match[1]), Number(match[2])]);
      }
    });
  });
  const now = Date.now();
  const result = clients.map(({ socket, state }) => {
    const seq = gaps(state.seqs, ...range);
    return {
    connected: socket.connected,
    disconnects: state.disconnects,
    reconnects: state.connects,
    recovered: state.recovered,
    reasons: state.reasons,
    errors: state.errors,
    down_ms: state.downSince === null ? state.downMs : [...state.downMs, now - state.downSince],
    hosts: [state.host0, ...state.timeline.filter((t) => t.connect !== undefined).map((t) => t.host)],
    seq,
    ...(seq.missed ? { trace: trace(state, seq.numbers) } : {}),
    };
  });
  for (const c of clients) c.socket.close();
  // Exit once the line is written: stdout to a pipe is asynchronous, and an exit right after
  // a large write cuts it at 64 KiB.
  process.stdout.write(`${JSON.stringify({ result })}\n`, () => process.exit(0));
}

main().catch((error) => {
  process.stdout.write(`${JSON.stringify({ error: error.message })}\n`);
  process.exit(3);
});
