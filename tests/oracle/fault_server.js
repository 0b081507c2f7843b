#!/usr/bin/env node
'use strict';
// A minimal Socket.IO server (the app's own socket.io, files/app/node_modules) with server
// settings the bundled app does not expose, for the oracle's own tests on loopback:
//
//   node fault_server.js [--transports polling,websocket] [--no-upgrades] [--path /ws]
//                        [--cert FILE --key FILE] [--require-origin ORIGIN]
//
// Listens on an ephemeral 127.0.0.1 port (HTTPS with --cert/--key) and prints
// `listening <port>`. --require-origin refuses any other Origin header (Engine.IO's
// allowRequest: HTTP 403, code 4 "Forbidden"). POST /api/broadcast
// {"event": …, "data": …} emits to every client, like the app's loopback-only route.

const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');
const { Server } = require(path.join(__dirname, '..', '..', 'files', 'app', 'node_modules', 'socket.io'));

function parse(argv) {
  const options = { transports: ['polling', 'websocket'], allowUpgrades: true, path: '/ws' };
  const tls = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--no-upgrades') options.allowUpgrades = false;
    else if (arg === '--transports' && i + 1 < argv.length) options.transports = argv[++i].split(',');
    else if (arg === '--path' && i + 1 < argv.length) options.path = argv[++i];
    else if (arg === '--require-origin' && i + 1 < argv.length) {
      const origin = argv[++i];
      options.allowRequest = (req, callback) => callback(null, req.headers.origin === origin);
    } else if ((arg === '--cert' || arg === '--key') && i + 1 < argv.length) tls[arg.slice(2)] = argv[++i];
    else throw new Error(`unknown argument ${JSON.stringify(arg)}`);
  }
  if (Boolean(tls.cert) !== Boolean(tls.key)) throw new Error('--cert and --key go together');
  return { options, tls };
}

function main() {
  let options;
  let tls;
  try {
    ({ options, tls } = parse(process.argv.slice(2)));
  } catch (error) {
    process.stderr.write(`fault_server.js: ${error.message}\n`);
    process.exit(2);
  }
  const server = tls.cert
    ? https.createServer({ cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) })
    : http.createServer();
  const io = new Server(server, options);
  server.on('request', (req, res) => {
    if (req.url.startsWith(options.path)) return; // Engine.IO answers these
    if (req.method !== 'POST' || req.url !== '/api/broadcast') {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      try {
        const { event, data } = JSON.parse(body);
        io.emit(event, data);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"sent":true}');
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
  process.on('SIGTERM', () => process.exit(0));
}

main();
