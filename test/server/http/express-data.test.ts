import { inspect } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Request } from 'express';
import { createSessionSync } from '../../../src/server/index.js';
import { startApp } from '../../support/http.js';

const secret = 'a test secret that is long enough!!';

/**
 * Runs `handler` inside a request of a visitor whose session starts as `start`, and returns
 * what the handler returned plus the stored data after the request.
 */
async function inRequest<T>(
  start: Record<string, unknown>,
  handler: (req: Request) => T | Promise<T>,
): Promise<{ result: T; stored: unknown }> {
  let result!: T;
  const t = await startApp(createSessionSync({ secret }), (app) => {
    app.get('/start', (req, res) => {
      req.session.val = start as never;
      res.end();
    });
    app.get('/run', async (req, res, next) => {
      try {
        result = await handler(req);
        res.end();
      } catch (err) {
        next(err);
      }
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const res = await ann.fetch('/run');
    assert.is(res.status, 200, await res.clone().text());
    return { result, stored: (await t.sync.get(ann.id()!))?.data };
  } finally {
    await t.close();
  }
}

// ---

const objects = suite('req.session.val behaves like a plain object');

objects('nested objects are read and written in place', async () => {
  const { result, stored } = await inRequest({ user: { name: 'ann', prefs: { theme: 'dark' } } }, (req) => {
    const val = req.session.val as any;
    val.user.prefs.theme = 'light';
    val.user.prefs.lang = 'fr';
    val.fresh = { deep: { er: 1 } };
    val.fresh.deep.est = 2;
    return { theme: val.user.prefs.theme, est: val.fresh.deep.est };
  });
  assert.equal(result, { theme: 'light', est: 2 });
  assert.equal(stored, {
    user: { name: 'ann', prefs: { theme: 'light', lang: 'fr' } },
    fresh: { deep: { er: 1, est: 2 } },
  });
});

objects('delete, Object.keys/entries, in, spread and JSON.stringify see the data', async () => {
  const { result, stored } = await inRequest({ a: 1, b: { c: 2 }, gone: true }, (req) => {
    const val = req.session.val as any;
    delete val.gone;
    delete val.neverThere;
    return {
      keys: Object.keys(val),
      entries: Object.entries(val),
      has: ['a' in val, 'gone' in val, 'toString' in val],
      spread: { ...val },
      nestedSpread: { ...val.b },
      json: JSON.stringify(val),
      own: Object.prototype.hasOwnProperty.call(val, 'a'),
    };
  });
  assert.equal(result.keys, ['a', 'b']);
  // Through JSON: the data reads like null-prototype JSON (no `constructor`), which a deep
  // equality that compares constructors would tell from a plain object.
  assert.equal(JSON.parse(JSON.stringify(result.entries)), [
    ['a', 1],
    ['b', { c: 2 }],
  ]);
  assert.equal(result.has, [true, false, true]);
  assert.equal(JSON.parse(JSON.stringify(result.spread)), { a: 1, b: { c: 2 } });
  assert.equal(result.nestedSpread, { c: 2 });
  assert.is(result.json, '{"a":1,"b":{"c":2}}');
  assert.ok(result.own);
  assert.equal(stored, { a: 1, b: { c: 2 } });
});

objects('a value read, then replaced or removed by the handler, keeps what it was (like a plain object)', async () => {
  const { result, stored } = await inRequest(
    { flash: { error: ['bad'] }, user: { name: 'ann' }, list: [{ id: 1 }, { id: 2 }] },
    (req) => {
      const val = req.session.val as any;
      const errors = val.flash.error;
      delete val.flash.error; // connect-flash reads then deletes
      const user = val.user;
      val.user = null;
      const first = val.list[0];
      val.list.splice(0, 1);
      errors.push('local'); // a detached value is a plain copy: not the session's any more
      return { errors: [...errors], name: user.name, first: { ...first }, now: JSON.parse(JSON.stringify(val)) };
    },
  );
  assert.equal(result, {
    errors: ['bad', 'local'],
    name: 'ann',
    first: { id: 1 },
    now: { flash: {}, user: null, list: [{ id: 2 }] },
  });
  assert.equal(stored, { flash: {}, user: null, list: [{ id: 2 }] });
});

objects('arrays: push, splice, sort, index assignment, length = 0', async () => {
  const { result, stored } = await inRequest(
    { list: [3, 1, 2], other: ['x', 'y', 'z'], emptied: [1, 2], at: [0, 0] },
    (req) => {
      const val = req.session.val as any;
      val.list.push(5, 4);
      val.list.sort((a: number, b: number) => a - b);
      val.other.splice(1, 1, 'Y', 'Y2');
      val.emptied.length = 0;
      val.at[1] = 9;
      val.at[2] = 7; // index assignment at the end grows the array
      return {
        isArray: Array.isArray(val.list),
        length: val.list.length,
        mapped: val.list.map((n: number) => n * 10),
        includes: val.other.includes('Y'),
        json: JSON.stringify(val.list),
        iterated: [...val.list],
      };
    },
  );
  assert.equal(result, {
    isArray: true,
    length: 5,
    mapped: [10, 20, 30, 40, 50],
    includes: true,
    json: '[1,2,3,4,5]',
    iterated: [1, 2, 3, 4, 5],
  });
  assert.equal(stored, { list: [1, 2, 3, 4, 5], other: ['x', 'Y', 'Y2', 'z'], emptied: [], at: [0, 9, 7] });
});

objects('a hole left in an array is refused with a TypeError naming its path', async () => {
  const t = await startApp(createSessionSync({ secret }), (app, errors) => {
    app.get('/start', (req, res) => {
      req.session.val.at = [0];
      res.end();
    });
    app.get('/hole', (req, res) => {
      (req.session.val.at as number[])[2] = 7;
      res.end();
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const res = await ann.fetch('/hole');
    assert.is(res.status, 500);
    assert.instance(t.errors[0], TypeError);
    assert.match((t.errors[0] as Error).message, 'at[1]');
    assert.equal((await t.sync.get(ann.id()!))?.data, { at: [0] });
  } finally {
    await t.close();
  }
});

objects('arrays: pop, shift, unshift, reverse, fill and for…of', async () => {
  const { result, stored } = await inRequest({ a: [1, 2, 3], b: [1, 2, 3], c: [1, 2, 3], d: [0, 0] }, (req) => {
    const val = req.session.val as any;
    const popped = val.a.pop();
    const shifted = val.b.shift();
    val.b.unshift(9);
    val.c.reverse();
    val.d.fill(7);
    const seen: number[] = [];
    for (const n of val.c) seen.push(n);
    return { popped, shifted, seen };
  });
  assert.equal(result, { popped: 3, shifted: 1, seen: [3, 2, 1] });
  assert.equal(stored, { a: [1, 2], b: [9, 2, 3], c: [3, 2, 1], d: [7, 7] });
});

objects('arrays of objects: editing an element stores the whole array at its path', async () => {
  const { stored } = await inRequest(
    {
      items: [
        { id: 1, qty: 1 },
        { id: 2, qty: 1 },
      ],
    },
    (req) => {
      const val = req.session.val as any;
      val.items[1].qty++;
      val.items.find((i: { id: number }) => i.id === 1).qty = 5;
    },
  );
  assert.equal(stored, {
    items: [
      { id: 1, qty: 5 },
      { id: 2, qty: 2 },
    ],
  });
});

objects('assigning one branch to another copies data, not a live proxy', async () => {
  const { result, stored } = await inRequest({ a: { x: 1 }, list: [{ x: 0 }] }, (req) => {
    const val = req.session.val as any;
    val.b = val.a;
    val.list = [...val.list, { x: 1 }];
    val.pair = { left: val.a, right: val.list[0] };
    val.a.x = 2; // b was a copy
    return { b: val.b.x, sameProxy: val.a === val.a };
  });
  assert.equal(result, { b: 1, sameProxy: true });
  assert.equal(stored, {
    a: { x: 2 },
    b: { x: 1 },
    list: [{ x: 0 }, { x: 1 }],
    pair: { left: { x: 1 }, right: { x: 0 } },
  });
});

objects('replacing req.session.val = {...} replaces the whole data', async () => {
  const { result, stored } = await inRequest({ old: 1, keep: 'no' }, (req) => {
    req.session.val = { fresh: true, keep: 'yes' } as never;
    return { ...req.session.val };
  });
  assert.equal(result, { fresh: true, keep: 'yes' });
  assert.equal(stored, { fresh: true, keep: 'yes' });
});

objects('replacing the data by something other than a plain object is a TypeError', async () => {
  const { result, stored } = await inRequest({ a: 1 }, (req) => {
    try {
      req.session.val = [1, 2] as never;
      return 'accepted';
    } catch (err) {
      return (err as Error).name;
    }
  });
  assert.is(result, 'TypeError');
  assert.equal(stored, { a: 1 });
});

objects('console.log / util.inspect show the data, not proxy internals', async () => {
  const { result } = await inRequest({ user: { name: 'ann' }, list: [1, 2] }, (req) => {
    const val = req.session.val as any;
    val.added = true;
    return { root: inspect(val), nested: inspect(val.user), list: inspect(val.list) };
  });
  assert.ok(result.root.includes("name: 'ann'"), result.root);
  assert.ok(result.root.includes('added: true'), result.root);
  assert.not.match(result.root, /Proxy|inspect\.custom/);
  assert.is(result.nested, "{ name: 'ann' }");
  assert.is(result.list, '[ 1, 2 ]');
});

objects('a read-only request stores nothing and bumps no version', async () => {
  let version = -1;
  const t = await startApp(createSessionSync({ secret }), (app) => {
    app.get('/start', (req, res) => {
      req.session.val.a = { b: [1] };
      res.end();
    });
    app.get('/read', (req, res) => {
      const val = req.session.val as any;
      res.json({ keys: Object.keys(val), b: val.a.b.length, spread: { ...val } });
    });
    app.get('/same', (req, res) => {
      const val = req.session.val as any;
      val.a = { b: [1] }; // the same data again
      res.end();
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    await ann.fetch('/read');
    await ann.fetch('/same');
    version = (await t.sync.get(ann.id()!))!.version;
    assert.is(version, 1);
  } finally {
    await t.close();
  }
});

objects.run();
