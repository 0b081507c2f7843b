'use strict';
// The Socket.IO Redis adapter, made to survive Redis: down at start or gone later, the worker
// keeps serving its own clients (io.emit still reaches them), health reads state() "down", and
// the clients reconnect by themselves with a bounded backoff. One log line per state change,
// never one per attempt, never the password.

const crypto = require('node:crypto');
const { createClient } = require('redis');
const { createAdapter } = require('@socket.io/redis-adapter');

/** Reconnect after 100 ms, 200 ms, 400 ms ... at most RECONNECT_MAX_MS apart, forever. */
const RECONNECT_MAX_MS = 2000;
const reconnectDelay = (retries) => Math.min(100 * 2 ** Math.min(retries, 10), RECONNECT_MAX_MS);

/**
 * The adapter calls publish/subscribe/unsubscribe and drops the promises: a rejection (Redis
 * offline, connection lost mid-command, client closed) would be an unhandled rejection, which
 * ends a Node >= 15 process. Wrap them on our own client instances so they never reject.
 *
 * A (p)subscribe that fails is made again once the client is ready: node-redis only
 * re-subscribes what Redis had confirmed. `pending()` counts subscriptions not confirmed yet.
 */
function neverReject(client, onSettled = () => {}) {
  let pending = 0;
  for (const method of ['publish', 'subscribe', 'pSubscribe', 'unsubscribe', 'pUnsubscribe']) {
    const original = client[method].bind(client);
    const subscribes = method === 'subscribe' || method === 'pSubscribe';
    client[method] = (...args) => {
      if (!subscribes) return original(...args).catch(() => {});
      pending += 1;
      const attempt = () =>
        original(...args).then(
          () => {
            pending -= 1;
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
  return { pending: () => pending };
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

/** Attach the Redis adapter to `io`. Returns {state() -> "ok" | "down", close()}. */
function attachRedis(io, target, { password = '', log = console.log } = {}) {
  const pub = createClient(clientOptions(target, password, 'pub'));
  const sub = createClient(clientOptions(target, password, 'sub'));
  neverReject(pub);
  const subscriptions = neverReject(sub, () => update());
  /** ok: both connections ready and every subscription confirmed, so broadcasts cross workers. */
  const state = () => (pub.isReady && sub.isReady && subscriptions.pending() === 0 ? 'ok' : 'down');
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
  for (const client of [pub, sub]) {
    client.on('error', (error) => {
      // Emitted on every failed attempt: remember it, log only if the state changes.
      lastError = error && error.message ? error.message : String(error);
      update(true);
    });
    client.on('ready', () => update());
    client.on('end', () => update());
    client.on('reconnecting', () => update());
    // connect() settles only once connected (or closed): never await it, the app must start.
    client.connect().catch(() => {});
  }
  io.adapter(createAdapter(pub, sub));

  // Which Redis server this is, without naming it: a digest of its run_id (INFO server), the
  // same on every worker and host that shares it. Probes test broadcasts across the hosts
  // whose health reports the same id. Null until known, or when INFO is not allowed.
  let redisId = null;
  pub.on('ready', () => {
    pub
      .info('server')
      .then((text) => {
        const match = /^run_id:([0-9a-f]+)/m.exec(text);
        redisId = match ? crypto.createHash('sha256').update(match[1]).digest('hex').slice(0, 16) : null;
      })
      .catch(() => {});
  });

  async function close() {
    closing = true;
    await Promise.allSettled([pub.disconnect(), sub.disconnect()]);
  }
  return { state, close, identity: () => redisId };
}

module.exports = { attachRedis, reconnectDelay, RECONNECT_MAX_MS };
