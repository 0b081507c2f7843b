'use strict';
// Entry point run by systemd: settings from the environment, logs to stdout (journald).

const { loadConfig, ConfigError } = require('./lib/config');
const { createApp } = require('./lib/app');

// After the drain's deadline, closing what is left may take this long before we give up.
const STOP_GRACE_MS = 5000;

function log(message) {
  console.log(message);
}

async function main() {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`Configuration error: ${error.message}`);
      process.exit(78); // EX_CONFIG: systemd shows it as status=78/CONFIG
    }
    throw error;
  }
  const service = createApp(config, { log });
  await service.listen();

  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal} received: handing ${service.io.engine.clientsCount} connection(s) over`);
    setTimeout(() => {
      log('Connections did not close in time, exiting');
      process.exit(1);
    }, config.drainDeadlineMs + STOP_GRACE_MS).unref();
    service.shutdown().then(() => {
      log('Server stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error) => {
  console.error(`Failed to start: ${error.message}`);
  process.exit(1);
});
