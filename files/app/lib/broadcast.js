'use strict';
// POST /api/broadcast {"event": "name", "data": <json>}: io.emit to every client of the fleet
// (through the Redis adapter when there is one). Only for a direct loopback caller on the host:
// a request that came through nginx carries X-Forwarded-For / X-Real-IP and is refused.

const express = require('express');

/** Socket.IO refuses to emit these (they are lifecycle events on the client side). */
const RESERVED_EVENTS = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
]);
const MAX_EVENT_LENGTH = 64;
const PROXY_HEADERS = ['x-forwarded-for', 'x-real-ip', 'forwarded'];

function isLoopback(address) {
  if (typeof address !== 'string') return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** The reason a request may not broadcast, or null when it may. */
function refusal(req) {
  const proxied = PROXY_HEADERS.find((name) => req.headers[name] !== undefined);
  if (proxied) return `came through a proxy (${proxied} header)`;
  if (!isLoopback(req.socket.remoteAddress)) return 'not a loopback connection';
  return null;
}

/** The error in a broadcast body, or null when it is valid. */
function invalidBody(body) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return 'body must be a JSON object {"event": "name", "data": <json>}';
  }
  const { event } = body;
  if (typeof event !== 'string' || event.length === 0) return 'event must be a non-empty string';
  if (event.length > MAX_EVENT_LENGTH) return `event must be at most ${MAX_EVENT_LENGTH} characters`;
  if (RESERVED_EVENTS.has(event)) return `event "${event}" is reserved by Socket.IO`;
  return null;
}

function broadcastRoute(io, config, { log }) {
  const router = express.Router();
  router.post(
    '/api/broadcast',
    (req, res, next) => {
      const why = refusal(req);
      if (!why) return next();
      log(`Broadcast refused: ${why}`);
      return res.status(403).json({ error: 'forbidden: POST /api/broadcast only on a direct loopback connection' });
    },
    express.json({ limit: config.maxHttpBufferSize, strict: true }),
    (req, res) => {
      const error = invalidBody(req.body);
      if (error) return res.status(400).json({ error });
      const { event } = req.body;
      if (Object.prototype.hasOwnProperty.call(req.body, 'data')) io.emit(event, req.body.data);
      else io.emit(event);
      return res.json({ sent: true, worker: config.worker });
    },
  );
  // express.json errors (malformed JSON, too large) answer JSON like the rest of /api.
  router.use('/api/broadcast', (error, req, res, next) => {
    if (!error || !error.status) return next(error);
    return res.status(error.status).json({ error: error.status === 413 ? 'body too large' : 'body is not valid JSON' });
  });
  return router;
}

module.exports = { broadcastRoute, isLoopback, refusal, invalidBody, RESERVED_EVENTS, MAX_EVENT_LENGTH };
