'use strict';
// Broadcasts reach a session being restored, exactly once.
//
// Socket.IO 4.8 restores a session in steps: the adapter's restoreSession() reads the missed
// broadcasts from the stream (XRANGE up to its end at that moment), the Socket is built with
// them, then it runs the middlewares (the token check), and only then joins
// namespace.sockets. The adapter delivers a broadcast only to the sockets in
// namespace.sockets, so one applied on this worker after that XRANGE ran in Redis and before
// the socket joined is lost for that client. Two windows, both measured:
//   - during the middlewares (the live-deploy e2e: 1 to 5 clients of 200 missed one);
//   - before the Socket exists: the answer of a XADD (a broadcast sent here) or of the stream
//     reader's XREAD can be handled before the restore's XRANGE answer has gone through its
//     promise chain (replies read in one chunk resolve their promises in the same tick): the
//     generations bench at 200 clients, 5-7 clients missed one broadcast sent by the very
//     worker they were restored on, 1.5-2 s before their connect.
//
// Here the namespace builds a restored Socket itself (the same steps as Socket.IO's
// Namespace._createSocket, pinned socket.io 4.8.4) and, in the same tick, adds to its missed
// packets the broadcasts this worker applied since the restore's last offset (the adapter
// keeps the last RECENT of them), then tracks the socket until it is connected: broadcasts
// applied meanwhile are delivered to it too (the client keeps events that come before its
// CONNECT and emits them after it). For a restored session, a broadcast already in its
// replay (at or before the replay's last offset, or caught up) is skipped: each broadcast
// reaches the client exactly once.

const { Socket } = require('socket.io');

const OFFSET = /^(\d+)-(\d+)$/;
/** How long a restored session's replay is remembered: longer than any reader lag. */
const KEEP_MS = 60000;
/** Broadcasts kept for sessions being restored: far more than arrive during one restore. */
const RECENT = 1000;

/** a > b for stream ids "ms-seq" (strings of digits). */
function after(a, b) {
  const [, am, as] = OFFSET.exec(a);
  const [, bm, bs] = OFFSET.exec(b);
  const ms = BigInt(am) - BigInt(bm);
  return ms > 0n || (ms === 0n && BigInt(as) > BigInt(bs));
}

/** The stream offset a broadcast packet carries (its last argument), or null. */
function offsetOf(packet) {
  const data = packet && Array.isArray(packet.data) ? packet.data : null;
  const last = data && data.length ? data[data.length - 1] : null;
  return typeof last === 'string' && OFFSET.test(last) ? last : null;
}

/** The offset a restore replayed up to: the last missed packet's, else the client's own. */
function replayedUpTo(session, offset) {
  const missed = session.missedPackets || [];
  for (let i = missed.length - 1; i >= 0; i -= 1) {
    const last = missed[i][missed[i].length - 1];
    if (typeof last === 'string' && OFFSET.test(last)) return last;
  }
  return offset;
}

/** Whether a broadcast to `opts` (rooms, except: Sets) reaches a session in `rooms`. */
function reaches(opts, rooms) {
  const included = opts.rooms.size === 0 || rooms.some((room) => opts.rooms.has(room));
  return included && rooms.every((room) => !opts.except.has(room));
}

/**
 * Patch namespace `nsp` and its adapter (after io.adapter(...)). Returns counters:
 * `caught_up` (broadcasts applied before a restored socket existed, added to its replay),
 * `restoring` (delivered to a restored socket not connected yet) and `replayed` (deliveries
 * skipped: already in the client's replay).
 */
function deliverWhileRestoring(nsp) {
  const adapter = nsp.adapter;
  const counts = { caught_up: 0, restoring: 0, replayed: 0 };
  if (typeof adapter.restoreSession !== 'function' || typeof adapter.apply !== 'function') return counts;
  const recent = []; // {offset, data, opts} of the last RECENT broadcasts applied here
  const sent = new Map(); // pid -> {replayed: the replay's last offset, late: Set of offsets}
  const waiting = new Set(); // restored sockets not in nsp.sockets yet

  nsp._createSocket = async (client, auth) => {
    const { pid, offset } = auth;
    if (!nsp.server.opts.connectionStateRecovery || typeof pid !== 'string' || typeof offset !== 'string') {
      return new Socket(nsp, client, auth);
    }
    let session = null;
    try {
      session = await adapter.restoreSession(pid, offset);
    } catch {
      session = null; // not found, or Redis unreachable: a new session
    }
    if (!session) return new Socket(nsp, client, auth);
    // From here to `waiting.add`, one synchronous block: no broadcast can fall in between.
    const replayed = OFFSET.test(offset) ? replayedUpTo(session, offset) : null;
    const late = replayed === null ? [] : recent.filter((e) => after(e.offset, replayed) && reaches(e.opts, session.rooms || []));
    late.sort((x, y) => (after(x.offset, y.offset) ? 1 : -1));
    for (const entry of late) session.missedPackets.push(entry.data);
    counts.caught_up += late.length;
    if (replayed !== null) {
      sent.set(session.pid, { replayed, late: new Set(late.map((e) => e.offset)) });
      setTimeout(() => sent.delete(session.pid), KEEP_MS).unref();
    }
    const socket = new Socket(nsp, client, auth, session);
    waiting.add(socket);
    return socket;
  };

  // The packet being broadcast: InMemoryAdapter.broadcast encodes it right before apply().
  let packet = null;
  const encode = adapter._encode.bind(adapter);
  adapter._encode = (value, options) => {
    packet = value;
    return encode(value, options);
  };
  const apply = adapter.apply.bind(adapter);
  adapter.apply = (opts, callback) => {
    const offset = offsetOf(packet);
    const data = packet && packet.data;
    packet = null;
    if (offset === null) return apply(opts, callback);
    recent.push({ offset, data, opts });
    if (recent.length > RECENT) recent.shift();
    const once = (socket) => {
      const known = socket.pid === undefined ? undefined : sent.get(socket.pid);
      if (known !== undefined && (!after(offset, known.replayed) || known.late.has(offset))) {
        counts.replayed += 1;
        return false;
      }
      callback(socket);
      return true;
    };
    apply(opts, once);
    if (waiting.size === 0) return undefined;
    const except = adapter.computeExceptSids(opts.except);
    for (const socket of waiting) {
      if (nsp.sockets.has(socket.id) || socket.client.conn.readyState !== 'open') {
        waiting.delete(socket); // connected (reached above), or gone
        continue;
      }
      if (except.has(socket.id)) continue;
      if (opts.rooms.size && ![...opts.rooms].some((room) => adapter.rooms.get(room)?.has(socket.id))) continue;
      if (once(socket)) counts.restoring += 1;
    }
    return undefined;
  };
  return counts;
}

module.exports = { deliverWhileRestoring, after, offsetOf, replayedUpTo, reaches };
