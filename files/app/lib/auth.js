'use strict';
// The one token check shared by the REST middleware and the Socket.IO middleware, so a
// token is accepted by both or refused by both.

const crypto = require('node:crypto');
const jwt = require('jsonwebtoken');

/**
 * Build validate(token) -> {ok: true, subject} | {ok: false, reason}.
 * `reason` is safe to log: it never contains the token.
 */
// A token may claim to be issued this far in the future (clock skew between hosts).
const CLOCK_SKEW_S = 60;

/** Why the time claims of verified `claims` are refused, or null: `exp` is required (a token
 * without it would be valid forever), `iat`/`nbf` must be numbers, `iat` not in the future. */
function timeClaimsProblem(claims, nowS) {
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) return 'jwt has no exp';
  for (const name of ['iat', 'nbf']) {
    if (name in claims && (typeof claims[name] !== 'number' || !Number.isFinite(claims[name]))) {
      return `jwt ${name} is not a number`;
    }
  }
  if (typeof claims.iat === 'number' && claims.iat > nowS + CLOCK_SKEW_S) return 'jwt issued in the future';
  if (typeof claims.iat === 'number' && claims.exp <= claims.iat) return 'jwt expires before it was issued';
  return null;
}

function createTokenValidator({ mode, jwtSecret, jwtAudience, jwtIssuer, staticHashes }) {
  if (mode === 'off') {
    return () => ({ ok: true, subject: null });
  }
  if (mode === 'jwt') {
    const options = { algorithms: ['HS256'] };
    if (jwtAudience) options.audience = jwtAudience;
    if (jwtIssuer) options.issuer = jwtIssuer;
    return (token) => {
      if (!token) return { ok: false, reason: 'no token' };
      try {
        const claims = jwt.verify(token, jwtSecret, options);
        const problem = timeClaimsProblem(claims, Math.floor(Date.now() / 1000));
        if (problem) return { ok: false, reason: problem };
        return { ok: true, subject: typeof claims.sub === 'string' ? claims.sub : null };
      } catch (error) {
        // TokenExpiredError / NotBeforeError / JsonWebTokenError: messages name the check,
        // e.g. "jwt expired", "invalid signature", "jwt audience invalid. expected: api".
        return { ok: false, reason: error.message };
      }
    };
  }
  if (mode === 'static') {
    const accepted = staticHashes.map((hex) => Buffer.from(hex, 'hex'));
    return (token) => {
      if (!token) return { ok: false, reason: 'no token' };
      const digest = crypto.createHash('sha256').update(token, 'utf8').digest();
      const match = accepted.some((hash) => crypto.timingSafeEqual(hash, digest));
      return match ? { ok: true, subject: null } : { ok: false, reason: 'unknown static token' };
    };
  }
  throw new Error(`unknown auth mode: ${mode}`);
}

/** The token of an `Authorization: Bearer <token>` header value, or null. */
function bearerToken(headerValue) {
  if (typeof headerValue !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(headerValue);
  return match ? match[1] : null;
}

/** Socket.IO clients send `auth: {token}`; older ones only the Authorization header. */
function socketToken(handshake) {
  const token = handshake.auth && handshake.auth.token;
  if (typeof token === 'string' && token) return bearerToken(token) || token;
  return bearerToken(handshake.headers.authorization);
}

/** Express middleware: 401 JSON unless the Bearer token passes `validate`. */
function restAuth(validate, { log, publicPaths = [] }) {
  return (req, res, next) => {
    if (publicPaths.includes(req.path)) return next();
    const result = validate(bearerToken(req.get('authorization')));
    if (result.ok) {
      res.locals.subject = result.subject;
      return next();
    }
    log(`REST request refused: ${req.method} ${req.originalUrl.split('?')[0]} (${result.reason})`);
    return res.status(401).json({ error: 'unauthorized' });
  };
}

/** Socket.IO middleware: refusals reach the client as a CONNECT_ERROR `44{"message":"unauthorized"}`. */
function socketAuth(validate, { log }) {
  return (socket, next) => {
    const result = validate(socketToken(socket.handshake));
    if (result.ok) {
      socket.data.subject = result.subject;
      return next();
    }
    log(`WebSocket client refused: ${socket.id} (${result.reason})`);
    return next(new Error('unauthorized'));
  };
}

module.exports = { createTokenValidator, bearerToken, socketToken, restAuth, socketAuth };
