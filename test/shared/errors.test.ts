import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ERROR_CODES, HTTP_STATUS, isErrorCode, SessionSyncError } from '../../src/shared/index.js';

// ---

const codes = suite('error codes are a closed set, the same over HTTP and sockets');

codes('the documented codes are all there, each once', () => {
  for (const code of [
    'forbidden',
    'invalid',
    'too_large',
    'rate_limited',
    'unauthenticated',
    'unsupported_protocol',
    'store_unavailable',
  ]) {
    assert.ok(ERROR_CODES.includes(code as (typeof ERROR_CODES)[number]), code);
  }
  assert.is(new Set(ERROR_CODES).size, ERROR_CODES.length);
});

codes('every code has an HTTP status, and no status is given to an unknown code', () => {
  assert.equal(Object.keys(HTTP_STATUS).sort(), [...ERROR_CODES].sort());
  assert.equal(HTTP_STATUS, {
    invalid: 400,
    forbidden: 403,
    too_large: 413,
    rate_limited: 429,
    unauthenticated: 401,
    unsupported_protocol: 400,
    store_unavailable: 503,
    ended: 410,
    internal: 500,
  });
});

codes('isErrorCode accepts members only', () => {
  for (const code of ERROR_CODES) assert.ok(isErrorCode(code), code);
  for (const other of ['', 'INVALID', 'toString', '__proto__', 'constructor', 400, null, undefined, {}, ['invalid']]) {
    assert.not.ok(isErrorCode(other), String(other));
  }
});

codes.run();

// ---

const error = suite('SessionSyncError carries a code and the matching HTTP status');

error('an Error with name, code, status, statusCode and expose', () => {
  const err = new SessionSyncError('store_unavailable', 'the store is down');
  assert.instance(err, Error);
  assert.instance(err, SessionSyncError);
  assert.is(err.name, 'SessionSyncError');
  assert.is(err.message, 'the store is down');
  assert.is(err.code, 'store_unavailable');
  assert.is(err.status, 503);
  assert.is(err.statusCode, 503);
  assert.is(err.expose, true);
  assert.ok(err.stack?.includes('SessionSyncError'));
});

error('every code gives its own status', () => {
  for (const code of ERROR_CODES) {
    const err = new SessionSyncError(code, code);
    assert.is(err.status, HTTP_STATUS[code], code);
    assert.is(err.statusCode, HTTP_STATUS[code], code);
  }
});

error('keeps the cause', () => {
  const cause = new Error('ECONNREFUSED');
  assert.is(new SessionSyncError('store_unavailable', 'down', { cause }).cause, cause);
});

error.run();
