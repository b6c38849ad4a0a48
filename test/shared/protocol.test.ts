import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  applyOps,
  DEFAULT_LIMITS,
  END_REASONS,
  EVENTS,
  isErrorCode,
  MUTATION_MEMORY,
  parseEnded,
  parseHello,
  parseHelloAck,
  parseMutate,
  parseMutateAck,
  parseOps,
  parsePatch,
  PROTOCOL_VERSION,
  SessionSyncError,
  utf8Length,
  type ErrorCode,
  type Limits,
  type Parsed,
} from '../../src/shared/index.js';
import { jsonAny, jsonObject } from '../support/json-arbitraries.js';

/** Asserts a guard refused with `code`. */
function refused(result: Parsed<unknown>, code: ErrorCode, why = ''): void {
  assert.is(result.ok, false, `accepted: ${why}`);
  if (result.ok) return;
  assert.is(result.code, code, `${why}: ${result.message}`);
  assert.type(result.message, 'string');
  assert.ok(result.message.length > 0);
}

/** Asserts a guard accepted and returns the value. */
function accepted<T>(result: Parsed<T>, why = ''): T {
  if (!result.ok) assert.unreachable(`refused ${why}: ${result.code} ${result.message}`);
  return (result as { ok: true; value: T }).value;
}

/** `{ a: { a: … 1 } }` with `levels` objects. */
function nested(levels: number, leaf: unknown = 1): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

/** `[[ … leaf ]]` with `levels` arrays. */
function nestedArrays(levels: number, leaf: unknown = 1): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

const keys = (n: number): string[] => Array.from({ length: n }, (_, i) => `k${i}`);
const set = (path: string[], value: unknown = 1) => ({ op: 'set', path, value });
const limits = (patch: Partial<Limits>): Limits => ({ ...DEFAULT_LIMITS, ...patch });

// ---

const constants = suite('the protocol constants are as PROTOCOL.md says');

constants('event names, version, reasons, limits, mutation memory', () => {
  assert.equal(EVENTS, {
    hello: 'session:hello',
    patch: 'session:patch',
    mutate: 'session:mutate',
    ended: 'session:ended',
  });
  assert.ok(Number.isSafeInteger(PROTOCOL_VERSION) && PROTOCOL_VERSION >= 1);
  assert.equal([...END_REASONS], ['destroyed', 'regenerated', 'expired', 'evicted']);
  assert.equal({ ...DEFAULT_LIMITS }, { depth: 32, ops: 100, keyLength: 256, size: 65536, mutationId: 64 });
  assert.ok(Object.isFrozen(DEFAULT_LIMITS));
  assert.is(MUTATION_MEMORY, 256);
});

constants.run();

// ---

const ops = suite('parseOps accepts well-formed set and del ops');

ops('set and del, with the fields copied out', () => {
  const input = [set(['prefs', 'theme'], 'dark'), { op: 'del', path: ['draft'] }, set(['list'], [1, { a: null }])];
  const value = accepted(parseOps(input));
  assert.equal(value, input);
  assert.is.not(value[0]!.path, input[0]!.path);
});

ops('an empty list (a change that does nothing)', () => {
  assert.equal(accepted(parseOps([])), []);
});

ops('extra fields on a set op are dropped', () => {
  assert.equal(accepted(parseOps([{ op: 'set', path: ['a'], value: 1, junk: true }])), [set(['a'], 1)]);
});

ops('empty keys, in paths and in values, and keys that only look dangerous', () => {
  accepted(parseOps([set(['', 'x'], { '': 1, toString: 2, __proto: 3, hasOwnProperty: 4 })]));
});

ops('every JSON value as a set value', () => {
  fc.assert(
    fc.property(jsonAny, (value) => {
      accepted(parseOps([set(['v'], value)]), JSON.stringify(value));
    }),
    { numRuns: 300 },
  );
});

ops.run();

// ---

const badOps = suite('parseOps refuses malformed ops as invalid');

badOps('not an array, or an op that is not an object', () => {
  for (const input of [undefined, null, {}, 'ops', 1, { 0: set(['a']), length: 1 }])
    refused(parseOps(input), 'invalid', String(input));
  for (const op of [null, 1, 'set', [], [set(['a'])], new Date()]) refused(parseOps([op]), 'invalid', String(op));
});

badOps('an unknown op kind, even one whose toString would throw', () => {
  for (const kind of [
    undefined,
    'SET',
    'put',
    'replace',
    1,
    null,
    {},
    Object.create(null),
    { toString: 1 },
    Symbol('set'),
  ]) {
    refused(parseOps([{ op: kind, path: ['a'], value: 1 }]), 'invalid', String(typeof kind));
  }
});

badOps('a missing, empty or malformed path', () => {
  for (const path of [undefined, null, 'a.b', [], {}, ['a', 1], ['a', null], [['a']], [{ toString: 'a' }]]) {
    refused(parseOps([{ op: 'set', path, value: 1 }]), 'invalid', JSON.stringify(path));
    refused(parseOps([{ op: 'del', path }]), 'invalid', JSON.stringify(path));
  }
  // eslint-disable-next-line no-sparse-arrays
  refused(parseOps([{ op: 'del', path: ['a', , 'b'] }]), 'invalid', 'a hole in a path');
});

badOps('forbidden keys in a path', () => {
  for (const key of ['__proto__', 'prototype', 'constructor']) {
    refused(parseOps([set(['a', key, 'polluted'], true)]), 'invalid', key);
    refused(parseOps([{ op: 'del', path: [key] }]), 'invalid', key);
  }
});

badOps('forbidden keys inside a set value, as own keys from JSON.parse', () => {
  for (const text of [
    '{"__proto__":{"polluted":true}}',
    '{"a":{"constructor":{"prototype":{"polluted":true}}}}',
    '[{"prototype":1}]',
  ]) {
    refused(parseOps([set(['v'], JSON.parse(text))]), 'invalid', text);
    refused(parseOps(JSON.parse(`[{"op":"set","path":["v"],"value":${text}}]`)), 'invalid', text);
  }
  assert.is(({} as { polluted?: unknown }).polluted, undefined);
});

badOps('a set without a value, or with a value that is not JSON', () => {
  refused(parseOps([{ op: 'set', path: ['a'] }]), 'invalid', 'no value');
  for (const value of [
    undefined,
    NaN,
    Infinity,
    -Infinity,
    new Date(),
    new Map(),
    new Set(),
    () => 1,
    1n,
    Symbol('x'),
    new (class X {})(),
  ]) {
    refused(parseOps([{ op: 'set', path: ['a'], value }]), 'invalid', String(typeof value));
    refused(parseOps([set(['a'], { deep: [value] })]), 'invalid', `deep ${String(typeof value)}`);
  }
  // eslint-disable-next-line no-sparse-arrays
  refused(parseOps([set(['a'], [1, , 3])]), 'invalid', 'a sparse array');
});

badOps('a del with anything but op and path', () => {
  refused(parseOps([{ op: 'del', path: ['a'], value: 1 }]), 'invalid');
});

badOps('one bad op refuses the whole list', () => {
  refused(parseOps([set(['a']), set(['b']), { op: 'del' }]), 'invalid');
});

badOps.run();

// ---

const bounds = suite('parseOps enforces every limit at its boundary: the limit passes, one more is too_large');

bounds('100 ops', () => {
  accepted(parseOps(Array.from({ length: 100 }, (_, i) => set([`k${i}`]))));
  refused(parseOps(Array.from({ length: 101 }, (_, i) => set([`k${i}`]))), 'too_large', '101 ops');
  refused(parseOps(new Array(1e9)), 'too_large', 'a sparse array of a billion ops');
});

bounds('256-character keys, in paths and inside values', () => {
  const ok = 'k'.repeat(256);
  const long = 'k'.repeat(257);
  accepted(parseOps([set([ok])]));
  accepted(parseOps([set(['a'], { [ok]: 1 })]));
  accepted(parseOps([{ op: 'del', path: ['a', ok] }]));
  refused(parseOps([set([long])]), 'too_large', 'long key in a path');
  refused(parseOps([set(['a'], { [long]: 1 })]), 'too_large', 'long key in a value');
  refused(parseOps([{ op: 'del', path: ['a', long] }]), 'too_large', 'long key in a del');
});

bounds('32 levels of path', () => {
  accepted(parseOps([set(keys(32))]));
  accepted(parseOps([{ op: 'del', path: keys(32) }]));
  refused(parseOps([set(keys(33))]), 'too_large', '33 keys');
  refused(parseOps([{ op: 'del', path: keys(33) }]), 'too_large', '33 keys in a del');
});

bounds('32 levels counting the levels inside a set value', () => {
  // The leaf of set(['x'], nested(31)) sits under 1 + 31 = 32 keys.
  accepted(parseOps([set(['x'], nested(31))]));
  refused(parseOps([set(['x'], nested(32))]), 'too_large', 'leaf at 33');
  accepted(parseOps([set(keys(31), { a: 1 })]));
  refused(parseOps([set(keys(32), { a: 1 })]), 'too_large', '32 keys + 1 inside the value');
  accepted(parseOps([set(keys(32), {})]), 'an empty object at level 32 has nothing at 33');
  // Array elements count as levels too.
  accepted(parseOps([set(['x'], nestedArrays(31))]));
  refused(parseOps([set(['x'], nestedArrays(32))]), 'too_large', 'arrays 33 deep');
});

bounds('64 KiB of set values, measured exactly as JSON.stringify writes them', () => {
  const size = DEFAULT_LIMITS.size;
  accepted(parseOps([set(['s'], 'x'.repeat(size - 2))]), 'a 65536-byte string literal');
  refused(parseOps([set(['s'], 'x'.repeat(size - 1))]), 'too_large', 'a 65537-byte string literal');
  // Two bytes per 'é', six per escaped control character: UTF-8 bytes of the JSON text count.
  accepted(parseOps([set(['s'], 'é'.repeat((size - 2) / 2))]));
  refused(parseOps([set(['s'], 'é'.repeat((size - 2) / 2) + 'x')]), 'too_large', 'multi-byte');
  // 10,000 × 6 + 5,534 + 2 quotes = 65,536.
  accepted(parseOps([set(['s'], '\u0001'.repeat(10_000) + 'x'.repeat(5_534))]));
  refused(parseOps([set(['s'], '\u0001'.repeat(10_000) + 'x'.repeat(5_535))]), 'too_large', 'escapes');
  // The budget is for the whole change, not per op.
  const half = 'x'.repeat(size / 2 - 2);
  accepted(parseOps([set(['a'], half), set(['b'], half)]));
  refused(parseOps([set(['a'], half), set(['b'], half + 'x')]), 'too_large', 'two ops together');
  refused(parseOps([set(['big'], new Array(1e6).fill(0))]), 'too_large', 'a million numbers');
});

bounds('the size of any JSON value is exact: its own size passes, one byte less is too_large', () => {
  fc.assert(
    fc.property(jsonAny, (value) => {
      const bytes = utf8Length(JSON.stringify(value));
      accepted(parseOps([set(['v'], value)], limits({ size: bytes })), `${bytes} bytes`);
      refused(parseOps([set(['v'], value)], limits({ size: bytes - 1 })), 'too_large', `${bytes} bytes`);
    }),
    { numRuns: 400 },
  );
});

bounds('limits passed in replace the defaults', () => {
  const tight = limits({ ops: 1, keyLength: 2, depth: 2, size: 10 });
  accepted(parseOps([set(['ab', 'cd'], 'xxxxxxxx')], tight));
  refused(parseOps([set(['a']), set(['b'])], tight), 'too_large', 'ops');
  refused(parseOps([set(['abc'])], tight), 'too_large', 'key');
  refused(parseOps([set(['a', 'b', 'c'])], tight), 'too_large', 'depth');
  refused(parseOps([set(['a'], 'x'.repeat(9))], tight), 'too_large', 'size');
});

bounds.run();

// ---

const hello = suite('parseHello guards session:hello');

hello('the protocol alone, with a version, with a tag or a null tag', () => {
  assert.equal(accepted(parseHello({ protocol: PROTOCOL_VERSION })), { protocol: PROTOCOL_VERSION });
  assert.equal(accepted(parseHello({ protocol: PROTOCOL_VERSION, version: 0 })), {
    protocol: PROTOCOL_VERSION,
    version: 0,
  });
  assert.equal(accepted(parseHello({ protocol: PROTOCOL_VERSION, version: 12, tag: 'A'.repeat(22) })), {
    protocol: PROTOCOL_VERSION,
    version: 12,
    tag: 'A'.repeat(22),
  });
  assert.equal(accepted(parseHello({ protocol: PROTOCOL_VERSION, tag: null })), {
    protocol: PROTOCOL_VERSION,
    tag: null,
  });
  accepted(parseHello({ protocol: PROTOCOL_VERSION, tag: 't'.repeat(64) }));
});

hello('unknown fields are dropped', () => {
  assert.equal(accepted(parseHello({ protocol: PROTOCOL_VERSION, data: { a: 1 }, __x: 1 })), {
    protocol: PROTOCOL_VERSION,
  });
});

hello('another protocol number is unsupported_protocol', () => {
  for (const protocol of [0, PROTOCOL_VERSION + 1, PROTOCOL_VERSION - 0.5, -1, NaN, Infinity]) {
    refused(parseHello({ protocol }), 'unsupported_protocol', String(protocol));
  }
});

hello('a missing or non-number protocol is invalid', () => {
  for (const protocol of [undefined, null, String(PROTOCOL_VERSION), [PROTOCOL_VERSION], { valueOf: () => 1 }]) {
    refused(parseHello({ protocol }), 'invalid', String(protocol));
  }
});

hello('a bad version or tag is invalid', () => {
  for (const version of [-1, 1.5, '3', null, NaN, Number.MAX_SAFE_INTEGER + 1, {}]) {
    refused(parseHello({ protocol: PROTOCOL_VERSION, version }), 'invalid', String(version));
  }
  for (const tag of [1, {}, [], true, 't'.repeat(65)]) {
    refused(parseHello({ protocol: PROTOCOL_VERSION, tag }), 'invalid', String(tag));
  }
});

hello('anything but a plain object is invalid', () => {
  for (const input of [undefined, null, 1, 'hello', [], [{ protocol: PROTOCOL_VERSION }], new Date()]) {
    refused(parseHello(input), 'invalid', String(input));
  }
});

hello.run();

// ---

const mutate = suite('parseMutate guards session:mutate');

mutate('a mutation id, a base and ops', () => {
  const message = { mutation: 'm-1', base: 4, ops: [set(['prefs', 'theme'], 'dark'), { op: 'del', path: ['draft'] }] };
  assert.equal(accepted(parseMutate(message)), message);
});

mutate('a stale or zero base is not refused (it is for rebasing only)', () => {
  accepted(parseMutate({ mutation: 'm', base: 0, ops: [] }));
  accepted(parseMutate({ mutation: 'm', base: 1, ops: [set(['a'])] }));
});

mutate('mutation ids are opaque strings of 1 to 64 characters', () => {
  accepted(parseMutate({ mutation: 'x'.repeat(64), base: 1, ops: [] }));
  accepted(parseMutate({ mutation: '🙂 any text', base: 1, ops: [] }));
  refused(parseMutate({ mutation: 'x'.repeat(65), base: 1, ops: [] }), 'too_large', '65 characters');
  refused(parseMutate({ mutation: '', base: 1, ops: [] }), 'invalid', 'empty');
  for (const mutation of [undefined, null, 1, ['m'], { id: 'm' }]) {
    refused(parseMutate({ mutation, base: 1, ops: [] }), 'invalid', String(mutation));
  }
  refused(
    parseMutate({ mutation: 'x'.repeat(9), base: 1, ops: [] }, limits({ mutationId: 8 })),
    'too_large',
    'custom limit',
  );
});

mutate('a missing or malformed base is invalid', () => {
  for (const base of [undefined, null, -1, 2.5, '2', NaN])
    refused(parseMutate({ mutation: 'm', base, ops: [] }), 'invalid', String(base));
});

mutate('the ops are checked with the same limits and codes as parseOps', () => {
  refused(parseMutate({ mutation: 'm', base: 1 }), 'invalid', 'no ops');
  refused(parseMutate({ mutation: 'm', base: 1, ops: [set(['__proto__', 'x'])] }), 'invalid', 'forbidden');
  refused(
    parseMutate({ mutation: 'm', base: 1, ops: Array.from({ length: 101 }, () => set(['a'])) }),
    'too_large',
    '101 ops',
  );
  refused(parseMutate({ mutation: 'm', base: 1, ops: [set(keys(33))] }), 'too_large', 'depth');
  refused(
    parseMutate({ mutation: 'm', base: 1, ops: [set(['a'])] }, limits({ ops: 0 })),
    'too_large',
    'custom ops limit',
  );
});

mutate('anything but a plain object is invalid', () => {
  for (const input of [undefined, null, 'm', [], 0]) refused(parseMutate(input), 'invalid', String(input));
});

mutate.run();

// ---

const patch = suite('parsePatch guards session:patch');

patch('version, base and ops, with or without the mutation id', () => {
  assert.equal(accepted(parsePatch({ version: 5, base: 4, ops: [] })), { version: 5, base: 4, ops: [] });
  assert.equal(accepted(parsePatch({ version: 1, base: 0, ops: [set(['a'])], mutation: 'm1' })), {
    version: 1,
    base: 0,
    ops: [set(['a'])],
    mutation: 'm1',
  });
});

patch('a patch may carry more than 100 ops (a whole session) but not more than the size', () => {
  accepted(parsePatch({ version: 2, base: 1, ops: Array.from({ length: 500 }, (_, i) => set([`k${i}`])) }));
  refused(parsePatch({ version: 2, base: 1, ops: [set(['s'], 'x'.repeat(DEFAULT_LIMITS.size))] }), 'too_large', 'size');
});

patch('versions must be integers with base below version', () => {
  for (const [version, base] of [
    [5, 5],
    [4, 5],
    [-1, -2],
    [1.5, 0],
    ['2', 1],
    [undefined, 1],
    [2, undefined],
  ]) {
    refused(parsePatch({ version, base, ops: [] }), 'invalid', `${version}/${base}`);
  }
});

patch('a malformed mutation id or bad ops are invalid', () => {
  for (const mutation of [1, null, 'x'.repeat(65), {}])
    refused(parsePatch({ version: 2, base: 1, ops: [], mutation }), 'invalid', String(mutation));
  refused(parsePatch({ version: 2, base: 1 }), 'invalid', 'no ops');
  refused(parsePatch({ version: 2, base: 1, ops: [set(['constructor'])] }), 'invalid', 'forbidden key');
  for (const input of [null, [], 'patch']) refused(parsePatch(input), 'invalid', String(input));
});

patch.run();

// ---

const ended = suite('parseEnded guards session:ended');

ended('the four reasons', () => {
  for (const reason of ['destroyed', 'regenerated', 'expired', 'evicted']) {
    assert.equal(accepted(parseEnded({ reason })), { reason });
  }
});

ended('any other reason or shape is invalid', () => {
  for (const input of [
    {},
    { reason: 'logout' },
    { reason: 'DESTROYED' },
    { reason: null },
    { reason: ['destroyed'] },
    'destroyed',
    null,
    [],
  ]) {
    refused(parseEnded(input), 'invalid', JSON.stringify(input));
  }
});

ended.run();

// ---

const helloAck = suite('parseHelloAck reads the four answers to session:hello');

helloAck('a snapshot', () => {
  const ack = {
    ok: true,
    version: 3,
    tag: 'T',
    epoch: 1_700_000_000_000,
    expiresIn: 86_400_000,
    data: { a: [1], b: { c: null } },
  };
  assert.equal(accepted(parseHelloAck(ack)), ack);
  // An older server sends no epoch or expiresIn: they read as null.
  assert.equal(accepted(parseHelloAck({ ok: true, version: 0, tag: null, data: {} })), {
    ok: true,
    version: 0,
    tag: null,
    epoch: null,
    expiresIn: null,
    data: {},
  });
});

helloAck('the missed patches', () => {
  const ack = {
    ok: true,
    version: 7,
    tag: 'T',
    epoch: 5,
    expiresIn: 1000,
    patches: [
      { version: 6, base: 5, ops: [] },
      { version: 7, base: 6, ops: [set(['a'])], mutation: 'm' },
    ],
  };
  assert.equal(accepted(parseHelloAck(ack)), ack);
  assert.equal(accepted(parseHelloAck({ ok: true, version: 7, tag: 'T', patches: [] })), {
    ok: true,
    version: 7,
    tag: 'T',
    epoch: null,
    expiresIn: null,
    patches: [],
  });
});

helloAck('unchanged', () => {
  assert.equal(accepted(parseHelloAck({ ok: true, version: 7, tag: 'T', epoch: 5, expiresIn: 0, unchanged: true })), {
    ok: true,
    version: 7,
    tag: 'T',
    epoch: 5,
    expiresIn: 0,
    unchanged: true,
  });
});

helloAck('a refusal, with an unknown code read as internal', () => {
  assert.equal(accepted(parseHelloAck({ ok: false, code: 'unsupported_protocol', message: 'speak 1' })), {
    ok: false,
    code: 'unsupported_protocol',
    message: 'speak 1',
  });
  assert.equal(accepted(parseHelloAck({ ok: false, code: 'toString' })), {
    ok: false,
    code: 'internal',
    message: 'refused',
  });
  assert.equal(accepted(parseHelloAck({ ok: false, code: 42, message: 7 })), {
    ok: false,
    code: 'internal',
    message: 'refused',
  });
});

helloAck('malformed answers are invalid', () => {
  for (const input of [
    null,
    [],
    {},
    { ok: 'true', version: 1, tag: 'T', unchanged: true },
    { ok: true, tag: 'T', unchanged: true },
    { ok: true, version: -1, tag: 'T', unchanged: true },
    { ok: true, version: 1, unchanged: true },
    { ok: true, version: 1, tag: 5, unchanged: true },
    { ok: true, version: 1, tag: 'T' },
    { ok: true, version: 1, tag: 'T', unchanged: 'yes' },
    { ok: true, version: 1, tag: 'T', data: [] },
    { ok: true, version: 1, tag: 'T', data: null },
    { ok: true, version: 1, tag: 'T', data: JSON.parse('{"__proto__":{"polluted":1}}') },
    { ok: true, version: 1, tag: 'T', data: { n: NaN } },
    { ok: true, version: 1, tag: 'T', patches: [{ version: 1, base: 1, ops: [] }] },
    { ok: true, version: 1, tag: 'T', patches: [null] },
  ]) {
    refused(parseHelloAck(input), 'invalid', JSON.stringify(input));
  }
  refused(parseHelloAck({ ok: true, version: 1, tag: 'T', data: nested(40) }), 'too_large', 'deep data');
});

helloAck.run();

// ---

const mutateAck = suite('parseMutateAck reads the two answers to session:mutate');

mutateAck('applied, and refused', () => {
  assert.equal(accepted(parseMutateAck({ ok: true, version: 9 })), { ok: true, version: 9 });
  assert.equal(accepted(parseMutateAck({ ok: false, code: 'forbidden', message: 'no' })), {
    ok: false,
    code: 'forbidden',
    message: 'no',
  });
  assert.equal(accepted(parseMutateAck({ ok: false })), { ok: false, code: 'internal', message: 'refused' });
});

mutateAck('malformed answers are invalid', () => {
  for (const input of [null, 'ok', {}, { ok: true }, { ok: true, version: '9' }, { ok: 1, version: 9 }]) {
    refused(parseMutateAck(input), 'invalid', JSON.stringify(input));
  }
});

mutateAck.run();

// ---

const GUARDS: [string, (input: unknown) => Parsed<unknown>][] = [
  ['parseHello', parseHello],
  ['parseMutate', (i) => parseMutate(i)],
  ['parsePatch', (i) => parsePatch(i)],
  ['parseEnded', parseEnded],
  ['parseHelloAck', (i) => parseHelloAck(i)],
  ['parseMutateAck', parseMutateAck],
  ['parseOps', (i) => parseOps(i)],
];

const protoNames = Object.getOwnPropertyNames(Object.prototype).sort();

/** Runs every guard on `input`: each must answer with a result, never throw. */
function allGuardsAnswer(input: unknown): void {
  for (const [name, guard] of GUARDS) {
    let result: Parsed<unknown>;
    try {
      result = guard(input);
    } catch (err) {
      assert.unreachable(`${name} threw ${(err as Error)?.message}`);
      return;
    }
    assert.type(result, 'object', name);
    assert.type(result.ok, 'boolean', name);
    if (!result.ok) {
      assert.ok(isErrorCode(result.code), `${name} gave code ${String(result.code)}`);
      assert.type(result.message, 'string', name);
    }
  }
}

/** Object.prototype has no new key, and no object grew one through it. */
function prototypeClean(): void {
  assert.is(Object.keys(Object.prototype).length, 0);
  assert.equal(Object.getOwnPropertyNames(Object.prototype).sort(), protoNames);
  assert.is(({} as { polluted?: unknown }).polluted, undefined);
  assert.is((Object.create(null) as { polluted?: unknown }).polluted, undefined);
}

const anything = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
});

// Inputs shaped almost like real messages, so the guards get past their first checks.
const nearOp = fc.record(
  {
    op: fc.oneof(fc.constantFrom('set', 'del'), anything),
    path: fc.oneof(
      fc.array(fc.oneof(fc.constantFrom('a', '__proto__', 'constructor', 'prototype', ''), fc.string()), {
        maxLength: 4,
      }),
      anything,
    ),
    value: fc.oneof(jsonAny, anything),
  },
  { requiredKeys: ['op'] },
);
const nearMessage = fc.record(
  {
    protocol: fc.oneof(fc.constant(PROTOCOL_VERSION), anything),
    ok: fc.oneof(fc.boolean(), anything),
    version: fc.oneof(fc.nat(), anything),
    base: fc.oneof(fc.nat(), anything),
    tag: fc.oneof(fc.string(), fc.constant(null), anything),
    mutation: fc.oneof(fc.string(), anything),
    reason: fc.oneof(fc.constantFrom(...END_REASONS), anything),
    code: fc.oneof(fc.string(), anything),
    message: fc.oneof(fc.string(), anything),
    unchanged: fc.oneof(fc.boolean(), anything),
    data: fc.oneof(jsonObject, anything),
    ops: fc.oneof(fc.array(nearOp, { maxLength: 4 }), anything),
    patches: fc.oneof(
      fc.array(fc.record({ version: fc.nat(), base: fc.nat(), ops: fc.array(nearOp, { maxLength: 3 }) }), {
        maxLength: 3,
      }),
      anything,
    ),
  },
  { requiredKeys: [] },
);

const POLLUTION = [
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"protocol":1,"version":1,"tag":"t","__proto__":{"polluted":true}}',
  '{"mutation":"m","base":1,"ops":[{"op":"set","path":["__proto__","polluted"],"value":true}]}',
  '{"mutation":"m","base":1,"ops":[{"op":"set","path":["constructor","prototype","polluted"],"value":true}]}',
  '{"mutation":"m","base":1,"ops":[{"op":"set","path":["a"],"value":{"__proto__":{"polluted":true}}}]}',
  '{"mutation":"m","base":1,"ops":[{"op":"set","path":["a"],"value":[{"constructor":{"prototype":{"polluted":true}}}]}]}',
  '{"mutation":"m","base":1,"ops":[{"__proto__":{"op":"set"},"path":["a"],"value":1}]}',
  '{"mutation":"m","base":1,"ops":[{"op":"del","path":["prototype"]}]}',
  '{"version":2,"base":1,"ops":[{"op":"set","path":["__proto__"],"value":{"polluted":true}}]}',
  '{"ok":true,"version":1,"tag":"t","data":{"__proto__":{"polluted":true}}}',
  '{"ok":true,"version":1,"tag":"t","patches":[{"version":1,"base":0,"ops":[{"op":"set","path":["__proto__","polluted"],"value":true}]}]}',
  '{"ok":false,"code":"__proto__","message":"x"}',
  '{"reason":"__proto__"}',
  '[{"op":"set","path":["__proto__","polluted"],"value":true}]',
  '[{"op":"set","path":["x"],"value":{"a":{"__proto__":{"polluted":true}}}}]',
];

const garbage = suite('every guard answers, never throws, on any input, and Object.prototype stays clean');

garbage('fc.anything()', () => {
  fc.assert(fc.property(anything, allGuardsAnswer), { numRuns: 500 });
  prototypeClean();
});

garbage('near-miss messages with garbage in every field', () => {
  fc.assert(fc.property(nearMessage, allGuardsAnswer), { numRuns: 500 });
  fc.assert(fc.property(fc.array(nearOp, { maxLength: 5 }), allGuardsAnswer), { numRuns: 300 });
  prototypeClean();
});

garbage('random JSON text, parsed, so __proto__ is an own key', () => {
  fc.assert(
    fc.property(fc.json(), (text) => allGuardsAnswer(JSON.parse(text))),
    { numRuns: 300 },
  );
  prototypeClean();
});

garbage('prototype-pollution payloads built with JSON.parse are refused', () => {
  for (const text of POLLUTION) {
    const input = JSON.parse(text);
    allGuardsAnswer(input);
    const ops = parseOps(Array.isArray(input) ? input : input.ops);
    if (Array.isArray(input) || input.ops) refused(ops, 'invalid', text);
  }
  refused(parseMutate(JSON.parse(POLLUTION[3]!)), 'invalid');
  refused(parsePatch(JSON.parse(POLLUTION[9]!)), 'invalid');
  refused(parseHelloAck(JSON.parse(POLLUTION[10]!)), 'invalid');
  refused(parseHelloAck(JSON.parse(POLLUTION[11]!)), 'invalid');
  prototypeClean();
});

garbage('10,000 levels of nesting, in every place a value can hide', () => {
  const deepObject = nested(10_000);
  const deepArray = nestedArrays(10_000);
  const deepParsed = JSON.parse('{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000));
  for (const deep of [deepObject, deepArray, deepParsed]) {
    allGuardsAnswer(deep);
    allGuardsAnswer([set(['a'], deep)]);
    allGuardsAnswer({ protocol: PROTOCOL_VERSION, version: deep, tag: deep });
    allGuardsAnswer({ mutation: 'm', base: 1, ops: [set(['a'], deep)] });
    allGuardsAnswer({ version: 2, base: 1, ops: [set(['a'], deep)] });
    allGuardsAnswer({ ok: true, version: 1, tag: 't', data: deep });
    allGuardsAnswer({ ok: true, version: 1, tag: 't', patches: [{ version: 1, base: 0, ops: [set(['a'], deep)] }] });
    allGuardsAnswer({ ok: false, code: deep, message: deep });
    refused(parseOps([set(['a'], deep)]), 'too_large');
    refused(parseMutate({ mutation: 'm', base: 1, ops: [set(['a'], deep)] }), 'too_large');
    refused(parseHelloAck({ ok: true, version: 1, tag: 't', data: { d: deep } }), 'too_large');
  }
  refused(parseOps([set(keys(10_000))]), 'too_large', 'a 10,000-key path');
});

garbage('huge arrays and strings are refused without being walked', () => {
  const huge = new Array(1e7);
  allGuardsAnswer(huge);
  refused(parseOps(huge), 'too_large');
  refused(parseOps([set(['a'], huge)]), 'too_large');
  refused(parseOps([set(Array.from({ length: 1e5 }, () => 'a'))]), 'too_large');
  refused(parseOps([set(['a'], 'x'.repeat(1e7))]), 'too_large');
  refused(parseMutate({ mutation: 'x'.repeat(1e6), base: 1, ops: [] }), 'too_large');
  refused(parseHelloAck({ ok: true, version: 1, tag: 't', data: { big: huge } }), 'too_large');
  allGuardsAnswer({
    ok: true,
    version: 1,
    tag: 't',
    patches: Array.from({ length: 10_000 }, (_, i) => ({ version: i + 1, base: i, ops: [] })),
  });
  prototypeClean();
});

garbage.run();

// ---

const together = suite('ops that pass parseOps are safe to apply');

together('applyOps never throws a TypeError on accepted ops: JSON values only, no forbidden key', () => {
  fc.assert(
    fc.property(jsonObject, fc.array(nearOp, { maxLength: 5 }), (data, raw) => {
      const parsed = parseOps(raw);
      if (!parsed.ok) return;
      try {
        applyOps(data, parsed.value);
      } catch (err) {
        assert.instance(err, SessionSyncError);
        assert.is((err as SessionSyncError).code, 'invalid');
      }
    }),
    { numRuns: 500 },
  );
  prototypeClean();
});

together.run();
