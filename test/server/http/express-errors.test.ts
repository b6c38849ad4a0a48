import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  createSessionSync,
  MemoryStore,
  SessionSyncError,
  type SessionStore,
  type SessionSyncOptions,
} from '../../../src/server/index.js';
import type { Request } from 'express';
import { startApp, type TestApp } from '../../support/http.js';

const secret = 'a test secret that is long enough!!';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type App = TestApp<ReturnType<typeof createSessionSync>> & { errors: unknown[] };

/** An app whose `/start` stores `{ a: 1, list: [1] }` and whose `/bad` runs `write`. */
async function withWriter(write: (req: Request) => void, options: SessionSyncOptions = {}): Promise<App> {
  return startApp(createSessionSync({ secret, ...options }), (app) => {
    app.get('/start', (req, res) => {
      req.session.val.a = 1;
      req.session.val.list = [1];
      res.end();
    });
    app.get('/bad', (req, res) => {
      write(req);
      res.json({ answered: true });
    });
  });
}

/** Runs `write` for a visitor who has a session; returns the status, the error and the stored data. */
async function refused(write: (req: Request) => void, options: SessionSyncOptions = {}) {
  const t = await withWriter(write, options);
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const res = await ann.fetch('/bad');
    const body = await res.json();
    const stored = await t.sync.get(ann.id()!);
    return { status: res.status, body, error: t.errors[0] as Error & { code?: string }, stored };
  } finally {
    await t.close();
  }
}

class Point {
  constructor(
    public x = 1,
    public y = 2,
  ) {}
}

// ---

const nonJson = suite('non-JSON values are refused with a TypeError naming the path, the session unchanged');

const cycle = (): object => {
  const o: Record<string, unknown> = { name: 'loop' };
  o.self = o;
  return o;
};

for (const [name, value, where] of [
  ['a Date', () => new Date(), 'when'],
  ['a Map', () => new Map([[1, 2]]), 'when'],
  ['undefined', () => undefined, 'when'],
  ['a function', () => () => 1, 'when'],
  ['NaN', () => NaN, 'when'],
  ['Infinity', () => Infinity, 'when'],
  ['a cycle', cycle, 'when.self'],
  ['a class instance', () => new Point(), 'when'],
  ['a BigInt', () => 10n, 'when'],
] as const) {
  nonJson(`${name} reaches next(err) as a TypeError naming ${where}`, async () => {
    const r = await refused((req) => {
      (req.session.val as Record<string, unknown>).when = value();
    });
    assert.is(r.status, 500, 'the error handler answered, not the route');
    assert.instance(r.error, TypeError);
    assert.match(r.error.message, where);
    assert.equal(r.stored?.data, { a: 1, list: [1] });
    assert.is(r.stored?.version, 1);
  });
}

nonJson('a Date deep inside an array is named by its path', async () => {
  const r = await refused((req) => {
    (req.session.val.list as unknown[]).push({ at: new Date() });
  });
  assert.instance(r.error, TypeError);
  assert.match(r.error.message, 'list[1].at');
  assert.equal(r.stored?.data, { a: 1, list: [1] });
});

nonJson('one bad value refuses the whole change: the good writes of the same tick are not stored', async () => {
  const r = await refused((req) => {
    req.session.val.good = true;
    (req.session.val as Record<string, unknown>).bad = new Date();
  });
  assert.instance(r.error, TypeError);
  assert.equal(r.stored?.data, { a: 1, list: [1] });
});

nonJson('a forbidden key is refused as invalid', async () => {
  const r = await refused((req) => {
    Reflect.set(req.session.val, 'constructor', 'x');
  });
  assert.instance(r.error, SessionSyncError);
  assert.is(r.error.code, 'invalid');
  assert.equal(r.stored?.data, { a: 1, list: [1] });
});

nonJson('assigning __proto__ is refused as invalid, like any forbidden key, and changes no prototype', async () => {
  const r = await refused((req) => {
    (req.session.val as Record<string, unknown>)['__proto__'] = { polluted: true };
  });
  assert.instance(r.error, SessionSyncError);
  assert.is(r.error.code, 'invalid');
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(r.stored?.data, { a: 1, list: [1] });
});

nonJson.run();

// ---

const limits = suite('writes past a limit are refused with a clear code, the session unchanged');

limits('a session larger than limits.size is too_large', async () => {
  const r = await refused(
    (req) => {
      req.session.val.big = 'x'.repeat(2000);
    },
    { limits: { size: 1000 } },
  );
  assert.is(r.status, 413);
  assert.instance(r.error, SessionSyncError);
  assert.is(r.error.code, 'too_large');
  assert.equal(r.body.code, 'too_large');
  assert.equal(r.stored?.data, { a: 1, list: [1] });
});

limits('growing a session past the size in small steps is refused at the step that crosses it', async () => {
  const t = await startApp(createSessionSync({ secret, limits: { size: 300 } }), (app) => {
    app.get('/add/:i', (req, res) => {
      req.session.val[`k${req.params.i}`] = 'y'.repeat(50);
      res.end();
    });
  });
  try {
    const ann = t.visitor();
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await ann.fetch(`/add/${i}`)).status);
    assert.equal(statuses.slice(0, 4), [200, 200, 200, 200]);
    assert.ok(statuses.includes(413));
    const stored = await t.sync.get(ann.id()!);
    assert.ok(JSON.stringify(stored?.data).length <= 300);
  } finally {
    await t.close();
  }
});

limits('nesting deeper than 32 levels is too_large', async () => {
  const r = await refused((req) => {
    let deep: Record<string, unknown> = { end: true };
    for (let i = 0; i < 40; i++) deep = { d: deep };
    req.session.val.deep = deep as never;
  });
  assert.instance(r.error, SessionSyncError);
  assert.is(r.error.code, 'too_large');
  assert.match(r.error.message, '32');
  assert.equal(r.stored?.data, { a: 1, list: [1] });
});

limits('32 levels exactly are fine', async () => {
  const r = await refused((req) => {
    let deep: Record<string, unknown> = { end: true };
    for (let i = 0; i < 30; i++) deep = { d: deep };
    req.session.val.deep = deep as never; // deep + 30 × d + end = 32 levels
  });
  assert.is(r.status, 200, JSON.stringify(r.body));
});

limits('a key longer than 256 characters is too_large', async () => {
  const r = await refused((req) => {
    req.session.val['k'.repeat(257)] = 1;
  });
  assert.instance(r.error, SessionSyncError);
  assert.is(r.error.code, 'too_large');
  assert.equal(r.stored?.data, { a: 1, list: [1] });
});

limits('server code may change more than 100 keys at once (the op limit is for browsers)', async () => {
  const r = await refused((req) => {
    for (let i = 0; i < 150; i++) req.session.val[`k${i}`] = i;
  });
  assert.is(r.status, 200);
  assert.is(Object.keys(r.stored!.data).length, 152);
});

limits.run();

// ---

const rejections = suite('synchronize(): failures are never unhandled rejections');

rejections('an ignored synchronize() rejection goes to next(err), with no unhandledRejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const r = await refused((req) => {
      (req.session.val as Record<string, unknown>).when = new Date();
      void req.session.synchronize({ model: 'http', target: 'tcp' });
    });
    await sleep(20);
    assert.instance(r.error, TypeError);
    assert.is(r.status, 500);
    assert.equal(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

rejections('an awaited synchronize() rejects with the error and the handler decides the answer', async () => {
  const t = await startApp(createSessionSync({ secret }), (app) => {
    app.get('/try', async (req, res) => {
      (req.session.val as Record<string, unknown>).when = new Date();
      try {
        await req.session.synchronize();
        res.json({ stored: true });
      } catch (err) {
        res.status(422).json({ caught: (err as Error).name });
      }
    });
  });
  try {
    const res = await t.visitor().fetch('/try');
    assert.is(res.status, 422);
    assert.equal(await res.json(), { caught: 'TypeError' });
    assert.equal(t.errors, [], 'a handled failure does not also go to next(err)');
  } finally {
    await t.close();
  }
});

rejections(
  'synchronize() also answers for an auto-commit of this request that failed before it was called',
  async () => {
    const t = await startApp(createSessionSync({ secret }), (app) => {
      app.get('/start', (req, res) => {
        req.session.val.a = 1;
        res.end();
      });
      app.get('/try/:wait', async (req, res) => {
        (req.session.val as Record<string, unknown>).when = new Date();
        await new Promise((r) => (req.params.wait === 'tick' ? setImmediate(r) : setTimeout(r, 20)));
        try {
          await req.session.synchronize();
          res.json({ stored: true });
        } catch (err) {
          res.status(422).json({ caught: (err as Error).name });
        }
      });
    });
    try {
      const ann = t.visitor();
      await ann.fetch('/start');
      for (const wait of ['tick', 'later']) {
        const res = await ann.fetch(`/try/${wait}`);
        assert.is(res.status, 422, wait);
        assert.equal(await res.json(), { caught: 'TypeError' });
      }
      assert.equal(t.errors, []);
    } finally {
      await t.close();
    }
  },
);

rejections('synchronize() resolves once the change is stored', async () => {
  let seen: unknown;
  const t = await startApp(createSessionSync({ secret }), (app) => {
    app.get('/sync', async (req, res) => {
      req.session.val.n = 1;
      await req.session.synchronize();
      seen = (await t.sync.get(req.session.id!))?.data;
      res.json({ version: req.session.version });
    });
  });
  try {
    assert.equal(await t.visitor().json('/sync'), { version: 1 });
    assert.equal(seen, { n: 1 });
  } finally {
    await t.close();
  }
});

rejections('synchronize() refuses an unknown seed model or target with a TypeError', async () => {
  const t = await startApp(createSessionSync({ secret }), (app) => {
    app.get('/sync', (req, res) => {
      const names: string[] = [];
      for (const opts of [{ model: 'ftp' }, { target: 'carrier-pigeon' }, { model: 5 }, 'http'] as never[]) {
        try {
          void req.session.synchronize(opts);
        } catch (err) {
          names.push((err as Error).name);
        }
      }
      res.json(names);
    });
  });
  try {
    assert.equal(await t.visitor().json('/sync'), ['TypeError', 'TypeError', 'TypeError', 'TypeError']);
  } finally {
    await t.close();
  }
});

rejections.run();

// ---

/** A store double: a MemoryStore whose get/apply reject while `down` is set. */
function flakyStore(): SessionStore & { down: boolean } {
  const inner = new MemoryStore();
  const fail = (): Promise<never> => Promise.reject(new Error('connection refused'));
  const store = {
    down: false,
    get: (id: string) => (store.down ? fail() : inner.get(id)),
    apply: (id: string, ops: never, options: never) => (store.down ? fail() : inner.apply(id, ops, options)),
    since: (id: string, v: number) => inner.since(id, v),
    destroy: (id: string, reason: never) => (store.down ? fail() : inner.destroy(id, reason)),
    touch: (id: string, ttl: number) => (store.down ? fail() : inner.touch(id, ttl)),
    sessionsOf: (user: string) => inner.sessionsOf(user),
    subscribe: (listener: never) => inner.subscribe(listener),
    close: () => inner.close(),
  };
  return store;
}

const failing = suite('a failing store gives store_unavailable where the session is used, and nowhere else');

failing('touching the data throws store_unavailable; a request that never touches it succeeds', async () => {
  const store = flakyStore();
  const thrown: unknown[] = [];
  const t = await startApp(createSessionSync({ secret, store }), (app) => {
    app.get('/start', (req, res) => {
      req.session.val.n = 1;
      res.end();
    });
    app.get('/plain', (_req, res) => res.send('no session needed'));
    app.get('/touch', (req, res) => {
      try {
        void req.session.val;
      } catch (err) {
        thrown.push(err);
      }
      res.json(req.session.val);
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    store.down = true;
    const plain = await ann.text('/plain');
    assert.equal([plain.status, plain.body], [200, 'no session needed']);
    const touched = await ann.fetch('/touch');
    assert.is(touched.status, 503);
    assert.is((await touched.json()).code, 'store_unavailable');
    assert.instance(thrown[0], SessionSyncError);
    assert.is((thrown[0] as SessionSyncError).code, 'store_unavailable');
    assert.is((t.errors[0] as SessionSyncError).code, 'store_unavailable', 'the second access threw too');
    const route = await ann.fetch('/get/session');
    assert.is(route.status, 503);
    assert.is((await route.json()).code, 'store_unavailable');
    store.down = false;
    assert.equal(await ann.json('/touch'), { n: 1 }, 'back once the store is');
  } finally {
    await t.close();
  }
});

failing('a write while apply fails reaches next(err) as store_unavailable', async () => {
  const store = flakyStore();
  const t = await startApp(createSessionSync({ secret, store }), (app) => {
    app.get('/w', (req, res) => {
      req.session.val.n = 1;
      res.json({ ok: true });
    });
  });
  try {
    const ann = t.visitor();
    store.down = true;
    const res = await ann.fetch('/w');
    assert.is(res.status, 503);
    assert.is((await res.json()).code, 'store_unavailable');
    assert.is((t.errors[0] as Error & { cause?: Error }).cause?.message, 'connection refused');
  } finally {
    await t.close();
  }
});

failing(
  'destroy() after a failed load still ends the session once the store answers, and fails clearly until then',
  async () => {
    const store = flakyStore();
    const t = await startApp(createSessionSync({ secret, store }), (app) => {
      app.get('/start', (req, res) => {
        req.session.val.n = 1;
        res.end();
      });
      app.get('/logout', async (req, res) => {
        await req.session.destroy();
        res.send('bye');
      });
    });
    try {
      const ann = t.visitor();
      await ann.fetch('/start');
      const id = ann.id()!;
      store.down = true;
      const failed = await ann.fetch('/logout');
      assert.is(failed.status, 503);
      assert.is(ann.id(), id, 'the cookie is kept while the session still exists');
      // The store is back for destroy but loads still fail (a half-broken store).
      const get = store.get;
      store.get = () => Promise.reject(new Error('read replica down'));
      store.down = false;
      const ok = await ann.fetch('/logout');
      assert.is(ok.status, 200);
      assert.is(ann.id(), undefined, 'cookie cleared');
      store.get = get;
      assert.is(await t.sync.get(id), undefined, 'record gone');
    } finally {
      await t.close();
    }
  },
);

failing('visitors without a cookie never reach the store', async () => {
  const store = flakyStore();
  const t = await startApp(createSessionSync({ secret, store }), (app) => {
    app.get('/read', (req, res) => res.json(req.session.val));
  });
  try {
    store.down = true;
    assert.equal(await t.visitor().json('/read'), {});
    assert.equal(await t.visitor().json('/get/session'), {
      version: 0,
      tag: null,
      epoch: null,
      expiresIn: null,
      data: {},
    });
  } finally {
    await t.close();
  }
});

failing.run();
