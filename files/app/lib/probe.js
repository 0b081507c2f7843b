'use strict';
// The probes' broadcast check: a probe client on one worker joins a room named by a nonce,
// another probe client (on another worker, or another host sharing Redis) emits to it, and the
// message must arrive through the adapter. Only the room's members receive it, nothing else.

const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const ROOM_PREFIX = 'wsready-probe:';
const PROBE_EVENT = 'wsready:probe';

function answer(ack, value) {
  if (typeof ack === 'function') ack(value);
}

/** Register the probe events on one connected socket. */
function probeEvents(io, socket, config) {
  socket.on('wsready:probe-join', (nonce, ack) => {
    if (typeof nonce !== 'string' || !NONCE.test(nonce)) return answer(ack, { error: 'bad nonce' });
    socket.join(ROOM_PREFIX + nonce);
    return answer(ack, { joined: true, worker: config.worker });
  });
  socket.on('wsready:probe-emit', (nonce, ack) => {
    if (typeof nonce !== 'string' || !NONCE.test(nonce)) return answer(ack, { error: 'bad nonce' });
    io.to(ROOM_PREFIX + nonce).emit(PROBE_EVENT, { nonce, worker: config.worker });
    return answer(ack, { sent: true, worker: config.worker });
  });
}

module.exports = { probeEvents, NONCE, ROOM_PREFIX, PROBE_EVENT };
