'use strict';
// A minimal Socket.IO server for loopback runs of bench/ws_capacity.py (tests, per-process
// capacity figures): Socket.IO at --path on 127.0.0.1, GET /api/health, and
// POST /api/broadcast {"event", "data"} like the app's (scale-out contract).
//
//   node bench/ws_test_server.js [--port 0] [--path /ws] [--refuse-every N] [--drop-every N]
//        [--ping-interval-ms 25000] [--ping-timeout-ms 20000]
//
// --refuse-every N refuses every Nth handshake (connect_error on the client); --drop-every N
// disconnects every Nth client right after it connected. Prints {"port": P, "pid": PID} on
// stdout once listening.

const http = require('node:http');
const path = require('node:path');

const { Server } = require(path.join(__dirname, '..', 'files', 'app', 'node_modules', 'socket.io'));

function parseArgs(argv) {
  const options = { port: 0, path: '/ws', refuseEvery: 0, dropEvery: 0, pingIntervalMs: 25000, pingTimeoutMs: 20000 };
  const names = {
    '--port': 'port',
    '--path': 'path',
    '--refuse-every': 'refuseEvery',
    '--drop-every': 'dropEvery',
    '--ping-interval-ms': 'pingIntervalMs',
    '--ping-timeout-ms': 'pingTimeoutMs',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || argv[i + 1] === undefined) throw new Error(`bad option ${argv[i]}`);
    options[key] = key === 'path' ? argv[i + 1] : Number(argv[i + 1]);
  }
  return options;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 100000) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const server = http.createServer();
  const io = new Server(server, {
    path: options.path,
    pingInterval: options.pingIntervalMs,
    pingTimeout: options.pingTimeoutMs,
  });
  let handshakes = 0;
  let connections = 0;

  const send = (res, status, body) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  server.on('request', async (req, res) => {
    if (req.url.startsWith(options.path)) return; // Engine.IO answers these
    if (req.method === 'GET' && req.url === '/api/health') {
      return send(res, 200, { status: 'ok', clients: io.engine.clientsCount, workers: { up: 1, total: 1 } });
    }
    if (req.method === 'POST' && req.url === '/api/broadcast') {
      try {
        const { event, data } = JSON.parse(await readBody(req));
        if (typeof event !== 'string' || !event) return send(res, 400, { error: 'event required' });
        io.emit(event, data);
        return send(res, 200, { sent: true, worker: 0 });
      } catch (error) {
        return send(res, 400, { error: error.message });
      }
    }
    return send(res, 404, { error: 'not found' });
  });

  io.use((socket, next) => {
    handshakes += 1;
    if (options.refuseEvery && handshakes % options.refuseEvery === 0) return next(new Error('refused by test server'));
    return next();
  });
  io.on('connection', (socket) => {
    connections += 1;
    if (options.dropEvery && connections % options.dropEvery === 0) socket.disconnect(true);
  });

  server.listen({ port: options.port, host: '127.0.0.1', backlog: 4096 }, () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port, pid: process.pid })}\n`);
  });
  const stop = () => io.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
