'use strict';
// The scale-out settings: workers, limits, Redis. Bad values name the variable; the Redis
// password (in REDIS_PASSWORD or in the URL) never appears in a message.
const test = require('node:test');
const assert = require('node:assert/strict');
const { loadConfig, ConfigError } = require('../lib/config');

test('scale-out defaults', () => {
  const config = loadConfig({});
  assert.equal(config.workers, 1);
  assert.equal(config.worker, 0);
  assert.equal(config.listenPort, 3000);
  assert.equal(config.maxClients, 20000);
  assert.equal(config.logConnections, false);
  assert.equal(config.maxHttpBufferSize, 1000000);
  assert.equal(config.listenBacklog, 4096);
  assert.equal(config.redis, null);
});

test('worker i listens on APP_PORT + i; APP_PORT=0 stays ephemeral for a single worker', () => {
  const config = loadConfig({ APP_PORT: '3000', APP_WORKERS: '4', APP_WORKER: '3' });
  assert.equal(config.port, 3000);
  assert.equal(config.listenPort, 3003);
  assert.equal(loadConfig({ APP_PORT: '0' }).listenPort, 0);
  assert.equal(config.workerBase, 0);
  // The second generation: instances 100 + i on APP_PORT + 100 + i, siblings from 100.
  const second = loadConfig({ APP_PORT: '3000', APP_WORKERS: '4', APP_WORKER: '103' });
  assert.deepEqual([second.listenPort, second.workerBase], [3103, 100]);
});

test('bad worker and limit values name their variable', () => {
  const cases = [
    [{ APP_WORKERS: '0' }, /^APP_WORKERS="0": must be an integer from 1 to/],
    [{ APP_WORKERS: 'two' }, /^APP_WORKERS="two"/],
    [{ APP_WORKER: '-1' }, /^APP_WORKER="-1"/],
    [{ APP_WORKERS: '2', APP_WORKER: '2' }, /^APP_WORKER="2": must be below APP_WORKERS \(2\)/],
    [{ APP_WORKERS: '2', APP_WORKER: '102' }, /^APP_WORKER="102": must be below APP_WORKERS \(2\) \(or 100 \+ that\)/],
    [{ APP_PORT: '65435', APP_WORKERS: '2', APP_WORKER: '100' }, /^APP_WORKERS="2": APP_PORT 65435 \+ 101 passes port 65535/],
    [{ APP_WORKER: '1' }, /^APP_WORKER="1": must be below APP_WORKERS \(1\)/],
    [{ APP_PORT: '0', APP_WORKERS: '2' }, /^APP_PORT="0": an ephemeral port works only with APP_WORKERS=1/],
    [{ APP_PORT: '65535', APP_WORKERS: '2' }, /^APP_WORKERS="2": APP_PORT 65535 \+ 1 passes port 65535/],
    [{ APP_MAX_CLIENTS: '0' }, /^APP_MAX_CLIENTS="0"/],
    [{ APP_LOG_CONNECTIONS: 'yes' }, /^APP_LOG_CONNECTIONS="yes": must be 0 or 1/],
    [{ MAX_HTTP_BUFFER_SIZE: '1e6' }, /^MAX_HTTP_BUFFER_SIZE="1e6"/],
    [{ LISTEN_BACKLOG: '-5' }, /^LISTEN_BACKLOG="-5"/],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => loadConfig(env), (error) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
  }
  assert.equal(loadConfig({ APP_LOG_CONNECTIONS: '1' }).logConnections, true);
  assert.equal(loadConfig({ LISTEN_BACKLOG: '511', MAX_HTTP_BUFFER_SIZE: '65536' }).listenBacklog, 511);
});

test('REDIS_URL: redis://, rediss:// and unix:// accepted, labels never hold the password', () => {
  const tcp = loadConfig({ REDIS_URL: 'redis://:s3cret-pw@10.0.0.5:6380/2', REDIS_PASSWORD: 'other-pw' });
  assert.deepEqual(tcp.redis, { url: 'redis://:s3cret-pw@10.0.0.5:6380/2', label: 'redis://10.0.0.5:6380/2' });
  assert.equal(tcp.redisPassword, 'other-pw');
  assert.equal(loadConfig({ REDIS_URL: 'rediss://cache.internal' }).redis.label, 'rediss://cache.internal:6379');
  assert.deepEqual(loadConfig({ REDIS_URL: 'unix:///run/redis/redis.sock' }).redis, {
    socketPath: '/run/redis/redis.sock',
    label: 'unix:///run/redis/redis.sock',
  });
});

test('bad REDIS_URL values are named, never echoed', () => {
  for (const raw of [
    'http://:s3cret-pw@cache:6379',
    's3cret-pw',
    'redis//:s3cret-pw@cache',
    'redis://:s3cret-pw@cache/not-a-db',
    'unix://s3cret-pw/run/redis.sock',
    'unix:///',
  ]) {
    assert.throws(
      () => loadConfig({ REDIS_URL: raw, REDIS_PASSWORD: 'pw-in-env' }),
      (error) =>
        error instanceof ConfigError &&
        error.message.startsWith('REDIS_URL: must be redis://') &&
        !error.message.includes('s3cret-pw') &&
        !error.message.includes('pw-in-env'),
      raw,
    );
  }
});

test('APP_TRANSPORTS and APP_ALLOW_UPGRADES: both transports and upgrades by default', () => {
  const { loadConfig: load, ConfigError: Err } = require('../lib/config');
  assert.deepEqual(load({}).transports, ['polling', 'websocket']);
  assert.equal(load({}).allowUpgrades, true);
  assert.deepEqual(load({ APP_TRANSPORTS: 'websocket' }).transports, ['websocket']);
  assert.equal(load({ APP_ALLOW_UPGRADES: '0' }).allowUpgrades, false);
  assert.throws(() => load({ APP_TRANSPORTS: 'polling,flash' }), Err);
  assert.throws(() => load({ APP_TRANSPORTS: 'polling,polling' }), Err);
});
