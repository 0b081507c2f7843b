'use strict';
// Paced draining: on SIGTERM a worker hands its clients over at a bounded rate instead of
// dropping them all at once. Each Engine.IO connection is closed once ("forced close", which
// Socket.IO counts as recoverable: the session is kept for connection state recovery); the
// client reconnects by itself, through nginx, to another worker, and gets its id, rooms and
// missed broadcasts back. New sessions are refused while draining (HTTP 503: nginx's
// proxy_next_upstream sends the handshake to the next worker), so a drained client never
// lands here again. Requests of sessions still here (long-polling) keep being served.
// With connection state recovery in Redis, the pace is also closed-loop (lib/handover.js): at
// most a window of clients is between its close here and its restore on another worker.

const http = require('node:http');
const { createHandovers } = require('./handover');

const TICK_MS = 50;
// Once every connection was told to close: how long to wait for the last ones to finish
// (a long-polling client between two requests closes on its next poll; one that is gone
// never does, and io.close() discards it).
const CLOSE_GRACE_MS = 1000;
// How often the sessions in flight are looked up, and how old one must be first (its key is
// written when its close is handled, a moment after the close).
const CHECK_MS = 200;
const KEY_WRITTEN_MS = 100;

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

/** The recovery ids (Socket.IO's private session ids) of the sockets on each connection. */
function sessionsByConnection(io) {
  const byConnection = new Map();
  for (const nsp of io._nsps.values()) {
    for (const socket of nsp.sockets.values()) {
      if (!socket.pid) continue;
      const pids = byConnection.get(socket.conn.id) || [];
      pids.push(socket.pid);
      byConnection.set(socket.conn.id, pids);
    }
  }
  return byConnection;
}

/**
 * createDrain(io, {rate, deadlineMs, waitingInRedis}) -> {refuseNewSessions (an Engine.IO
 * middleware), start() -> Promise resolved when no connection is left, draining(), closed(),
 * handovers()}. After deadlineMs every connection left is closed at once.
 * `waitingInRedis(pids) -> Promise<boolean[]>` (true: that session is not restored yet) makes
 * the pace closed-loop; without it, or once it fails, the drain goes at the rate alone.
 */
function createDrain(io, { rate, deadlineMs, waitingInRedis = null, log = console.log, tickMs = TICK_MS, closeGraceMs = CLOSE_GRACE_MS, checkMs = CHECK_MS, now = Date.now } = {}) {
  let started = null;
  let closedCount = 0;
  const closedIds = new Set();
  let handovers = null;
  let checking = false;
  let lastCheck = -Infinity;

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

  function closeOne(conn, sessions) {
    if (closedIds.has(conn.id)) return;
    closedIds.add(conn.id);
    closedCount += 1;
    if (handovers && sessions) handovers.closed(sessions.get(conn.id) || []);
    conn.close();
  }

  /** Look the sessions in flight up in Redis (one lookup at a time, every checkMs). */
  function check() {
    if (!handovers || checking || now() - lastCheck < checkMs) return;
    const pids = handovers.waiting(KEY_WRITTEN_MS);
    lastCheck = now();
    if (pids.length === 0) {
      handovers.settle([]);
      return;
    }
    checking = true;
    waitingInRedis(pids)
      .then((waiting) => {
        if (handovers) handovers.settle(pids.filter((_, k) => !waiting[k]));
      })
      .catch((error) => {
        log(`Drain: cannot see restored sessions (${(error && error.message) || error}); pacing at the rate alone`);
        handovers = null;
      })
      .finally(() => {
        checking = false;
      });
  }

  function open() {
    return Object.values(io.engine.clients).filter((conn) => !closedIds.has(conn.id));
  }

  function start() {
    if (started !== null) return started.promise;
    const at = now();
    const total = io.engine.clientsCount;
    handovers = waitingInRedis ? createHandovers({ rate, now }) : null;
    const loop = handovers ? `, at most ${handovers.window()} in flight to start with (adapted to how fast they are restored)` : '';
    log(`Draining ${total} connection(s): at most ${rate} a second${loop}, the rest after ${deadlineMs} ms`);
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
        check();
        const paced = budget(rate, elapsed + tickMs) - closedCount;
        const quota = handovers ? Math.min(paced, handovers.room()) : paced;
        if (quota > 0 && left.length > 0) {
          const sessions = handovers ? sessionsByConnection(io) : null;
          for (const conn of left.slice(0, quota)) closeOne(conn, sessions);
        }
      }
      const graceOver = allAsked !== null && now() - allAsked >= closeGraceMs;
      if (io.engine.clientsCount === 0 || elapsed >= deadlineMs || graceOver) {
        const seen = handovers ? handovers.stats() : null;
        const loop = seen ? ` (in flight at most ${seen.largest}, at least ${seen.smallest}; ${seen.restored} restored by then, ${seen.slow} slow)` : '';
        log(`Drained ${closedCount} connection(s) in ${now() - at} ms${loop}`);
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
    handovers: () => (handovers ? handovers.stats() : null),
  };
}

module.exports = { createDrain, budget, sessionOf, sessionsByConnection };
