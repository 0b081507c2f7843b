'use strict';
// Paced draining: on SIGTERM a worker hands its clients over at a bounded rate instead of
// dropping them all at once. Each Engine.IO connection is closed once ("forced close", which
// Socket.IO counts as recoverable: the session is kept for connection state recovery); the
// client reconnects by itself, through nginx, to another worker, and gets its id, rooms and
// missed broadcasts back. New sessions are refused while draining (HTTP 503: nginx's
// proxy_next_upstream sends the handshake to the next worker), so a drained client never
// lands here again. Requests of sessions still here (long-polling) keep being served.

const http = require('node:http');

const TICK_MS = 50;
// Once every connection was told to close: how long to wait for the last ones to finish
// (a long-polling client between two requests closes on its next poll; one that is gone
// never does, and io.close() discards it).
const CLOSE_GRACE_MS = 1000;

/** The Engine.IO session id of a request (?sid=...), or null for a new session. */
function sessionOf(req) {
  const query = req.url.indexOf('?');
  if (query < 0) return null;
  return new URLSearchParams(req.url.slice(query + 1)).get('sid');
}

/**
 * How many connections to close by `elapsedMs` at `rate` per second: a budget that grows
 * linearly, so a burst never passes the rate (the first tick closes at least one).
 */
function budget(rate, elapsedMs) {
  return Math.max(1, Math.floor((rate * elapsedMs) / 1000));
}

/**
 * createDrain(io, {rate, deadlineMs}) -> {refuseNewSessions (an Engine.IO middleware),
 * start() -> Promise resolved when no connection is left, draining(), closed()}.
 * After deadlineMs every connection left is closed at once.
 */
function createDrain(io, { rate, deadlineMs, log = console.log, tickMs = TICK_MS, closeGraceMs = CLOSE_GRACE_MS, now = Date.now } = {}) {
  let started = null;
  let closedCount = 0;
  const closedIds = new Set();

  function refuseNewSessions(req, res, next) {
    if (started === null || sessionOf(req) !== null) return next();
    if (res instanceof http.ServerResponse) {
      res.writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '1', Connection: 'close' });
      res.end('draining\n');
      return undefined;
    }
    // A WebSocket handshake (Engine.IO hands the raw socket to its middlewares).
    const socket = res.socket || req.socket;
    socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return undefined;
  }

  function closeOne(conn) {
    if (closedIds.has(conn.id)) return;
    closedIds.add(conn.id);
    closedCount += 1;
    conn.close();
  }

  function open() {
    return Object.values(io.engine.clients).filter((conn) => !closedIds.has(conn.id));
  }

  function start() {
    if (started !== null) return started.promise;
    const at = now();
    const total = io.engine.clientsCount;
    log(`Draining ${total} connection(s): at most ${rate} a second, the rest after ${deadlineMs} ms`);
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    started = { at, promise };
    let allAsked = null;
    const tick = () => {
      const elapsed = now() - at;
      const left = open();
      if (left.length === 0 && allAsked === null) allAsked = now();
      if (elapsed >= deadlineMs) {
        if (left.length > 0) log(`Drain deadline reached: closing the ${left.length} connection(s) left at once`);
        for (const conn of left) closeOne(conn);
      } else {
        const quota = budget(rate, elapsed + tickMs) - closedCount;
        for (const conn of left.slice(0, Math.max(0, quota))) closeOne(conn);
      }
      const graceOver = allAsked !== null && now() - allAsked >= closeGraceMs;
      if (io.engine.clientsCount === 0 || elapsed >= deadlineMs || graceOver) {
        log(`Drained ${closedCount} connection(s) in ${now() - at} ms`);
        resolve();
        return;
      }
      setTimeout(tick, tickMs);
    };
    tick();
    return promise;
  }

  return {
    refuseNewSessions,
    start,
    draining: () => started !== null,
    closed: () => closedCount,
  };
}

module.exports = { createDrain, budget, sessionOf };
