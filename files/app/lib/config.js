'use strict';
// Settings from the environment (systemd EnvironmentFile). Bad values stop the start-up
// with a message naming the variable, instead of a server that half works.

const AUTH_MODES = ['off', 'jwt', 'static'];

class ConfigError extends Error {}

function integer(env, name, fallback, min, max) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
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
  return {
    port: integer(env, 'APP_PORT', 3000, 0, 65535),
    bind: env.APP_BIND || '127.0.0.1',
    wsPath,
    corsOrigins: list(env.CORS_ORIGINS),
    pingIntervalMs: integer(env, 'PING_INTERVAL_MS', 25000, 1, 3600000),
    pingTimeoutMs: integer(env, 'PING_TIMEOUT_MS', 20000, 1, 3600000),
    version: env.APP_VERSION || 'dev',
    auth: {
      mode: auth,
      jwtSecret: env.JWT_SECRET || '',
      jwtAudience: env.JWT_AUDIENCE || '',
      staticHashes,
    },
  };
}

module.exports = { loadConfig, ConfigError, AUTH_MODES };
