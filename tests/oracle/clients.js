#!/usr/bin/env node
'use strict';
// The oracle of issue 20: N official socket.io-client 4 clients per mode in one process,
// against one Socket.IO service, each reporting what it went through.
//
//   node clients.js --url http://10.200.3.2 [--path /ws] [--clients 10] [--mode both] ...
//
// stdout, one JSON object per line:
//   {"ready": true, ...}     once every client has connected (default mode: and upgraded to
//                            WebSocket) or failed, or the connect timeout passed;
//   then one line is read from stdin: "sent <nonce>" (the caller has emitted the broadcast
//   event with data {"nonce": <nonce>}) or "skip" (no broadcast);
//   {"result": {...}}        once every connected client got the event with that nonce, or
//                            the broadcast timeout passed. Then every client is closed, exit 0.
// A harness error (bad argv: exit 2; anything else: exit 3) prints {"error": "..."} instead.
// The token (environment variable ORACLE_TOKEN) goes as `auth: {token}`, like wsready's
// probe; it is never printed. Clients keep their default options (reconnection on) except
// forceNew (one connection each, no multiplexing), path, transports in websocket mode, and
// the TLS and Origin settings given.

const fs = require('node:fs');
const readline = require('node:readline');
const { io } = require('socket.io-client');

const MODES = ['default', 'websocket'];
const RESERVED_EVENTS = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
]);
const LIMITS = {
  clients: [1, 2000],
  'connect-timeout-ms': [1, 600000],
  'broadcast-timeout-ms': [1, 600000],
  'trigger-timeout-ms': [1, 600000],
};
const DEFAULTS = {
  path: '/ws',
  clients: 10,
  mode: 'both',
  event: 'oracle',
  'connect-timeout-ms': 10000,
  'broadcast-timeout-ms': 5000,
  'trigger-timeout-ms': 60000,
};
const VALUED = ['url', 'path', 'clients', 'mode', 'event', 'ca', 'origin', ...Object.keys(LIMITS)];
const FLAGS = ['insecure', 'with-credentials'];
const MAX_DETAIL = 200;
const MAX_RECORDED = 20; // errors / disconnects kept per client (reconnection may repeat them)
const NONCE = /^[A-Za-z0-9_-]{1,64}$/;
const EXIT_USAGE = 2;
const EXIT_HARNESS = 3;

class UsageError extends Error {}

const USAGE =
  'usage: clients.js --url http(s)://HOST[:PORT] [--path /ws] [--clients N] ' +
  '[--mode default|websocket|both] [--event NAME] [--connect-timeout-ms MS] ' +
  '[--broadcast-timeout-ms MS] [--trigger-timeout-ms MS] [--ca FILE | --insecure] ' +
  '[--origin ORIGIN] [--with-credentials]   (token: environment variable ORACLE_TOKEN)';

function integerOption(name, raw) {
  const [min, max] = LIMITS[name];
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} ${JSON.stringify(raw)}: must be an integer from ${min} to ${max}`);
  }
  return value;
}

function checkUrl(raw) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(raw)}: not a URL (want http(s)://host[:port])`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url ${JSON.stringify(raw)}: the scheme must be http or https`);
  }
  if (url.username || url.password || url.search || url.hash || (url.pathname && url.pathname !== '/')) {
    throw new UsageError(
      `--url ${JSON.stringify(raw)}: only scheme, host and port (the Socket.IO path goes in --path)`,
    );
  }
  return url.origin;
}

function checkOrigin(raw) {
  let origin = null;
  try {
    origin = new URL(raw).origin;
  } catch {
    // reported below
  }
  if (origin !== raw || !/^https?:/.test(raw)) {
    throw new UsageError(`--origin ${JSON.stringify(raw)}: must be an origin, e.g. https://app.example.com`);
  }
  return raw;
}

/** argv (after the script) -> options; UsageError on anything unknown, repeated or invalid. */
function parseArgs(argv) {
  const given = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const name = arg.startsWith('--') ? arg.slice(2) : null;
    if (name === null || (!VALUED.includes(name) && !FLAGS.includes(name))) {
      throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    }
    if (Object.prototype.hasOwnProperty.call(given, name)) {
      throw new UsageError(`--${name} given twice`);
    }
    if (FLAGS.includes(name)) {
      given[name] = true;
      continue;
    }
    if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) {
      throw new UsageError(`--${name} needs a value`);
    }
    given[name] = argv[i + 1];
    i += 1;
  }
  if (given.url === undefined) throw new UsageError('--url is required');
  const raw = { ...DEFAULTS, ...given };
  const options = {
    url: checkUrl(raw.url),
    path: raw.path,
    clients: typeof raw.clients === 'number' ? raw.clients : integerOption('clients', raw.clients),
    modes: raw.mode === 'both' ? MODES : [raw.mode],
    event: raw.event,
    insecure: Boolean(raw.insecure),
    // withCredentials: the client keeps cookies (engine.io-client's cookie jar in Node), as a
    // browser does: what a balancer's cookie stickiness needs.
    withCredentials: Boolean(raw['with-credentials']),
    ca: null,
    origin: raw.origin === undefined ? null : checkOrigin(raw.origin),
  };
  for (const name of ['connect-timeout-ms', 'broadcast-timeout-ms', 'trigger-timeout-ms']) {
    options[name] = typeof raw[name] === 'number' ? raw[name] : integerOption(name, raw[name]);
  }
  if (!/^\/[A-Za-z0-9._~\/-]*$/.test(options.path)) {
    throw new UsageError(`--path ${JSON.stringify(raw.path)}: must start with "/" (letters, digits, ._~/- only)`);
  }
  if (raw.mode !== 'both' && !MODES.includes(raw.mode)) {
    throw new UsageError(`--mode ${JSON.stringify(raw.mode)}: must be default, websocket or both`);
  }
  if (!options.event || options.event.length > 64 || RESERVED_EVENTS.has(options.event)) {
    throw new UsageError(
      `--event ${JSON.stringify(raw.event)}: must be 1 to 64 characters and not a reserved Socket.IO event`,
    );
  }
  if (given.ca !== undefined && options.insecure) {
    throw new UsageError('--ca and --insecure exclude each other');
  }
  if ((given.ca !== undefined || options.insecure) && !options.url.startsWith('https:')) {
    throw new UsageError(`--ca / --insecure need an https --url (not ${options.url})`);
  }
  if (given.ca !== undefined) {
    try {
      options.ca = fs.readFileSync(given.ca, 'utf8');
    } catch (error) {
      throw new UsageError(`--ca ${JSON.stringify(given.ca)}: cannot read (${error.code || error.message})`);
    }
  }
  return options;
}

/** What the transport saw, in its own words: `HTTP 400 {"code":0,…}` (the status and the
 * start of the body) for polling, the socket error when no HTTP answer came (status 0), the
 * WebSocket error ("Unexpected server response: 502"). Empty for server CONNECT_ERRORs. */
function detail(error) {
  if (!error) return '';
  const { description, context } = error;
  let text = '';
  if (typeof description === 'number' && description > 0) {
    const body = context && typeof context.responseText === 'string' ? context.responseText : '';
    text = `HTTP ${description} ${body.split(/\s+/).join(' ')}`.trim();
  } else if (typeof description === 'number') {
    const cause = context && context.statusText;
    text = cause && typeof cause.message === 'string' ? cause.message : 'no HTTP answer';
  } else if (description && typeof description.message === 'string') text = description.message;
  else if (typeof description === 'string') text = description;
  return text.slice(0, MAX_DETAIL);
}

function pushBounded(list, item) {
  if (list.length < MAX_RECORDED) list.push(item);
}

/** One official client; `record` is what it went through (all JSON). */
function startClient(options, mode, index, token, onChange) {
  const started = Date.now();
  const record = {
    mode,
    index,
    connected: false,
    upgraded: false,
    transport: null,
    upgrades_offered: null,
    errors: [],
    error_details: [],
    upgrade_errors: [],
    disconnects: [],
    received: false,
    first_connect_ms: null,
    upgrade_ms: null,
  };
  const nonces = new Set();
  const clientOptions = { path: options.path, forceNew: true };
  if (mode === 'websocket') clientOptions.transports = ['websocket'];
  if (token !== null) clientOptions.auth = { token };
  if (options.origin) clientOptions.extraHeaders = { Origin: options.origin };
  if (options.ca) clientOptions.ca = options.ca;
  if (options.insecure) clientOptions.rejectUnauthorized = false;
  if (options.withCredentials) clientOptions.withCredentials = true;

  const socket = io(options.url, clientOptions);
  const manager = socket.io;
  let closing = false;
  const watched = new WeakSet();
  const watchEngine = () => {
    const engine = manager.engine;
    if (!engine || watched.has(engine)) return;
    watched.add(engine);
    engine.on('handshake', (data) => {
      if (record.upgrades_offered === null) {
        record.upgrades_offered = Array.isArray(data && data.upgrades) ? data.upgrades.map(String) : [];
        onChange();
      }
    });
    engine.on('upgrade', (transport) => {
      record.upgraded = true;
      record.transport = transport.name;
      if (record.upgrade_ms === null) record.upgrade_ms = Date.now() - started;
      onChange();
    });
    engine.on('upgradeError', (error) => {
      pushBounded(record.upgrade_errors, String(error.message).slice(0, MAX_DETAIL));
      onChange();
    });
  };
  watchEngine();
  manager.on('reconnect_attempt', () => setImmediate(watchEngine));
  manager.on('open', watchEngine);

  socket.on('connect', () => {
    record.connected = true;
    record.transport = manager.engine.transport.name;
    if (record.first_connect_ms === null) record.first_connect_ms = Date.now() - started;
    onChange();
  });
  socket.on('connect_error', (error) => {
    pushBounded(record.errors, String(error.message).slice(0, MAX_DETAIL));
    pushBounded(record.error_details, detail(error));
    onChange();
  });
  socket.on('disconnect', (reason) => {
    if (closing) return;
    pushBounded(record.disconnects, String(reason));
    record.transport = null;
    onChange();
  });
  socket.on(options.event, (data) => {
    const nonce = data && typeof data === 'object' ? data.nonce : data;
    if (typeof nonce === 'string' && nonces.size < MAX_RECORDED) nonces.add(nonce);
    onChange();
  });

  return {
    record,
    socket,
    /** Connected (default mode: and upgraded), or past the point where it could be. */
    settled() {
      if (record.errors.length || record.upgrade_errors.length || record.disconnects.length) return true;
      if (!record.connected) return false;
      if (mode === 'websocket') return true;
      return record.upgraded || (record.upgrades_offered !== null && !record.upgrades_offered.includes('websocket'));
    },
    hasNonce(nonce) {
      return nonces.has(nonce);
    },
    close() {
      closing = true;
      socket.close();
    },
  };
}

function clientOk(record) {
  return (
    record.connected &&
    record.errors.length === 0 &&
    record.upgrade_errors.length === 0 &&
    record.disconnects.length === 0 &&
    record.transport === 'websocket' &&
    (record.mode === 'websocket' || record.upgraded) &&
    record.received
  );
}

function countBy(values) {
  const counts = {};
  for (const value of values) counts[value] = (counts[value] || 0) + 1;
  return counts;
}

function summary(records) {
  const byMode = {};
  for (const mode of new Set(records.map((r) => r.mode))) {
    const own = records.filter((r) => r.mode === mode);
    byMode[mode] = {
      clients: own.length,
      ok: own.filter(clientOk).length,
      connected: own.filter((r) => r.connected).length,
      upgraded: own.filter((r) => r.upgraded).length,
      websocket: own.filter((r) => r.transport === 'websocket').length,
      received: own.filter((r) => r.received).length,
      // Clients that saw each kind at least once (a client retrying counts once per kind).
      errors: countBy(own.flatMap((r) => [...new Set(r.errors)])),
      upgrade_errors: countBy(own.flatMap((r) => [...new Set(r.upgrade_errors)])),
      disconnects: countBy(own.flatMap((r) => [...new Set(r.disconnects)])),
    };
  }
  return byMode;
}

function emit(object) {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(object)}\n`, resolve));
}

/** Resolves when `done()` holds (checked on every client change) or after `ms`. */
function waitUntil(done, ms, subscribe) {
  return new Promise((resolve) => {
    let finished = false;
    const finish = (reached) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      subscribe(null);
      resolve(reached);
    };
    const timer = setTimeout(() => finish(false), ms);
    subscribe(() => {
      if (done()) finish(true);
    });
    if (done()) finish(true);
  });
}

/** The first stdin line, or null at end of input or after `ms`. */
function readLine(ms) {
  return new Promise((resolve) => {
    const lines = readline.createInterface({ input: process.stdin });
    const finish = (line) => {
      clearTimeout(timer);
      lines.removeAllListeners();
      lines.close();
      resolve(line);
    };
    const timer = setTimeout(() => finish(null), ms);
    lines.once('line', (line) => finish(line.trim()));
    lines.once('close', () => finish(null));
  });
}

async function run(options) {
  const token = process.env.ORACLE_TOKEN ? process.env.ORACLE_TOKEN : null;
  const started = Date.now();
  let listener = null;
  const onChange = () => listener && listener();
  const subscribe = (fn) => {
    listener = fn;
  };
  const clients = [];
  for (const mode of options.modes) {
    for (let i = 0; i < options.clients; i += 1) clients.push(startClient(options, mode, i, token, onChange));
  }
  const records = clients.map((c) => c.record);
  const closeAll = () => clients.forEach((c) => c.close());
  try {
    await waitUntil(() => clients.every((c) => c.settled()), options['connect-timeout-ms'], subscribe);
    const connectedNow = () => clients.filter((c) => c.socket.connected);
    await emit({
      ready: true,
      elapsed_ms: Date.now() - started,
      clients: clients.length,
      connected: connectedNow().length,
      upgraded: records.filter((r) => r.upgraded).length,
      failed: records.filter((r) => r.errors.length > 0).length,
      pending: clients.filter((c) => !c.settled()).length,
    });
    const line = await readLine(options['trigger-timeout-ms']);
    if (line === null) {
      throw new Error(`no "sent <nonce>" / "skip" line on stdin within ${options['trigger-timeout-ms']} ms`);
    }
    let nonce = null;
    if (line !== 'skip') {
      const match = /^sent (\S+)$/.exec(line);
      if (!match || !NONCE.test(match[1])) {
        const got = JSON.stringify(line.slice(0, 80));
        throw new Error(`stdin: expected "sent <nonce>" ([A-Za-z0-9_-]{1,64}) or "skip", got ${got}`);
      }
      nonce = match[1];
      const mark = () => clients.forEach((c) => {
        if (c.hasNonce(nonce)) c.record.received = true;
      });
      await waitUntil(
        () => {
          mark();
          return connectedNow().every((c) => c.record.received);
        },
        options['broadcast-timeout-ms'],
        subscribe,
      );
      mark();
    }
    closeAll();
    for (const record of records) record.ok = clientOk(record);
    const result = {
      url: options.url,
      path: options.path,
      event: options.event,
      nonce,
      elapsed_ms: Date.now() - started,
      summary: summary(records),
      clients: records,
    };
    await emit({ result });
  } finally {
    closeAll();
  }
}

function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`clients.js: ${error.message}\n${USAGE}\n`);
    emit({ error: error.message }).then(() => process.exit(EXIT_USAGE));
    return;
  }
  // Everything is bounded: the whole run cannot outlast its three phases plus a margin.
  const hardMs = options['connect-timeout-ms'] + options['trigger-timeout-ms'] + options['broadcast-timeout-ms'] + 5000;
  setTimeout(() => {
    process.stderr.write(`clients.js: still running after ${hardMs} ms: giving up\n`);
    emit({ error: `still running after ${hardMs} ms` }).then(() => process.exit(EXIT_HARNESS));
  }, hardMs).unref();
  run(options).then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`clients.js: ${error.message}\n`);
      emit({ error: error.message }).then(() => process.exit(EXIT_HARNESS));
    },
  );
}

if (require.main === module) main();

module.exports = { parseArgs, clientOk, summary, UsageError };
