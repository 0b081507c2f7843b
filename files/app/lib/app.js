'use strict';
// Express and Socket.IO on one HTTP server: REST on /api/*, Socket.IO on config.wsPath.

const crypto = require('node:crypto');
const http = require('node:http');
const cors = require('cors');
const express = require('express');
const { Server } = require('socket.io');
const { createTokenValidator, restAuth, socketAuth } = require('./auth');
const { broadcastRoute } = require('./broadcast');
const { deliverWhileRestoring } = require('./restoring');
const { createHealth } = require('./health');
const { probeEvents } = require('./probe');
const { createDrain } = require('./drain');
const { attachRedis } = require('./redis');

const WORKER_HEADER = 'X-Wsready-Worker';

/** "*" (or nothing) means any origin; otherwise the exact list. */
function corsOrigin(origins) {
  return origins.length === 0 || origins.includes('*') ? '*' : origins;
}

function createApp(config, { log = console.log } = {}) {
  const validate = createTokenValidator(config.auth);
  const origin = corsOrigin(config.corsOrigins);

  const app = express();
  app.disable('x-powered-by');
  const server = http.createServer(app);
  const io = new Server(server, {
    path: config.wsPath,
    cors: { origin, methods: ['GET', 'POST'] },
    pingInterval: config.pingIntervalMs,
    pingTimeout: config.pingTimeoutMs,
    maxHttpBufferSize: config.maxHttpBufferSize,
    transports: config.transports,
    allowUpgrades: config.allowUpgrades,
    // A client that reconnects within the window gets its id, rooms and missed broadcasts
    // back (socket.recovered). The auth middleware runs again on a recovered connection.
    connectionStateRecovery: config.recoveryMs > 0 ? { maxDisconnectionDuration: config.recoveryMs, skipMiddlewares: false } : undefined,
  });
  // Every answer names the worker that gave it (REST, Engine.IO handshakes, polls, upgrades,
  // and Engine.IO's own error answers): probes tell a misrouted session from a broken worker.
  const worker = String(config.worker);
  app.use((req, res, next) => {
    res.set(WORKER_HEADER, worker);
    next();
  });
  io.engine.use((req, res, next) => {
    if (res && typeof res.setHeader === 'function' && !res.headersSent) res.setHeader(WORKER_HEADER, worker);
    next();
  });
  io.engine.on('headers', (headers) => {
    headers[WORKER_HEADER] = worker;
  });
  // SIGTERM: new sessions are refused (503, nginx tries the next worker), the clients leave
  // at a bounded rate (see lib/drain.js).
  const drain = createDrain(io, { rate: config.drainRate, deadlineMs: config.drainDeadlineMs, log });
  io.engine.use(drain.refuseNewSessions);
  // Engine.IO session ids name their worker ("1-…"), so nginx can route sid=1-… to worker 1.
  io.engine.generateId = () => `${config.worker}-${crypto.randomBytes(15).toString('base64url')}`;
  const redis = config.redis ? attachRedis(io, config.redis, { password: config.redisPassword, log }) : null;
  // A broadcast reaches a session being restored exactly once (see lib/restoring.js).
  const restoring = config.recoveryMs > 0 ? deliverWhileRestoring(io.of('/')) : null;
  const health = createHealth(config, () => ({
    connections: io.engine.clientsCount,
    redis: redis ? redis.state() : 'off',
    draining: drain.draining(),
    redisId: redis ? redis.identity() : null,
  }));

  app.use(cors({ origin }));
  app.get('/api/health', (req, res, next) => {
    health(req.query.scope === 'worker' ? 'worker' : 'host').then((body) => res.json(body), next);
  });
  app.use(broadcastRoute(io, config, { log }));
  app.use('/api', restAuth(validate, { log }));
  app.get('/api/whoami', (req, res) => {
    res.json({ auth: config.auth.mode, subject: res.locals.subject ?? null });
  });
  app.use('/api', (req, res) => res.status(404).json({ error: 'not found' }));

  io.use(socketAuth(validate, { log }));
  // One line per connect/disconnect only when asked (APP_LOG_CONNECTIONS=1): at 20k clients
  // per host the journal would otherwise be mostly these.
  const logConnection = config.logConnections ? log : () => {};
  io.on('connection', (socket) => {
    const transport = socket.conn.transport.name;
    logConnection(`WebSocket client connected: ${socket.id} (transport ${transport}, clients ${io.engine.clientsCount})`);
    socket.conn.once('upgrade', () => {
      logConnection(`WebSocket client upgraded: ${socket.id} (transport ${socket.conn.transport.name})`);
    });
    socket.emit('welcome', { id: socket.id });
    probeEvents(io, socket, config);
    socket.on('echo', (payload, ack) => {
      if (typeof ack === 'function') ack(payload);
      else socket.emit('echo', payload);
    });
    socket.on('disconnect', (reason) => {
      logConnection(`WebSocket client disconnected: ${socket.id} (transport ${socket.conn.transport.name}, ${reason})`);
    });
  });

  function listen() {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: config.listenPort, host: config.bind, backlog: config.listenBacklog }, () => {
        server.off('error', reject);
        const { address, port } = server.address();
        const host = address.includes(':') ? `[${address}]` : address;
        log(`Socket.IO listening on http://${host}:${port} path ${config.wsPath} (auth ${config.auth.mode})`);
        const redisNote = config.redis ? `Redis adapter ${config.redis.label}` : 'no Redis adapter (REDIS_URL empty)';
        log(`Worker ${config.worker} of ${config.workers}, ${redisNote}`);
        resolve(port);
      });
    });
  }

  /**
   * Hand the clients over (drain: each disconnected once, at the paced rate, recoverable),
   * then close. Resolves once the server is closed.
   */
  async function shutdown() {
    await drain.start();
    if (restoring && redis) {
      log(`Broadcasts to sessions being restored: ${restoring.caught_up} added to a replay, ${restoring.restoring} delivered before connect, ${restoring.replayed} skipped as already replayed`);
    }
    await close();
  }

  /** Disconnect every socket, stop accepting connections, wait for the server to close. */
  async function close() {
    if (redis) redis.quiet();
    await new Promise((resolve) => io.close(() => resolve()));
    if (redis) await redis.close();
  }

  return { app, server, io, listen, close, shutdown, drain, restoring };
}

module.exports = { createApp, corsOrigin, WORKER_HEADER };
