'use strict';
// GET /api/health: this worker's figures, plus its siblings' asked over loopback
// (GET http://APP_BIND:(APP_PORT+j)/api/health?scope=worker, SIBLING_TIMEOUT_MS each, in parallel).

const http = require('node:http');

const SIBLING_TIMEOUT_MS = 300;

/** Where a sibling is reached: its bind address, or loopback when it binds every address. */
function siblingHost(bind) {
  if (bind === '0.0.0.0' || bind === '') return '127.0.0.1';
  if (bind === '::' || bind === '[::]') return '::1';
  return bind.replace(/^\[(.*)\]$/, '$1');
}

/** Resolve the sibling's scope=worker JSON, or null (refused, timed out, not a sibling answer). */
function askSibling(host, port, index, timeoutMs = SIBLING_TIMEOUT_MS) {
  return new Promise((resolve) => {
    let settled = false;
    const done = (value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(value);
    };
    const req = http.get(
      { host, port, path: '/api/health?scope=worker', headers: { accept: 'application/json' }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
          if (body.length > 65536) req.destroy();
        });
        res.on('end', () => {
          if (res.statusCode !== 200) return done(null);
          try {
            const answer = JSON.parse(body);
            const valid = answer && answer.worker === index && Number.isInteger(answer.connections);
            if (valid) answer.port = port;
            done(valid ? answer : null);
          } catch {
            done(null);
          }
        });
        res.on('error', () => done(null));
      },
    );
    req.on('error', () => done(null));
    const timer = setTimeout(() => {
      done(null);
      req.destroy();
    }, timeoutMs);
  });
}

/** Whether the handshake offers the WebSocket upgrade: allowed and a transport. */
function upgradesOffered(config) {
  return config.allowUpgrades !== false && (config.transports || ['websocket']).includes('websocket');
}

/**
 * What recovery this worker offers: Socket.IO connection state recovery is on when the window
 * is above 0; `shared` when sessions live in Redis (any worker or host can restore them),
 * otherwise only this worker's memory holds them.
 */
function recoveryOf(config) {
  const enabled = (config.recoveryMs || 0) > 0;
  return { enabled, max_disconnection_ms: enabled ? config.recoveryMs : 0, shared: enabled && Boolean(config.redis) };
}

/**
 * Build health(scope) -> the contract's JSON. `own()` gives {connections, redis, draining}
 * of this worker.
 */
function createHealth(config, own, { ask = askSibling } = {}) {
  const host = siblingHost(config.bind);

  /** What this worker says about itself: what a probe that reached it should have seen. */
  function self(connections, redis, draining) {
    return {
      worker: config.worker,
      port: config.listenPort,
      version: config.version,
      config: config.configFingerprint,
      path: config.wsPath,
      transports: config.transports,
      upgrades: upgradesOffered(config),
      connections,
      redis,
      draining,
    };
  }

  /** One row of workers.list from a sibling's scope=worker answer (only the fields we know). */
  function row(answer) {
    const fields = ['worker', 'port', 'version', 'config', 'path', 'transports', 'upgrades', 'connections', 'redis', 'draining'];
    return Object.fromEntries(fields.filter((name) => answer[name] !== undefined).map((name) => [name, answer[name]]));
  }

  function answer(connections, clients, up, total, redis, current, list, draining) {
    const degraded = redis === 'down' || up < total;
    return {
      status: degraded ? 'degraded' : 'ok',
      websocket: 'enabled',
      version: config.version,
      config: config.configFingerprint,
      worker: config.worker,
      connections,
      clients,
      max_clients: config.maxClients,
      // current: workers (this one included) running this worker's release and config.
      workers: { up, total, current, list },
      redis,
      path: config.wsPath,
      transports: config.transports,
      upgrades: upgradesOffered(config),
      // The bundled app answers the probes' broadcast events (wsready:probe-join/-emit).
      probe_events: true,
      recovery: recoveryOf(config),
      // This worker is handing its clients over (SIGTERM): it takes no new session.
      draining,
    };
  }

  return async function health(scope) {
    const { connections, redis, draining = false, redisId } = own();
    const mine = self(connections, redis, draining);
    const withId = (body) => (redisId ? { ...body, redis_id: redisId } : body);
    if (scope === 'worker' || config.workers === 1) {
      return withId(answer(connections, connections, 1, 1, redis, 1, [mine], draining));
    }
    const siblings = [];
    const base = config.workerBase || 0;
    for (let j = base; j < base + config.workers; j += 1) {
      if (j !== config.worker) siblings.push(ask(host, config.port + j, j));
    }
    const answers = (await Promise.all(siblings)).filter(Boolean);
    const clients = answers.reduce((sum, sibling) => sum + sibling.connections, connections);
    const current = answers.filter(
      (sibling) => sibling.version === config.version && sibling.config === config.configFingerprint,
    ).length;
    const list = [mine, ...answers.map(row)].sort((a, b) => a.worker - b.worker);
    return withId(answer(connections, clients, 1 + answers.length, config.workers, redis, 1 + current, list, draining));
  };
}

module.exports = { createHealth, askSibling, siblingHost, recoveryOf, SIBLING_TIMEOUT_MS };
