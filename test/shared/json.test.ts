import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  assertJson,
  cloneJson,
  findNonJson,
  formatPath,
  isPlainObject,
  jsonEqual,
  utf8Length,
  type JsonValue,
} from '../../src/shared/index.js';

/** Asserts that assertJson throws a TypeError whose message names `path` and `problem`. */
function refuses(value: unknown, path: string, problem: RegExp): void {
  try {
    assertJson(value);
  } catch (err) {
    assert.instance(err, TypeError);
    const message = (err as Error).message;
    assert.ok(message.startsWith('session-sync: '), message);
    assert.ok(message.includes(`${path} `), `expected "${path}" in: ${message}`);
    assert.match(message, problem);
    return;
  }
  assert.unreachable(`assertJson accepted a value with a problem at ${path}`);
}

// ---

const refusing = suite('assertJson refuses what is not JSON and names its path');

refusing('a Date', () => refuses({ user: { when: new Date(0) } }, 'session.user.when', /is a Date/));
refusing('a Map', () => refuses({ m: new Map() }, 'session.m', /is a Map/));
refusing('a Set', () => refuses({ s: new Set([1]) }, 'session.s', /is a Set/));
refusing('undefined', () => refuses({ a: { b: undefined } }, 'session.a.b', /is undefined/));
refusing('a function', () => refuses({ f: () => 1 }, 'session.f', /is a function/));
refusing('NaN', () => refuses({ n: NaN }, 'session.n', /is NaN/));
refusing('Infinity', () => refuses({ n: Infinity }, 'session.n', /is Infinity/));
refusing('-Infinity', () => refuses({ n: -Infinity }, 'session.n', /is -Infinity/));
refusing('a bigint', () => refuses({ n: 10n }, 'session.n', /is a bigint/));
refusing('a symbol', () => refuses({ s: Symbol('x') }, 'session.s', /is a symbol/));
refusing('a class instance', () => {
  class Point {
    x = 1;
  }
  refuses({ p: new Point() }, 'session.p', /is a Point/);
});
refusing('a cycle', () => {
  const a: Record<string, unknown> = { b: {} };
  (a.b as Record<string, unknown>).back = a;
  refuses(a, 'session.b.back', /is a cycle/);
});
refusing('a cycle through an array', () => {
  const list: unknown[] = [1];
  list.push({ list });
  refuses({ list }, 'session.list[1].list', /is a cycle/);
});
refusing('a hole in a sparse array', () => {
  // eslint-disable-next-line no-sparse-arrays
  refuses({ list: [1, , 3] }, 'session.list[1]', /hole in a sparse array/);
});
refusing('a value inside an array', () => refuses({ list: [1, { d: new Date() }] }, 'session.list[1].d', /is a Date/));
refusing('__proto__, prototype and constructor keys', () => {
  refuses(JSON.parse('{"a":{"__proto__":{"polluted":1}}}'), 'session.a.__proto__', /forbidden key/);
  refuses({ a: { prototype: 1 } }, 'session.a.prototype', /forbidden key/);
  refuses({ constructor: 'x' }, 'session.constructor', /forbidden key/);
});
refusing('symbol keys', () => refuses({ a: { [Symbol('k')]: 1 } }, 'session.a', /symbol keys/));
refusing('an object with a foreign prototype', () => {
  refuses({ a: Object.create({ inherited: 1 }) }, 'session.a', /is an? /);
});
refusing('keys that need quoting are quoted in the path', () => {
  refuses({ 'a.b': { 'my key': NaN } }, 'session["a.b"]["my key"]', /is NaN/);
});
refusing('the path argument prefixes the path in the message', () => {
  try {
    assertJson({ x: undefined }, ['prefs', 'theme']);
    assert.unreachable('accepted undefined');
  } catch (err) {
    assert.match((err as Error).message, /^session-sync: session\.prefs\.theme\.x is undefined/);
  }
});

refusing.run();

// ---

const accepting = suite('assertJson accepts every JSON value');

accepting('plain objects, arrays, strings, finite numbers, booleans, null, -0', () => {
  assertJson({
    s: 'x',
    n: -1.5e300,
    z: -0,
    t: true,
    f: false,
    nil: null,
    list: [[], {}, [1, 'a']],
    o: { deep: { er: {} } },
  });
  assertJson([]);
  assertJson('top-level primitive');
  assertJson(Object.create(null));
});

accepting('the same object twice (a DAG, not a cycle)', () => {
  const shared = { a: 1 };
  assertJson({ x: shared, y: shared, list: [shared, shared] });
});

accepting('empty keys and keys that merely look dangerous', () => {
  assertJson({ '': 1, __proto: 2, proto: 3, Constructor: 4, toString: 'x', hasOwnProperty: 5 });
});

accepting('random JSON values', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const json = JSON.parse(JSON.stringify(value)) as JsonValue;
      const hasForbidden = /"(__proto__|prototype|constructor)":/.test(JSON.stringify(json));
      if (hasForbidden) assert.ok(findNonJson(json));
      else assertJson(json);
    }),
    { numRuns: 300 },
  );
});

accepting('a value 100,000 levels deep, without a RangeError; a problem at the bottom is still named', () => {
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = i % 2 ? { a: deep } : [deep];
  assertJson({ deep });
  let bad: unknown = new Date(0);
  for (let i = 0; i < 10_000; i++) bad = { a: bad };
  const found = findNonJson({ bad });
  assert.is(found?.path.length, 10_001);
  assert.is(found?.problem, 'is a Date');
});

accepting.run();

// ---

const plain = suite('isPlainObject tells plain objects from everything else');

plain('plain and null-prototype objects', () => {
  assert.ok(isPlainObject({}));
  assert.ok(isPlainObject(Object.create(null)));
  assert.ok(isPlainObject(JSON.parse('{"__proto__":1}')));
});

plain('arrays, null, primitives, class instances', () => {
  for (const v of [[], null, undefined, 1, 'x', true, new Date(), new Map(), new (class A {})(), () => 1]) {
    assert.not.ok(isPlainObject(v), String(v));
  }
});

plain.run();

// ---

const equal = suite('jsonEqual compares JSON deeply, ignoring key order');

equal('equal values', () => {
  assert.ok(jsonEqual({ a: [1, { b: null }], c: 'x' }, { c: 'x', a: [1, { b: null }] }));
  assert.ok(jsonEqual(0, -0));
  assert.ok(jsonEqual([], []));
  assert.ok(jsonEqual({}, Object.create(null)));
});

equal('different values', () => {
  assert.not.ok(jsonEqual({ a: 1 }, { a: 2 }));
  assert.not.ok(jsonEqual({ a: 1 }, { a: 1, b: 1 }));
  assert.not.ok(jsonEqual({ a: 1, b: 1 }, { a: 1, c: 1 }));
  assert.not.ok(jsonEqual([1, 2], [2, 1]));
  assert.not.ok(jsonEqual([1], [1, 1]));
  assert.not.ok(jsonEqual([], {}));
  assert.not.ok(jsonEqual({}, []));
  assert.not.ok(jsonEqual(null, {}));
  assert.not.ok(jsonEqual('1', 1));
});

equal('a Date or Map equals nothing, not even an empty object', () => {
  assert.not.ok(jsonEqual(new Date(0), {}));
  assert.not.ok(jsonEqual({}, new Map()));
});

equal('agrees with JSON text of key-sorted values', () => {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
          )
        : v;
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 }), (a, b) => {
      assert.is(jsonEqual(a, b), JSON.stringify(sorted(a)) === JSON.stringify(sorted(b)));
      assert.ok(jsonEqual(a, JSON.parse(JSON.stringify(a))));
    }),
    { numRuns: 300 },
  );
});

equal.run();

// ---

const cloning = suite('cloneJson makes a deep copy that shares nothing');

cloning('equal and disjoint', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (generated) => {
      const value = generated as JsonValue;
      const copy = cloneJson(value);
      assert.ok(jsonEqual(copy, value));
      const objects = new Set<unknown>();
      const collect = (v: unknown): void => {
        if (v && typeof v === 'object') {
          objects.add(v);
          Object.values(v).forEach(collect);
        }
      };
      collect(value);
      const check = (v: unknown): void => {
        if (v && typeof v === 'object') {
          assert.not.ok(objects.has(v), 'the copy shares an object with the input');
          Object.values(v).forEach(check);
        }
      };
      check(copy);
    }),
    { numRuns: 300 },
  );
});

cloning('an own __proto__ key stays an own key and never becomes the prototype', () => {
  const input = JSON.parse('{"a":{"__proto__":{"polluted":true}}}');
  const copy = cloneJson(input) as { a: Record<string, unknown> };
  assert.is(Object.getPrototypeOf(copy.a), Object.prototype);
  assert.equal(Object.keys(copy.a), ['__proto__']);
  assert.is((copy.a as { polluted?: unknown }).polluted, undefined);
  assert.is(({} as { polluted?: unknown }).polluted, undefined);
});

cloning.run();

// ---

const paths = suite('formatPath prints paths for messages');

paths('identifiers with dots, indexes in brackets, other keys quoted', () => {
  assert.is(formatPath([]), 'session');
  assert.is(formatPath(['prefs', 'theme']), 'session.prefs.theme');
  assert.is(formatPath(['list', 2, 'x']), 'session.list[2].x');
  assert.is(formatPath(['a b', '1x', '']), 'session["a b"]["1x"][""]');
  assert.is(formatPath(['x'], 'data'), 'data.x');
});

paths.run();

// ---

const bytes = suite('utf8Length counts the bytes TextEncoder would write');

bytes('ASCII, 2-, 3- and 4-byte characters', () => {
  assert.is(utf8Length(''), 0);
  assert.is(utf8Length('abc'), 3);
  assert.is(utf8Length('é'), 2);
  assert.is(utf8Length('€'), 3);
  assert.is(utf8Length('😀'), 4);
});

bytes('lone surrogates count as U+FFFD (3 bytes) and never swallow the next character', () => {
  assert.is(utf8Length('\ud800'), 3);
  assert.is(utf8Length('\udc00'), 3);
  assert.is(utf8Length('\ud800é'), 5);
  assert.is(utf8Length('\ud800\ud800\udc00'), 7);
});

bytes('agrees with TextEncoder on random strings', () => {
  const encoder = new TextEncoder();
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), (a, b) => {
      assert.is(utf8Length(a), encoder.encode(a).length);
      assert.is(utf8Length(b), encoder.encode(b).length);
    }),
    { numRuns: 500 },
  );
});

bytes.run();
