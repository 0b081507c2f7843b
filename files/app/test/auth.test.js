'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const jwt = require('jsonwebtoken');
const { createTokenValidator, bearerToken, socketToken } = require('../lib/auth');
const { loadConfig } = require('../lib/config');

const SECRET = 'test-secret-0123456789';
const now = () => Math.floor(Date.now() / 1000);
const sha256 = (text) => crypto.createHash('sha256').update(text).digest('hex');

const jwtValidator = (audience = '') =>
  createTokenValidator({ mode: 'jwt', jwtSecret: SECRET, jwtAudience: audience, staticHashes: [] });

test('jwt: no token is refused', () => {
  assert.deepEqual(jwtValidator()(null), { ok: false, reason: 'no token' });
  assert.equal(jwtValidator()('').ok, false);
});

test('jwt: a valid token is accepted with its subject', () => {
  const token = jwt.sign({ sub: 'probe' }, SECRET, { expiresIn: 60 });
  assert.deepEqual(jwtValidator()(token), { ok: true, subject: 'probe' });
});

test('jwt: an expired token is refused', () => {
  const token = jwt.sign({ sub: 'probe', exp: now() - 10 }, SECRET);
  assert.deepEqual(jwtValidator()(token), { ok: false, reason: 'jwt expired' });
});

test('jwt: a token not valid before a future time is refused', () => {
  const token = jwt.sign({ sub: 'probe', nbf: now() + 300 }, SECRET);
  assert.deepEqual(jwtValidator()(token), { ok: false, reason: 'jwt not active' });
});

test('jwt: a wrong signature is refused', () => {
  const token = jwt.sign({ sub: 'probe' }, 'another-secret', { expiresIn: 60 });
  assert.deepEqual(jwtValidator()(token), { ok: false, reason: 'invalid signature' });
});

test('jwt: a wrong audience is refused, the right one accepted', () => {
  const wrong = jwt.sign({ sub: 'probe', aud: 'other' }, SECRET, { expiresIn: 60 });
  const right = jwt.sign({ sub: 'probe', aud: 'api' }, SECRET, { expiresIn: 60 });
  const missing = jwt.sign({ sub: 'probe' }, SECRET, { expiresIn: 60 });
  assert.match(jwtValidator('api')(wrong).reason, /^jwt audience invalid/);
  assert.equal(jwtValidator('api')(missing).ok, false);
  assert.equal(jwtValidator('api')(right).ok, true);
});

test('jwt: unsigned (alg none) and other algorithms are refused', () => {
  const unsigned = jwt.sign({ sub: 'probe' }, null, { algorithm: 'none' });
  const hs512 = jwt.sign({ sub: 'probe' }, SECRET, { algorithm: 'HS512' });
  assert.equal(jwtValidator()(unsigned).ok, false);
  assert.equal(jwtValidator()(hs512).ok, false);
  assert.equal(jwtValidator()('not.a.jwt').ok, false);
});

test('jwt: a refusal reason never contains the token', () => {
  const token = jwt.sign({ sub: 'probe' }, 'another-secret');
  for (const candidate of [token, 'garbage-token-value', `${token}x`]) {
    assert.ok(!jwtValidator()(candidate).reason.includes(candidate));
  }
});

test('static: a token whose sha256 is listed is accepted, others refused', () => {
  const validate = createTokenValidator({
    mode: 'static',
    staticHashes: [sha256('first-token'), sha256('second-token')],
  });
  assert.deepEqual(validate('second-token'), { ok: true, subject: null });
  assert.deepEqual(validate('third-token'), { ok: false, reason: 'unknown static token' });
  assert.deepEqual(validate(null), { ok: false, reason: 'no token' });
});

test('off: everything is accepted', () => {
  assert.equal(createTokenValidator({ mode: 'off' })(null).ok, true);
});

test('bearerToken reads only the Bearer scheme', () => {
  assert.equal(bearerToken('Bearer abc.def'), 'abc.def');
  assert.equal(bearerToken('bearer   abc'), 'abc');
  assert.equal(bearerToken('Basic abc'), null);
  assert.equal(bearerToken(undefined), null);
});

test('socketToken prefers auth.token and falls back to the Authorization header', () => {
  assert.equal(socketToken({ auth: { token: 'a' }, headers: { authorization: 'Bearer b' } }), 'a');
  assert.equal(socketToken({ auth: { token: 'Bearer a' }, headers: {} }), 'a');
  assert.equal(socketToken({ auth: {}, headers: { authorization: 'Bearer b' } }), 'b');
  assert.equal(socketToken({ auth: {}, headers: {} }), null);
});

test('config: defaults, and errors that name the variable without echoing secrets', () => {
  const config = loadConfig({});
  assert.equal(config.port, 3000);
  assert.equal(config.bind, '127.0.0.1');
  assert.equal(config.wsPath, '/ws');
  assert.equal(config.auth.mode, 'off');
  assert.throws(() => loadConfig({ APP_PORT: '70000' }), /APP_PORT="70000"/);
  assert.throws(() => loadConfig({ WS_PATH: 'ws' }), /WS_PATH="ws": must start with "\/"/);
  assert.throws(() => loadConfig({ APP_AUTH: 'basic' }), /APP_AUTH="basic"/);
  assert.throws(() => loadConfig({ APP_AUTH: 'jwt' }), /JWT_SECRET: required/);
  assert.throws(
    () => loadConfig({ APP_AUTH: 'static', STATIC_TOKEN_SHA256: 'plain-token' }),
    (error) => /STATIC_TOKEN_SHA256/.test(error.message) && !error.message.includes('plain-token'),
  );
});

// --- issue 13: time claims and issuer ------------------------------------------------------

test('jwt: a token without exp is refused (it would be valid forever)', () => {
  const token = jwt.sign({ sub: 'probe' }, SECRET);
  assert.deepEqual(jwtValidator()(token), { ok: false, reason: 'jwt has no exp' });
});

test('jwt: iat in the future or after exp, and non-numeric nbf, are refused', () => {
  const future = jwt.sign({ sub: 'p', iat: now() + 3600, exp: now() + 7200 }, SECRET);
  assert.deepEqual(jwtValidator()(future), { ok: false, reason: 'jwt issued in the future' });
  const inverted = jwt.sign({ sub: 'p', iat: now() - 10, exp: now() - 20 }, SECRET);
  assert.equal(jwtValidator()(inverted).ok, false);
  // jsonwebtoken's sign() refuses a textual nbf: sign the JWS by hand, as an attacker would.
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'p', exp: now() + 60, nbf: 'yesterday' })}`;
  const textual = `${body}.${crypto.createHmac('sha256', SECRET).update(body).digest('base64url')}`;
  assert.equal(jwtValidator()(textual).ok, false);
});

test('jwt: with an issuer configured, only tokens of that issuer pass', () => {
  const validate = createTokenValidator({
    mode: 'jwt', jwtSecret: SECRET, jwtAudience: '', jwtIssuer: 'wsready', staticHashes: [],
  });
  assert.equal(validate(jwt.sign({ sub: 'p', iss: 'wsready' }, SECRET, { expiresIn: 60 })).ok, true);
  assert.equal(validate(jwt.sign({ sub: 'p', iss: 'other' }, SECRET, { expiresIn: 60 })).ok, false);
  assert.equal(validate(jwt.sign({ sub: 'p' }, SECRET, { expiresIn: 60 })).ok, false);
});
