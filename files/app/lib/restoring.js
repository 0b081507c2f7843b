'use strict';
// Broadcasts reach a session while it is being restored, once.
//
// Socket.IO 4.8 restores a session in two steps: the adapter's restoreSession() reads the
// missed broadcasts from the stream (XRANGE up to its end at that moment), then the socket
// runs the middlewares (the token check) and only then joins namespace.sockets. A broadcast
// appended to the stream after that XRANGE and delivered by the worker's stream reader
// before the socket joined is skipped by the adapter (it looks sockets up in
// namespace.sockets only): the client misses it for good. Measured in the live-deploy
// e2e: 1 to 5 clients of 200 missed one broadcast per deploy, each in that window.
//
// Here the adapter also delivers a broadcast to the recovered sockets still waiting for
// their middlewares (the client keeps events that come before its CONNECT and emits them
// after it), and skips, for a restored session, any broadcast at or before the offset its
// restore already replayed (the stream reader may lag behind the XRANGE): each broadcast
// reaches the client exactly once.

const OFFSET = /^(\d+)-(\d+)$/;
/** How long a restored session's replay offset is kept: longer than any reader lag. */
const KEEP_MS = 60000;

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

/**
 * Patch the namespace's adapter (after io.adapter(...)); returns counters:
 * `restoring` (broadcasts delivered to a session being restored, which the adapter alone
 * would have dropped) and `replayed` (deliveries skipped: already in the restore's replay).
 */
function deliverWhileRestoring(nsp) {
  const adapter = nsp.adapter;
  const counts = { restoring: 0, replayed: 0 };
  if (typeof adapter.restoreSession !== 'function' || typeof adapter.apply !== 'function') return counts;
  const restored = new Map(); // pid -> the offset its restore replayed up to
  const restoreSession = adapter.restoreSession.bind(adapter);
  adapter.restoreSession = async (pid, offset) => {
    const session = await restoreSession(pid, offset);
    if (session && typeof offset === 'string' && OFFSET.test(offset)) {
      restored.set(session.pid, replayedUpTo(session, offset));
      setTimeout(() => restored.delete(session.pid), KEEP_MS).unref();
    }
    return session;
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
    packet = null;
    if (offset === null) return apply(opts, callback);
    const once = (socket) => {
      const upTo = socket.pid === undefined ? undefined : restored.get(socket.pid);
      if (upTo !== undefined && !after(offset, upTo)) {
        counts.replayed += 1;
        return;
      }
      callback(socket);
    };
    apply(opts, once);
    const waiting = nsp._preConnectSockets;
    if (!waiting || waiting.size === 0) return undefined;
    const except = adapter.computeExceptSids(opts.except);
    for (const socket of waiting.values()) {
      if (!socket.recovered || except.has(socket.id) || socket.nsp !== nsp) continue;
      if (opts.rooms.size && ![...opts.rooms].some((room) => adapter.rooms.get(room)?.has(socket.id))) continue;
      const before = counts.replayed;
      once(socket);
      if (counts.replayed === before) counts.restoring += 1;
    }
    return undefined;
  };
  return counts;
}

module.exports = { deliverWhileRestoring, after, offsetOf, replayedUpTo };
