'use strict';
// Settings from the environment (systemd EnvironmentFile). Bad values stop the start-up
// with a message naming the variable, instead of a server that half works.

const AUTH_MODES = ['off', 'jwt', 'static'];
const REDIS_SCHEMES = ['redis:', 'rediss:', 'unix:'];
const TRANSPORTS = ['polling', 'websocket'];
/** Instance number of the second generation's first worker (ports APP_PORT + 100 + i). */
const GENERATION_OFFSET = 100;

class ConfigError extends Error {}

function integer(env, name, fallback, min, max) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  // Decimal digits only: Number() would also take "1e6", "0x10" or " 12".
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)}: must be an integer from ${min} to ${max}`);
  }
  return value;
}

function list(raw) {
  return (raw || '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

function flag(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw !== '0' && raw !== '1') {
    throw new ConfigError(`${name}=${JSON.stringify(raw)}: must be 0 or 1`);
  }
  return raw === '1';
}

/**
 * REDIS_URL -> {url, label} for redis:// and rediss://, {socketPath, label} for unix:///path;
 * null when empty. `label` is safe to log: no user name, no password. A bad value is never
 * echoed, since a URL may carry a password.
 */
function redisTarget(raw) {
  if (!raw) return null;
  const shape = 'must be redis://host:port[/db], rediss://host:port[/db] or unix:///path/to.sock';
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`REDIS_URL: ${shape} (value not shown: it may hold a password)`);
  }
  if (!REDIS_SCHEMES.includes(url.protocol)) {
    throw new ConfigError(`REDIS_URL: ${shape} (unsupported scheme; value not shown)`);
  }
  if (url.protocol === 'unix:') {
    if (url.host || !url.pathname || url.pathname === '/') {
      throw new ConfigError(`REDIS_URL: ${shape} (unix: needs an absolute socket path, no host)`);
    }
    return { socketPath: decodeURIComponent(url.pathname), label: `unix://${url.pathname}` };
  }
  if (!url.hostname) throw new ConfigError(`REDIS_URL: ${shape} (no host)`);
  if (url.pathname && url.pathname !== '/' && !/^\/\d{1,2}$/.test(url.pathname)) {
    throw new ConfigError(`REDIS_URL: ${shape} (the path is the database number, 0..99)`);
  }
  const port = url.port || '6379';
  return { url: raw, label: `${url.protocol}//${url.hostname}:${port}${url.pathname === '/' ? '' : url.pathname}` };
}

/** APP_TRANSPORTS: Engine.IO transports this server accepts (default both), in order. */
function transports(env) {
  const names = list(env.APP_TRANSPORTS);
  if (names.length === 0) return [...TRANSPORTS];
  const unknown = names.filter((name) => !TRANSPORTS.includes(name));
  if (unknown.length > 0 || new Set(names).size !== names.length) {
    throw new ConfigError(`APP_TRANSPORTS=${JSON.stringify(env.APP_TRANSPORTS)}: must list polling and/or websocket, once each`);
  }
  return names;
}

function loadConfig(env = process.env) {
  const wsPath = env.WS_PATH || '/ws';
  if (!wsPath.startsWith('/')) {
    throw new ConfigError(`WS_PATH=${JSON.stringify(wsPath)}: must start with "/"`);
  }
  const auth = env.APP_AUTH || 'off';
  if (!AUTH_MODES.includes(auth)) {
    throw new ConfigError(`APP_AUTH=${JSON.stringify(auth)}: must be one of ${AUTH_MODES.join(', ')}`);
  }
  const staticHashes = list(env.STATIC_TOKEN_SHA256).map((hash) => hash.toLowerCase());
  for (const hash of staticHashes) {
    if (!/^[0-9a-f]{64}$/.test(hash)) {
      // The hash is not a secret, but a mangled list is most often a pasted token: do not echo it.
      throw new ConfigError('STATIC_TOKEN_SHA256: every entry must be 64 hex characters (a sha256)');
    }
  }
  if (auth === 'jwt' && !env.JWT_SECRET) {
    throw new ConfigError('JWT_SECRET: required when APP_AUTH=jwt');
  }
  if (auth === 'static' && staticHashes.length === 0) {
    throw new ConfigError('STATIC_TOKEN_SHA256: required when APP_AUTH=static');
  }
  const port = integer(env, 'APP_PORT', 3000, 0, 65535);
  const workers = integer(env, 'APP_WORKERS', 1, 1, 1024);
  const worker = integer(env, 'APP_WORKER', 0, 0, 1023);
  // A second generation of workers (wsready's app_restart "generations") runs as instances
  // GENERATION_OFFSET + i beside the first (0 .. workers - 1): each asks its own siblings.
  const workerBase = worker >= GENERATION_OFFSET && workers <= GENERATION_OFFSET ? GENERATION_OFFSET : 0;
  if (worker - workerBase >= workers) {
    const range = workerBase ? ` (or ${workerBase} + that)` : '';
    throw new ConfigError(`APP_WORKER=${JSON.stringify(env.APP_WORKER)}: must be below APP_WORKERS (${workers})${range}`);
  }
  if (port === 0 && workers > 1) {
    // Worker i listens on APP_PORT + i: with an ephemeral first port its siblings are unknowable.
    throw new ConfigError(`APP_PORT="0": an ephemeral port works only with APP_WORKERS=1 (not ${workers})`);
  }
  if (port + workerBase + workers - 1 > 65535) {
    throw new ConfigError(`APP_WORKERS=${JSON.stringify(env.APP_WORKERS)}: APP_PORT ${port} + ${workerBase + workers - 1} passes port 65535`);
  }
  return {
    port,
    workers,
    worker,
    /** The first instance of this worker's generation: its siblings are workerBase + j. */
    workerBase,
    /** The port this worker listens on: APP_PORT + APP_WORKER (0 stays 0: ephemeral). */
    listenPort: port === 0 ? 0 : port + worker,
    bind: env.APP_BIND || '127.0.0.1',
    wsPath,
    corsOrigins: list(env.CORS_ORIGINS),
    transports: transports(env),
    allowUpgrades: flag(env, 'APP_ALLOW_UPGRADES', true),
    pingIntervalMs: integer(env, 'PING_INTERVAL_MS', 25000, 1, 3600000),
    pingTimeoutMs: integer(env, 'PING_TIMEOUT_MS', 20000, 1, 3600000),
    version: env.APP_VERSION || 'dev',
    // Fingerprint of the deployed configuration (environment file, units), set by the deploy:
    // /api/health reports it so probes know which configuration answered.
    configFingerprint: env.APP_CONFIG_FINGERPRINT || '',
    maxClients: integer(env, 'APP_MAX_CLIENTS', 20000, 1, 100000000),
    logConnections: flag(env, 'APP_LOG_CONNECTIONS', false),
    maxHttpBufferSize: integer(env, 'MAX_HTTP_BUFFER_SIZE', 1000000, 1, 1073741824),
    listenBacklog: integer(env, 'LISTEN_BACKLOG', 4096, 1, 1048576),
    // Socket.IO connection state recovery: how long a disconnected client's id, rooms and
    // missed broadcasts are kept (in Redis when REDIS_URL is set). 0 turns recovery off.
    recoveryMs: integer(env, 'RECOVERY_MAX_DISCONNECTION_MS', 120000, 0, 86400000),
    // SIGTERM hands the clients over at DRAIN_RATE per second; whatever is left at
    // DRAIN_DEADLINE_MS is closed at once.
    drainRate: integer(env, 'DRAIN_RATE', 1000, 1, 1000000),
    drainDeadlineMs: integer(env, 'DRAIN_DEADLINE_MS', 20000, 0, 3600000),
    redis: redisTarget(env.REDIS_URL || ''),
    redisPassword: env.REDIS_PASSWORD || '',
    auth: {
      mode: auth,
      jwtSecret: env.JWT_SECRET || '',
      jwtAudience: env.JWT_AUDIENCE || '',
      jwtIssuer: env.JWT_ISSUER || '',
      staticHashes,
    },
  };
}

module.exports = { loadConfig, ConfigError, AUTH_MODES, TRANSPORTS, GENERATION_OFFSET, redisTarget };
