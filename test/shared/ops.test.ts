import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  applyOps,
  diff,
  jsonEqual,
  SessionSyncError,
  type JsonObject,
  type JsonValue,
  type Op,
} from '../../src/shared/index.js';
import { deepFreeze, jsonObject, opsOn } from '../support/json-arbitraries.js';

/** Asserts that applying `ops` to `data` throws a SessionSyncError `invalid` naming `path`. */
function invalid(data: JsonObject, ops: Op[], path: string): void {
  try {
    applyOps(data, ops);
  } catch (err) {
    assert.instance(err, SessionSyncError);
    assert.is((err as SessionSyncError).code, 'invalid');
    assert.is((err as SessionSyncError).status, 400);
    assert.ok((err as Error).message.includes(path), `expected "${path}" in: ${(err as Error).message}`);
    return;
  }
  assert.unreachable('applyOps accepted an invalid op');
}

// ---

const setting = suite('set writes a value, creating missing parent objects');

setting('a new top-level key', () => {
  const out = applyOps({ a: 1 }, [{ op: 'set', path: ['b'], value: 2 }]);
  assert.equal(out, { data: { a: 1, b: 2 }, changed: true });
});

setting('missing parents are created', () => {
  const out = applyOps({}, [{ op: 'set', path: ['prefs', 'ui', 'theme'], value: 'dark' }]);
  assert.equal(out.data, { prefs: { ui: { theme: 'dark' } } });
  assert.ok(out.changed);
});

setting('an existing object is extended, its siblings kept', () => {
  const out = applyOps({ prefs: { lang: 'en' }, other: [1] }, [{ op: 'set', path: ['prefs', 'theme'], value: 'dark' }]);
  assert.equal(out.data, { prefs: { lang: 'en', theme: 'dark' }, other: [1] });
});

setting('a replaced key keeps its place in key order', () => {
  const out = applyOps({ a: 1, b: 2, c: 3 }, [{ op: 'set', path: ['b'], value: 20 }]);
  assert.equal(Object.keys(out.data), ['a', 'b', 'c']);
});

setting('an object may be replaced by a primitive and back', () => {
  let out = applyOps({ a: { b: 1 } }, [{ op: 'set', path: ['a'], value: 5 }]);
  assert.equal(out.data, { a: 5 });
  out = applyOps(out.data, [{ op: 'set', path: ['a'], value: { c: [] } }]);
  assert.equal(out.data, { a: { c: [] } });
});

setting('arrays are values: set whole, never merged', () => {
  const out = applyOps({ list: [1, 2, 3] }, [{ op: 'set', path: ['list'], value: [3] }]);
  assert.equal(out.data, { list: [3] });
  assert.ok(out.changed);
});

setting('the stored value is a copy: later changes to the caller object do not leak in', () => {
  const value = { deep: { n: 1 }, list: [1] };
  const out = applyOps({}, [{ op: 'set', path: ['v'], value }]);
  value.deep.n = 2;
  value.list.push(2);
  assert.equal(out.data, { v: { deep: { n: 1 }, list: [1] } });
});

setting('ops apply in order: a later write to the same path wins', () => {
  const out = applyOps({}, [
    { op: 'set', path: ['a'], value: 1 },
    { op: 'set', path: ['a'], value: { b: 2 } },
    { op: 'set', path: ['a', 'c'], value: 3 },
  ]);
  assert.equal(out.data, { a: { b: 2, c: 3 } });
});

setting('an empty key is a key like any other', () => {
  const out = applyOps({}, [{ op: 'set', path: ['', 'x'], value: true }]);
  assert.equal(out.data, { '': { x: true } });
});

setting.run();

// ---

const refusing = suite('paths through arrays or primitives are invalid');

refusing('set through an array', () =>
  invalid({ list: [{ a: 1 }] }, [{ op: 'set', path: ['list', '0', 'a'], value: 2 }], 'session.list'),
);
refusing('set through a string', () =>
  invalid({ a: 'text' }, [{ op: 'set', path: ['a', 'length'], value: 2 }], 'session.a'),
);
refusing('set through a number deep down', () =>
  invalid({ a: { b: 1 } }, [{ op: 'set', path: ['a', 'b', 'c'], value: 2 }], 'session.a.b'),
);
refusing('set through null', () => invalid({ a: null }, [{ op: 'set', path: ['a', 'b'], value: 2 }], 'session.a'));
refusing('set through false', () => invalid({ a: false }, [{ op: 'set', path: ['a', 'b'], value: 2 }], 'session.a'));
refusing('del through an array', () =>
  invalid({ list: [{ a: 1 }] }, [{ op: 'del', path: ['list', '0'] }], 'session.list'),
);
refusing('an empty path, for set and for del', () => {
  invalid({ a: 1 }, [{ op: 'set', path: [], value: {} }], 'session');
  invalid({ a: 1 }, [{ op: 'del', path: [] }], 'session');
});
refusing('forbidden keys anywhere in a path', () => {
  invalid({}, [{ op: 'set', path: ['__proto__', 'polluted'], value: true }], '__proto__');
  invalid({ a: {} }, [{ op: 'set', path: ['a', 'constructor'], value: 1 }], 'constructor');
  invalid({}, [{ op: 'del', path: ['prototype'] }], 'prototype');
  assert.is(({} as { polluted?: unknown }).polluted, undefined);
});
refusing('one bad op refuses the whole change and leaves the input as it was', () => {
  const data = deepFreeze({ a: 1, list: [1] });
  invalid(
    data,
    [
      { op: 'set', path: ['b'], value: 2 },
      { op: 'set', path: ['list', 'x'], value: 1 },
    ],
    'session.list',
  );
  assert.equal(data, { a: 1, list: [1] });
});

refusing.run();

// ---

const values = suite('set values that are not JSON are a TypeError naming the path');

for (const [name, value, problem] of [
  ['undefined (never a silent delete)', undefined, /is undefined/],
  ['a Date (never stored as {})', new Date(0), /is a Date/],
  ['NaN', NaN, /is NaN/],
  ['a function', () => 1, /is a function/],
] as const) {
  values(name, () => {
    try {
      applyOps({ prefs: { when: 1 } }, [{ op: 'set', path: ['prefs', 'when'], value: value as unknown as JsonValue }]);
      assert.unreachable('accepted a non-JSON value');
    } catch (err) {
      assert.instance(err, TypeError);
      assert.match((err as Error).message, /session\.prefs\.when/);
      assert.match((err as Error).message, problem);
    }
  });
}

values('a forbidden key inside a value', () => {
  try {
    applyOps({}, [{ op: 'set', path: ['a'], value: JSON.parse('{"__proto__":{"polluted":1}}') }]);
    assert.unreachable('accepted __proto__ in a value');
  } catch (err) {
    assert.instance(err, TypeError);
    assert.match((err as Error).message, /session\.a\.__proto__ uses a forbidden key/);
  }
  assert.is(({} as { polluted?: unknown }).polluted, undefined);
});

values.run();

// ---

const deleting = suite('del removes a key; deleting what is not there is a no-op');

deleting('an existing key', () => {
  const out = applyOps({ a: 1, b: { c: 2, d: 3 } }, [{ op: 'del', path: ['b', 'c'] }]);
  assert.equal(out, { data: { a: 1, b: { d: 3 } }, changed: true });
});

deleting('a whole branch', () => {
  assert.equal(applyOps({ a: 1, b: { c: 2 } }, [{ op: 'del', path: ['b'] }]).data, { a: 1 });
});

deleting('the parent object stays, even when emptied', () => {
  assert.equal(applyOps({ b: { c: 2 } }, [{ op: 'del', path: ['b', 'c'] }]).data, { b: {} });
});

deleting('a missing key, a missing parent, a key under a primitive: no-ops', () => {
  const data = { a: 1, s: 'text', n: null, o: {} };
  for (const path of [['x'], ['x', 'y', 'z'], ['o', 'x'], ['a', 'b'], ['s', 'length'], ['n', 'x']]) {
    const out = applyOps(data, [{ op: 'del', path }]);
    assert.is(out.data, data, path.join('.'));
    assert.is(out.changed, false, path.join('.'));
  }
});

deleting.run();

// ---

const unchanged = suite('changed is false when nothing changed, and the input comes back');

unchanged('no ops', () => {
  const data = { a: 1 };
  assert.equal(applyOps(data, []), { data, changed: false });
  assert.is(applyOps(data, []).data, data);
});

unchanged('a set of the same primitive', () => {
  const data = { a: { b: 'x' } };
  const out = applyOps(data, [{ op: 'set', path: ['a', 'b'], value: 'x' }]);
  assert.is(out.changed, false);
  assert.is(out.data, data);
});

unchanged('a set of a deep-equal object or array (a different reference)', () => {
  const data = { a: { b: [1, { c: 2 }] }, o: { x: 1, y: 2 } };
  const out = applyOps(data, [
    { op: 'set', path: ['a', 'b'], value: [1, { c: 2 }] },
    { op: 'set', path: ['o'], value: { y: 2, x: 1 } },
  ]);
  assert.is(out.changed, false);
  assert.is(out.data, data);
});

unchanged('a change undone within the same list of ops', () => {
  const data = { a: 1, b: { c: 2 } };
  const out = applyOps(data, [
    { op: 'set', path: ['a'], value: 2 },
    { op: 'del', path: ['b'] },
    { op: 'set', path: ['a'], value: 1 },
    { op: 'set', path: ['b', 'c'], value: 2 },
  ]);
  assert.is(out.changed, false);
  assert.is(out.data, data);
});

unchanged('a set that changes only a deep value reports a change', () => {
  const out = applyOps({ a: { b: [1, { c: 2 }] } }, [{ op: 'set', path: ['a', 'b'], value: [1, { c: 3 }] }]);
  assert.is(out.changed, true);
});

unchanged.run();

// ---

const sharing = suite('applyOps never mutates its input and shares unchanged branches');

sharing('siblings of the changed path are the same objects', () => {
  const data = deepFreeze({ a: { x: { deep: 1 } }, b: { y: [1, 2] }, list: [{ z: 1 }] });
  const out = applyOps(data, [{ op: 'set', path: ['a', 'w'], value: 1 }]);
  assert.is.not(out.data, data);
  assert.is.not(out.data.a, data.a);
  assert.is((out.data.a as JsonObject).x, data.a.x);
  assert.is(out.data.b, data.b);
  assert.is(out.data.list, data.list);
  assert.equal(data, { a: { x: { deep: 1 } }, b: { y: [1, 2] }, list: [{ z: 1 }] });
});

sharing('a frozen input is never written (it would throw in strict mode)', () => {
  const data = deepFreeze({ a: { b: 1 }, c: 2 });
  applyOps(data, [
    { op: 'del', path: ['a', 'b'] },
    { op: 'set', path: ['c'], value: 3 },
    { op: 'set', path: ['d', 'e'], value: 4 },
  ]);
});

sharing.run();

// ---

const diffing = suite('diff turns one object into another with set and del ops');

diffing('keys gone, new and changed; arrays set whole', () => {
  assert.equal(diff({ a: 1, b: 2, list: [1, 2] }, { a: 1, c: 3, list: [1, 2, 3] }), [
    { op: 'del', path: ['b'] },
    { op: 'set', path: ['c'], value: 3 },
    { op: 'set', path: ['list'], value: [1, 2, 3] },
  ]);
});

diffing('recurses into objects present on both sides', () => {
  assert.equal(diff({ prefs: { theme: 'light', lang: 'en' } }, { prefs: { theme: 'dark', lang: 'en' } }), [
    { op: 'set', path: ['prefs', 'theme'], value: 'dark' },
  ]);
});

diffing('an object replaced by an array or a primitive is set whole', () => {
  assert.equal(diff({ a: { b: 1 }, c: [1] }, { a: [1], c: { d: 1 } }), [
    { op: 'set', path: ['a'], value: [1] },
    { op: 'set', path: ['c'], value: { d: 1 } },
  ]);
});

diffing('equal values give no ops, whatever the references', () => {
  assert.equal(diff({ a: [1, { b: 2 }], c: {} }, { c: {}, a: [1, { b: 2 }] }), []);
  const data = { a: 1 };
  assert.equal(diff(data, data), []);
});

diffing('a Date in the new object is emitted, so assertJson can refuse it', () => {
  const ops = diff({ when: {} }, { when: new Date(0) as unknown as JsonObject });
  assert.is(ops.length, 1);
  assert.throws(
    () => applyOps({ when: {} }, ops),
    (err: unknown) => err instanceof TypeError,
  );
});

diffing.run();

// ---

const properties = suite('applyOps and diff on random JSON objects');

const RUNS = { numRuns: 400 };

properties('applyOps(a, diff(a, b)) deep-equals b', () => {
  fc.assert(
    fc.property(jsonObject, jsonObject, (a, b) => {
      const out = applyOps(a, diff(a, b));
      assert.equal(out.data, b);
      assert.ok(jsonEqual(out.data, b));
    }),
    RUNS,
  );
});

properties('diff(a, a) and diff(a, clone of a) are empty', () => {
  fc.assert(
    fc.property(jsonObject, (a) => {
      assert.equal(diff(a, a), []);
      assert.equal(diff(a, structuredClone(a)), []);
    }),
    RUNS,
  );
});

properties('changed is true exactly when the result differs from the input', () => {
  fc.assert(
    fc.property(jsonObject, jsonObject, (a, b) => {
      const out = applyOps(a, diff(a, b));
      assert.is(out.changed, !jsonEqual(a, b));
      if (!out.changed) assert.is(out.data, a);
    }),
    RUNS,
  );
});

properties('random ops: inputs never mutated, changed iff different, untouched branches shared', () => {
  fc.assert(
    fc.property(
      jsonObject.chain((a) => fc.tuple(fc.constant(a), opsOn(a))),
      ([a, ops]) => {
        const before = structuredClone(a);
        const opsBefore = structuredClone(ops);
        deepFreeze(a);
        let out;
        try {
          out = applyOps(a, ops);
        } catch (err) {
          assert.instance(err, SessionSyncError);
          assert.is((err as SessionSyncError).code, 'invalid');
          assert.equal(a, before);
          return;
        }
        assert.equal(a, before);
        assert.equal(ops, opsBefore);
        assert.is(out.changed, !jsonEqual(a, out.data));
        // Every top-level key no op touched is the very same value.
        const touched = new Set(ops.map((op) => op.path[0]));
        for (const key of Object.keys(a)) {
          if (!touched.has(key)) assert.is(out.data[key], a[key], `branch ${key} was copied`);
        }
      },
    ),
    RUNS,
  );
});

properties('unchanged branches keep their identity at every depth', () => {
  fc.assert(
    fc.property(jsonObject, jsonObject, (a, b) => {
      deepFreeze(a);
      const out = applyOps(a, diff(a, b)).data;
      // Wherever the result deep-equals the input's branch at the same path, it is that branch.
      const walk = (x: JsonValue | undefined, y: JsonValue | undefined): void => {
        if (x === undefined || y === undefined || typeof x !== 'object' || x === null) return;
        if (jsonEqual(x, y)) {
          assert.is(y, x, 'an unchanged branch was copied');
          return;
        }
        if (Array.isArray(x) || Array.isArray(y) || typeof y !== 'object' || y === null) return;
        for (const key of Object.keys(y)) walk((x as JsonObject)[key], (y as JsonObject)[key]);
      };
      walk(a, out);
    }),
    RUNS,
  );
});

properties.run();
