import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  applyOps,
  DEFAULT_LIMITS,
  isErrorCode,
  parseHelloAck,
  parseHelloAckShape,
  parseOps,
  parseOpsShape,
  parsePatch,
  parsePatchShape,
  SessionSyncError,
  type ErrorCode,
  type Parsed,
} from '../../src/shared/index.js';
import { jsonAny, jsonObject } from '../support/json-arbitraries.js';

/** Asserts a guard refused with `code`. */
function refused(result: Parsed<unknown>, code: ErrorCode, why = ''): void {
  assert.is(result.ok, false, `accepted: ${why}`);
  if (result.ok) return;
  assert.is(result.code, code, `${why}: ${result.message}`);
  assert.ok(result.message.length > 0);
}

/** Asserts a guard accepted and returns the value. */
function accepted<T>(result: Parsed<T>, why = ''): T {
  if (!result.ok) assert.unreachable(`refused ${why}: ${result.code} ${result.message}`);
  return (result as { ok: true; value: T }).value;
}

const set = (path: unknown, value: unknown = 1) => ({ op: 'set', path, value });
const nested = (levels: number, leaf: unknown = 1): unknown => {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = i % 2 ? { a: value } : [value];
  return value;
};
const big = 'x'.repeat(DEFAULT_LIMITS.size);

// ---

const lean = suite('the …Shape guards check shape and safety, not the byte size');

lean('what the exact guards refuse only for size, the shape guards accept', () => {
  refused(parseOps([set(['s'], big)]), 'too_large');
  assert.equal(accepted(parseOpsShape([set(['s'], big)])), [set(['s'], big)]);
  const patch = { version: 2, base: 1, ops: [set(['s'], big)], mutation: 'm' };
  refused(parsePatch(patch), 'too_large');
  assert.equal(accepted(parsePatchShape(patch)), patch);
  const ack = { ok: true, version: 3, tag: 'T', epoch: 1, expiresIn: 2, data: { s: big.repeat(5) } };
  refused(parseHelloAck(ack), 'too_large');
  assert.equal(accepted(parseHelloAckShape(ack)), ack);
});

lean('forbidden keys, non-JSON values, bad op shapes, bad versions and depth are refused', () => {
  const data = (d: unknown) => parseHelloAckShape({ ok: true, version: 1, tag: null, data: d });
  refused(data(JSON.parse('{"a":{"__proto__":{"polluted":true}}}')), 'invalid', '__proto__ in data');
  refused(data({ a: [1, { constructor: 1 }] }), 'invalid', 'constructor in an array');
  refused(data({ n: NaN }), 'invalid', 'NaN');
  refused(data({ n: Infinity }), 'invalid', 'Infinity');
  refused(data({ d: new Date() }), 'invalid', 'a Date');
  refused(data({ u: undefined }), 'invalid', 'undefined');
  // eslint-disable-next-line no-sparse-arrays
  refused(data({ l: [1, , 2] }), 'invalid', 'a hole');
  refused(data({ d: nested(DEFAULT_LIMITS.depth + 1) }), 'too_large', 'one level too deep');
  accepted(data({ d: nested(DEFAULT_LIMITS.depth - 1) }), 'as deep as allowed');
  refused(data({ d: nested(100_000) }), 'too_large', '100,000 levels');
  refused(parsePatchShape({ version: 2, base: 2, ops: [] }), 'invalid', 'base = version');
  refused(parsePatchShape({ version: 2.5, base: 1, ops: [] }), 'invalid', 'a fraction');
  refused(parsePatchShape({ version: 2, base: 1, ops: [set(['constructor', 'prototype'])] }), 'invalid', 'path');
  refused(parsePatchShape({ version: 2, base: 1, ops: [{ op: 'push', path: ['a'] }] }), 'invalid', 'op kind');
  refused(parsePatchShape({ version: 2, base: 1, ops: [{ op: 'set', path: ['a'] }] }), 'invalid', 'no value');
  refused(parsePatchShape({ version: 2, base: 1, ops: [{ op: 'del', path: [] }] }), 'invalid', 'empty path');
  refused(parseOpsShape([set(['a', 1])]), 'invalid', 'a number key');
  refused(parseHelloAckShape({ ok: true, version: -1, tag: null, unchanged: true }), 'invalid', 'a negative version');
  refused(
    parseHelloAckShape({
      ok: true,
      version: 2,
      tag: 'T',
      patches: [{ version: 2, base: 1, ops: [set(['__proto__'])] }],
    }),
    'invalid',
    'a bad patch inside the ack',
  );
});

lean('on every input the shape guard agrees with the exact guard, except for size', () => {
  const input = fc.oneof(
    fc.array(
      fc.record({
        op: fc.constantFrom('set', 'del', 'x'),
        path: fc.array(fc.string(), { maxLength: 3 }),
        value: jsonAny,
      }),
    ),
    fc.anything({ withBigInt: true, withDate: true, withMap: true, withSparseArray: true, withNullPrototype: true }),
  );
  fc.assert(
    fc.property(input, (raw) => {
      const exact = parseOps(raw);
      const shape = parseOpsShape(raw);
      if (exact.ok || exact.code !== 'too_large' || shape.ok) assert.equal(shape, exact);
      if (!shape.ok) assert.ok(isErrorCode(shape.code));
    }),
    { numRuns: 500 },
  );
});

lean('accepted ops apply without a TypeError', () => {
  fc.assert(
    fc.property(
      jsonObject,
      fc.array(
        fc.record({
          op: fc.constantFrom('set', 'del'),
          path: fc.array(fc.string(), { minLength: 1, maxLength: 3 }),
          value: jsonAny,
        }),
      ),
      (data, raw) => {
        const parsed = parseOpsShape(raw);
        if (!parsed.ok) return;
        try {
          applyOps(data, parsed.value);
        } catch (err) {
          assert.instance(err, SessionSyncError);
        }
      },
    ),
    { numRuns: 300 },
  );
});

lean.run();
