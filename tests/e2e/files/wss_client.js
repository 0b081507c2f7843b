'use strict';
// The official socket.io-client (files/app's pinned devDependency) against a wss:// host, as a
// mobile app connects: polling handshake, then the upgrade to a WebSocket over TLS.
//
//   node tests/e2e/files/wss_client.js --url https://10.200.1.2 [--servername NAME]
//        [--ca FILE | --insecure] [--path /ws] [--timeout-ms 15000]
//
// --servername: the name for SNI and the certificate check when the URL holds an address.
// Prints one JSON line: {"connected": true, "transport": "websocket", "protocol", "cipher"} and
// exits 0, or {"connected": false, "error": ...} and exits 1.

const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');

const { io } = require(path.join(__dirname, '..', '..', '..', 'files', 'app', 'node_modules', 'socket.io-client'));

function parseArgs(argv) {
  const options = { url: null, servername: null, ca: null, insecure: false, path: '/ws', timeoutMs: 15000 };
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index];
    if (arg === '--insecure') options.insecure = true;
    else if (arg === '--url') options.url = argv[++index];
    else if (arg === '--servername') options.servername = argv[++index];
    else if (arg === '--ca') options.ca = argv[++index];
    else if (arg === '--path') options.path = argv[++index];
    else if (arg === '--timeout-ms') options.timeoutMs = Number(argv[++index]);
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!options.url) throw new Error('--url is required');
  return options;
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const tlsOptions = { rejectUnauthorized: !options.insecure };
  if (options.ca) tlsOptions.ca = fs.readFileSync(options.ca);
  if (options.servername) tlsOptions.servername = options.servername;
  // One agent for both transports: it carries the trust, SNI and the name checked.
  const agent = new https.Agent({ ...tlsOptions, keepAlive: false });
  let tlsSeen = null;
  const socket = io(options.url, {
    path: options.path,
    agent,
    ...tlsOptions,
    reconnection: false,
    timeout: options.timeoutMs,
  });
  const finish = (code, result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    socket.close();
    agent.destroy();
    process.exit(code);
  };
  const timer = setTimeout(
    () => finish(1, { connected: false, error: `no upgraded connection in ${options.timeoutMs} ms` }),
    options.timeoutMs,
  );
  socket.on('connect_error', (error) => {
    clearTimeout(timer);
    const cause = error.description && (error.description.message || String(error.description));
    finish(1, { connected: false, error: `${error.message}${cause ? `: ${cause}` : ''}` });
  });
  socket.on('connect', () => {
    const engine = socket.io.engine;
    const settled = () => {
      clearTimeout(timer);
      const transport = engine.transport;
      const ws = transport.ws && transport.ws._socket;
      if (ws && typeof ws.getProtocol === 'function') {
        tlsSeen = { protocol: ws.getProtocol(), cipher: ws.getCipher().standardName };
      }
      finish(0, { connected: true, id: socket.id, transport: transport.name, ...(tlsSeen || {}) });
    };
    if (engine.transport.name === 'websocket') settled();
    else engine.once('upgrade', settled);
  });
}

main();
