'use strict';
// A loopback "fleet" for bench/check_fleet.py: N Socket.IO servers (path /ws) in one process,
// each on its own port, each answering GET /api/health after a fixed delay so one target
// takes a known time. Prints {"ports": [...]} once all listen; stops on SIGTERM or stdin EOF.
//
//   node bench/slow_fleet_server.js COUNT DELAY_MS

const http = require('http');
const path = require('path');
const { createRequire } = require('module');

const appRequire = createRequire(path.join(__dirname, '..', 'files', 'app', 'package.json'));
const { Server } = appRequire('socket.io');

const count = Number(process.argv[2] || 50);
const delayMs = Number(process.argv[3] || 500);
if (!Number.isInteger(count) || count < 1 || count > 1000) {
  console.error(`COUNT=${process.argv[2]}: must be an integer from 1 to 1000`);
  process.exit(2);
}
if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 10000) {
  console.error(`DELAY_MS=${process.argv[3]}: must be an integer from 0 to 10000`);
  process.exit(2);
}

function listen() {
  const server = http.createServer((req, res) => {
    if (req.url.startsWith('/api/health')) {
      const answer = () => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ status: 'ok', websocket: 'enabled' }));
      };
      // setTimeout(fn, 0) still waits >= 1 ms: DELAY_MS 0 answers at once.
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
      return;
    }
    res.writeHead(404);
    res.end();
  });
  new Server(server, { path: '/ws', pingInterval: 25000, pingTimeout: 20000 });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  const servers = [];
  for (let i = 0; i < count; i += 1) servers.push(await listen());
  console.log(JSON.stringify({ ports: servers.map((s) => s.address().port) }));
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

main();
