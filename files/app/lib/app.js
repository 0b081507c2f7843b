'use strict';
// Express and Socket.IO on one HTTP server: REST on /api/*, Socket.IO on config.wsPath.

const http = require('node:http');
const cors = require('cors');
const express = require('express');
const { Server } = require('socket.io');
const { createTokenValidator, restAuth, socketAuth } = require('./auth');

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
  });

  app.use(cors({ origin }));
  app.get('/api/health', (req, res) => {
    res.json({
      status: 'ok',
      websocket: 'enabled',
      connections: io.engine.clientsCount,
      version: config.version,
    });
  });
  app.use('/api', restAuth(validate, { log }));
  app.get('/api/whoami', (req, res) => {
    res.json({ auth: config.auth.mode, subject: res.locals.subject ?? null });
  });
  app.use('/api', (req, res) => res.status(404).json({ error: 'not found' }));

  io.use(socketAuth(validate, { log }));
  io.on('connection', (socket) => {
    const transport = socket.conn.transport.name;
    log(`WebSocket client connected: ${socket.id} (transport ${transport}, clients ${io.engine.clientsCount})`);
    socket.conn.once('upgrade', () => {
      log(`WebSocket client upgraded: ${socket.id} (transport ${socket.conn.transport.name})`);
    });
    socket.emit('welcome', { id: socket.id });
    socket.on('echo', (payload, ack) => {
      if (typeof ack === 'function') ack(payload);
      else socket.emit('echo', payload);
    });
    socket.on('disconnect', (reason) => {
      log(`WebSocket client disconnected: ${socket.id} (transport ${socket.conn.transport.name}, ${reason})`);
    });
  });

  function listen() {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.bind, () => {
        server.off('error', reject);
        const { address, port } = server.address();
        const host = address.includes(':') ? `[${address}]` : address;
        log(`Socket.IO listening on http://${host}:${port} path ${config.wsPath} (auth ${config.auth.mode})`);
        resolve(port);
      });
    });
  }

  /** Disconnect every socket, stop accepting connections, wait for the server to close. */
  function close() {
    return new Promise((resolve) => io.close(() => resolve()));
  }

  return { app, server, io, listen, close };
}

module.exports = { createApp, corsOrigin };
