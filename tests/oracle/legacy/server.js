'use strict';
// A Socket.IO 2 app (Engine.IO protocol 3) on 127.0.0.1:PORT, path /ws, with the REST health
// answer older apps gave: what a host serves when an old release is deployed. Used by the
// fault catalogue (tests/e2e/fault_catalogue.py, "server-socketio-v2").
//   node server.js PORT
const http = require('http');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`PORT=${process.argv[2]}: must be an integer from 1 to 65535`);
  process.exit(2);
}
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/api/health')) {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', websocket: 'enabled' }));
    return;
  }
  res.writeHead(404, { 'Content-Type': 'application/json' });
  res.end('{"error":"not found"}');
});
require('socket.io')(server, { path: '/ws' });
server.listen(port, '127.0.0.1', () => console.log(`Socket.IO 2 listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => process.exit(0));
