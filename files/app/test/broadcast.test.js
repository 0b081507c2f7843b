'use strict';
// Who may POST /api/broadcast, and which bodies it takes (the loopback cluster test covers the
// route end to end; these cover the addresses a loopback test cannot produce).
const test = require('node:test');
const assert = require('node:assert/strict');
const { isLoopback, refusal, invalidBody } = require('../lib/broadcast');
const { siblingHost } = require('../lib/health');

const request = (remoteAddress, headers = {}) => ({ headers, socket: { remoteAddress } });

test('only a direct loopback caller may broadcast', () => {
  for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) {
    assert.equal(isLoopback(address), true, address);
    assert.equal(refusal(request(address)), null, address);
  }
  for (const address of ['10.0.0.5', '::ffff:10.0.0.5', 'fd00::1', '1270.0.0.1', undefined]) {
    assert.equal(isLoopback(address), false, String(address));
    assert.equal(refusal(request(address)), 'not a loopback connection', String(address));
  }
  assert.match(refusal(request('127.0.0.1', { 'x-forwarded-for': '127.0.0.1' })), /x-forwarded-for/);
  assert.match(refusal(request('127.0.0.1', { 'x-real-ip': '' })), /x-real-ip/);
  assert.match(refusal(request('127.0.0.1', { forwarded: 'for=1.2.3.4' })), /forwarded/);
});

test('broadcast bodies: a named, unreserved event of at most 64 characters', () => {
  assert.equal(invalidBody({ event: 'news', data: [1, 2] }), null);
  assert.equal(invalidBody({ event: 'e'.repeat(64) }), null);
  assert.match(invalidBody(null), /JSON object/);
  assert.match(invalidBody('news'), /JSON object/);
  assert.match(invalidBody({}), /non-empty string/);
  assert.match(invalidBody({ event: ['news'] }), /non-empty string/);
  assert.match(invalidBody({ event: 'e'.repeat(65) }), /at most 64/);
  for (const reserved of ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']) {
    assert.match(invalidBody({ event: reserved }), /reserved/, reserved);
  }
});

test('siblings are asked on the bind address, or loopback when the worker binds every address', () => {
  assert.equal(siblingHost('127.0.0.1'), '127.0.0.1');
  assert.equal(siblingHost('10.0.0.7'), '10.0.0.7');
  assert.equal(siblingHost('0.0.0.0'), '127.0.0.1');
  assert.equal(siblingHost('::'), '::1');
  assert.equal(siblingHost('[::1]'), '::1');
});
