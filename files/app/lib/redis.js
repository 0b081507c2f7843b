'use strict';
// The Socket.IO Redis Streams adapter (@socket.io/redis-streams-adapter): broadcasts cross
// workers and hosts through a Redis stream, and connection state recovery keeps a
// disconnected client's session in Redis, so the client gets its id, rooms and missed
// broadcasts back on whichever worker it reconnects to. Made to survive Redis: down at start
// or gone later, the worker keeps serving its own clients (io.emit still reaches them),
// health reads state() "down", and the clients reconnect by themselves with a bounded
// backoff. One log line per state change, never one per attempt, never the password.

const crypto = require('node:crypto');
const { createClient } = require('redis');
const { createAdapter } = require('@socket.io/redis-streams-adapter');

/** Reconnect after 100 ms, 200 ms, 400 ms ... at most RECONNECT_MAX_MS apart, forever. */
const RECONNECT_MAX_MS = 2000;
const reconnectDelay = (retries) => Math.min(100 * 2 ** Math.min(retries, 10), RECONNECT_MAX_MS);

/**
 * Stream and channel names of our own: the pub/sub adapter of earlier releases used
 * "socket.io#..." channels with another message format; a worker of each on one Redis
 * during an upgrade must not read the other's messages.
 */
const STREAM_NAME = 'wsready:socket.io';
const CHANNEL_PREFIX = 'wsready:socket.io';
const SESSION_KEY_PREFIX = 'wsready:sio:session:';
/**
 * Entries kept in the stream (approximately): a recovering client's offset must still be in
 * it. 100,000 broadcasts is over 6 hours at 4 a second; each entry is a few hundred bytes.
 */
const STREAM_MAX_LEN = 100000;

/**
 * The adapter calls publish/subscribe/set and drops the promises: a rejection (Redis
 * offline, connection lost mid-command, client closed) would be an unhandled rejection, which
 * ends a Node >= 15 process. Wrap them on our own client instances so they never reject.
 *
 * A (s)subscribe that fails is made again once the client is ready: node-redis only
 * re-subscribes what Redis had confirmed. `pending()` counts subscriptions not confirmed yet,
 * `confirmed()` those Redis has confirmed.
 */
function neverReject(client, methods, onSettled = () => {}) {
  let pending = 0;
  let confirmed = 0;
  for (const method of methods) {
    const original = client[method].bind(client);
    const subscribes = method === 'subscribe' || method === 'sSubscribe';
    client[method] = (...args) => {
      if (!subscribes) return original(...args).catch(() => {});
      pending += 1;
      const attempt = () =>
        original(...args).then(
          () => {
            pending -= 1;
            confirmed += 1;
            onSettled();
          },
          () => {
            if (client.isOpen) client.once('ready', attempt);
            else pending -= 1;
          },
        );
      return attempt();
    };
  }
  return { pending: () => pending, confirmed: () => confirmed };
}

/**
 * The stream reader loops XREAD without a pause and catches every error: on a client without
 * offline queue an XREAD while Redis is away would fail at once, again and again, and starve
 * the event loop. Make it wait for the connection instead (or fail once the client is closed).
 */
function readyOrEnd(client) {
  return new Promise((resolve) => {
    const done = () => {
      client.off('ready', done);
      client.off('end', done);
      resolve();
    };
    client.on('ready', done);
    client.on('end', done);
  });
}

function readWhenReady(client) {
  const original = client.xRead.bind(client);
  client.xRead = async (...args) => {
    while (!client.isReady) {
      if (!client.isOpen) throw new Error('client closed');
      await readyOrEnd(client);
    }
    return original(...args);
  };
}

/** node-redis options for config.redis ({url} or {socketPath}); the password only from REDIS_PASSWORD or the URL. */
function clientOptions(target, password, role) {
  const socket = { reconnectStrategy: reconnectDelay, connectTimeout: 3000 };
  const options = target.socketPath ? { socket: { ...socket, path: target.socketPath } } : { url: target.url, socket };
  if (password) options.password = password;
  options.name = `wsready-${role}`;
  // No offline queue on either connection. Publishing while offline fails at once (the local
  // emit still happens) instead of piling up in memory until Redis returns. And a SUBSCRIBE left
  // in node-redis 4's offline queue across a failed connection attempt desynchronises its reply
  // queue and throws from the socket's data handler once Redis answers (redis/node-redis#2876):
  // without the queue the command is rejected at once and neverReject() makes it again on 'ready'.
  options.disableOfflineQueue = true;
  return options;
}

/** Attach the Redis Streams adapter to `io`. Returns {state() -> "ok" | "down", quiet(), close(), identity()}. */
function attachRedis(io, target, { password = '', log = console.log } = {}) {
  const main = createClient(clientOptions(target, password, 'main'));
  neverReject(main, ['publish', 'sPublish', 'set']);
  // The adapter makes its stream reader and its subscriber with main.duplicate(): wrap those
  // too, and keep them to report their state and close them.
  const helpers = [];
  let subscriptions = { pending: () => 0, confirmed: () => 0 };
  const duplicate = main.duplicate.bind(main);
  main.duplicate = (overrides) => {
    const copy = duplicate({ ...overrides, name: 'wsready-adapter' });
    readWhenReady(copy);
    const subscribed = neverReject(copy, ['subscribe', 'sSubscribe', 'disconnect'], () => update());
    const previous = subscriptions;
    subscriptions = {
      pending: () => previous.pending() + subscribed.pending(),
      confirmed: () => previous.confirmed() + subscribed.confirmed(),
    };
    helpers.push(copy);
    watch(copy);
    return copy;
  };
  /** ok: every connection ready and the subscriptions confirmed, so broadcasts cross workers. */
  const state = () =>
    [main, ...helpers].every((client) => client.isReady) &&
    subscriptions.confirmed() > 0 &&
    subscriptions.pending() === 0
      ? 'ok'
      : 'down';
  let current = 'connecting';
  let connectedBefore = false;
  let lastError = '';
  let closing = false;
  const update = (failed = false) => {
    if (closing) return;
    const next = state();
    // Before the first connection: "down" only once an attempt has failed.
    if (next === current || (current === 'connecting' && next === 'down' && !failed)) return;
    const was = current;
    current = next;
    if (next === 'ok') {
      log(`Redis ${target.label}: connected${connectedBefore ? ' again' : ''}, broadcasts reach every worker`);
      connectedBefore = true;
    } else {
      const why = lastError ? ` (${lastError})` : '';
      const verb = was === 'connecting' ? 'unreachable' : 'connection lost';
      log(`Redis ${target.label}: ${verb}${why}; serving this worker's clients only, retrying every <= ${RECONNECT_MAX_MS} ms`);
    }
  };
  function watch(client) {
    client.on('error', (error) => {
      // Emitted on every failed attempt: remember it, log only if the state changes.
      lastError = error && error.message ? error.message : String(error);
      update(true);
    });
    client.on('ready', () => update());
    client.on('end', () => update());
    client.on('reconnecting', () => update());
  }
  watch(main);
  // connect() settles only once connected (or closed): never await it, the app must start.
  main.connect().catch(() => {});
  io.adapter(
    createAdapter(main, {
      streamName: STREAM_NAME,
      channelPrefix: CHANNEL_PREFIX,
      sessionKeyPrefix: SESSION_KEY_PREFIX,
      maxLen: STREAM_MAX_LEN,
    }),
  );

  /** From now on the connections closing is expected: no "connection lost" line. */
  function quiet() {
    closing = true;
  }

  // Which Redis server this is, without naming it: a digest of its run_id (INFO server), the
  // same on every worker and host that shares it. Probes test broadcasts across the hosts
  // whose health reports the same id. Null until known, or when INFO is not allowed.
  let redisId = null;
  main.on('ready', () => {
    main
      .info('server')
      .then((text) => {
        const match = /^run_id:([0-9a-f]+)/m.exec(text);
        redisId = match ? crypto.createHash('sha256').update(match[1]).digest('hex').slice(0, 16) : null;
      })
      .catch(() => {});
  });

  async function close() {
    closing = true;
    // QUIT on the publishing connection: Redis answers the commands already sent first, so a
    // broadcast accepted just before the stop is in the stream. The helpers are only reading.
    const quit = main.isReady ? main.quit() : main.isOpen ? main.disconnect() : null;
    await Promise.allSettled([quit, ...helpers.map((client) => (client.isOpen ? client.disconnect() : null))]);
  }
  return { state, quiet, close, identity: () => redisId };
}

module.exports = { attachRedis, reconnectDelay, RECONNECT_MAX_MS, STREAM_NAME, SESSION_KEY_PREFIX };
