import http from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  createSessionSync,
  MemoryStore,
  SessionSyncError,
  type EndReason,
  type SessionChange,
  type SessionStore,
  type SessionSyncOptions,
} from '../../src/server/index.js';
import { tagOf } from '../../src/server/engine/cookie.js';
import { TIMES } from '../../src/server/stores/store.js';
import { Jar, startApp } from '../support/http.js';

const secret = 'a test secret that is long enough!!';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An app with `/start` ({ cart, _secret }), `/read` and `/snap` (sync.snapshot after a write). */
async function start(options: SessionSyncOptions = {}) {
  const sync = createSessionSync({ secret, ...options });
  return startApp(sync, (app) => {
    app.get('/start', (req, res) => {
      req.session.val.cart = ['apple'];
      req.session.val._secret = 'server only';
      res.end();
    });
    app.get('/read', (req, res) => res.json(req.session.val));
    app.get('/snap', async (req, res) => {
      req.session.val.seen = true;
      res.json(await sync.snapshot(req));
    });
    app.get('/wait-for-update', async (req, res) => {
      const before = { ...req.session.val };
      await sync.update(req.session.id!, (s) => {
        s.fromOutside = 1;
      });
      res.json({ before, after: req.session.val, version: req.session.version });
    });
  });
}

/** A store double that answers apply 40 ms late. */
function slowStore(): SessionStore & { inner: MemoryStore } {
  const inner = new MemoryStore();
  return {
    inner,
    get: (id) => inner.get(id),
    apply: async (id, ops, o) => {
      await sleep(40);
      return inner.apply(id, ops, o);
    },
    since: (id, v) => inner.since(id, v),
    destroy: (id, r, o) => inner.destroy(id, r, o),
    touch: (id, ttl) => inner.touch(id, ttl),
    sessionsOf: (u) => inner.sessionsOf(u),
    subscribe: (l) => inner.subscribe(l),
    close: () => inner.close(),
  };
}

// ---

const read = suite('get(id) reads a whole session');

read('get returns version, tag and all the data (server-only included); undefined without a record', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const id = ann.id()!;
    assert.equal(await t.sync.get(id), {
      version: 1,
      tag: tagOf(id),
      data: { cart: ['apple'], _secret: 'server only' },
    });
    assert.is(await t.sync.get('x'.repeat(43)), undefined);
  } finally {
    await t.close();
  }
});

read('a change to the returned data is not a change to the session', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const got = await t.sync.get(ann.id()!);
    (got!.data.cart as string[]).push('stolen');
    assert.equal((await t.sync.get(ann.id()!))?.data.cart, ['apple']);
  } finally {
    await t.close();
  }
});

read.run();

// ---

const update = suite('update(id, fn | ops) changes a session from outside any request');

update('a function edits the data; the visitor’s next request sees it', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const result = await t.sync.update(ann.id()!, (s) => {
      (s.cart as string[]).push('pear');
      s.credits = 10;
      delete s._secret;
    });
    assert.equal(result, { version: 2, changed: true });
    assert.equal(await ann.json('/read'), { cart: ['apple', 'pear'], credits: 10 });
  } finally {
    await t.close();
  }
});

update('a function may be async and may return new data', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    await t.sync.update(ann.id()!, async () => {
      await sleep(5);
      return { replaced: true };
    });
    assert.equal(await ann.json('/read'), { replaced: true });
  } finally {
    await t.close();
  }
});

update('ops are applied as given; an update that changes nothing bumps no version', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const id = ann.id()!;
    assert.equal(
      await t.sync.update(id, [
        { op: 'set', path: ['prefs', 'theme'], value: 'dark' },
        { op: 'del', path: ['cart'] },
      ]),
      { version: 2, changed: true },
    );
    assert.equal(await t.sync.update(id, [{ op: 'set', path: ['prefs', 'theme'], value: 'dark' }]), {
      version: 2,
      changed: false,
    });
    assert.equal(await t.sync.update(id, () => {}), { version: 2, changed: false });
    assert.equal((await t.sync.get(id))?.data, { _secret: 'server only', prefs: { theme: 'dark' } });
  } finally {
    await t.close();
  }
});

update('bad changes are refused, the session unchanged', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const id = ann.id()!;
    const attempts: [string, () => Promise<unknown>, (err: unknown) => boolean][] = [
      [
        'a Date via fn',
        () => t.sync.update(id, (s) => void (s.when = new Date() as never)),
        (e) => e instanceof TypeError && /when/.test((e as Error).message),
      ],
      [
        'a Date via ops',
        () => t.sync.update(id, [{ op: 'set', path: ['when'], value: new Date() as never }]),
        (e) => e instanceof TypeError,
      ],
      [
        'a path through an array',
        () => t.sync.update(id, [{ op: 'set', path: ['cart', 'x'], value: 1 }]),
        (e) => e instanceof SessionSyncError && e.code === 'invalid',
      ],
      [
        'a forbidden key',
        () => t.sync.update(id, [{ op: 'set', path: ['__proto__'], value: 1 }]),
        (e) => e instanceof SessionSyncError && e.code === 'invalid',
      ],
      ['not ops or a function', () => t.sync.update(id, 'set x' as never), (e) => e instanceof TypeError],
      ['fn returning a non-object', () => t.sync.update(id, () => [1] as never), (e) => e instanceof TypeError],
      [
        'fn throwing',
        () =>
          t.sync.update(id, () => {
            throw new RangeError('mine');
          }),
        (e) => e instanceof RangeError,
      ],
    ];
    for (const [name, attempt, check] of attempts) {
      let error: unknown;
      await attempt().catch((e: unknown) => (error = e));
      assert.ok(check(error), `${name}: ${String(error)}`);
    }
    assert.equal(await t.sync.get(id), {
      version: 1,
      tag: tagOf(id),
      data: { cart: ['apple'], _secret: 'server only' },
    });
  } finally {
    await t.close();
  }
});

update('a request in flight sees an out-of-band change after an await, without reload()', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const body = await ann.json('/wait-for-update');
    assert.not.ok('fromOutside' in body.before);
    assert.is(body.after.fromOutside, 1);
    assert.is(body.version, 2);
  } finally {
    await t.close();
  }
});

update.run();

// ---

const destroy = suite('destroy(id) ends a session from outside');

destroy('the record is gone and the visitor’s next request holds nothing', async () => {
  const t = await start();
  const ends: [string, EndReason][] = [];
  t.sync.on('end', (id, reason) => ends.push([id, reason]));
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const id = ann.id()!;
    assert.is(await t.sync.destroy(id), true);
    assert.is(await t.sync.destroy(id), false, 'a second time: there was no record');
    assert.is(await t.sync.get(id), undefined);
    assert.equal(await ann.json('/read'), {});
    assert.equal(ends[0], [id, 'destroyed']);
  } finally {
    await t.close();
  }
});

destroy.run();

// ---

const snapshot = suite('snapshot(req) for a server-rendered page');

// expiresIn counts ms from the moment of each answer: two answers differ in it by the time between them.
const withoutClock = ({ expiresIn: _, ...rest }: Record<string, unknown>): Record<string, unknown> => rest;

snapshot(
  'inside a handler: the projected data including the handler’s own write, at the version that carries it',
  async () => {
    const t = await start();
    try {
      const ann = t.visitor();
      await ann.fetch('/start');
      const snap = await ann.json('/snap');
      const { epoch, expiresIn, ...rest } = snap;
      assert.equal(rest, { version: 2, tag: tagOf(ann.id()!), data: { cart: ['apple'], seen: true } });
      assert.type(epoch, 'number');
      assert.ok(expiresIn > 0, 'ms to the idle deadline');
      assert.equal(withoutClock(snap), withoutClock(await ann.json('/get/session')), 'the same as the route');
    } finally {
      await t.close();
    }
  },
);

snapshot('for a new visitor: version 0, tag null, the defaults', async () => {
  const sync = createSessionSync({ secret, defaults: { theme: 'light', _internal: 1 } });
  const t = await startApp(sync, (app) => {
    app.get('/snap', async (req, res) => res.json(await sync.snapshot(req)));
  });
  try {
    assert.equal(await t.visitor().json('/snap'), {
      version: 0,
      tag: null,
      epoch: null,
      expiresIn: null,
      data: { theme: 'light' },
    });
  } finally {
    await t.close();
  }
});

snapshot('on a plain Node request (no express()), read from the cookie', async () => {
  const t = await start();
  const server = http.createServer(async (req, res) => res.end(JSON.stringify(await t.sync.snapshot(req))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const plain = new Jar(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    plain.cookies.set('sid', ann.cookies.get('sid')!);
    const { epoch, expiresIn, ...rest } = await plain.json('/');
    assert.equal(rest, { version: 1, tag: tagOf(ann.id()!), data: { cart: ['apple'] } });
    assert.is(epoch, (await t.sync.store.get(ann.id()!))?.[TIMES]?.epoch, 'the record’s epoch');
    assert.ok(expiresIn > 0);
    assert.equal(await new Jar(plain.base).json('/'), {
      version: 0,
      tag: null,
      epoch: null,
      expiresIn: null,
      data: {},
    });
  } finally {
    server.closeAllConnections();
    server.close();
    await t.close();
  }
});

snapshot.run();

// ---

const changes = suite("on('change') reports every committed change");

changes('HTTP writes and out-of-band updates, in version order, with base and ops', async () => {
  const t = await start();
  const seen: [string, SessionChange][] = [];
  t.sync.on('change', (id, change) => seen.push([id, change]));
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const id = ann.id()!;
    await t.sync.update(id, [{ op: 'set', path: ['n'], value: 1 }]);
    await t.sync.update(id, [{ op: 'set', path: ['n'], value: 1 }]); // no change, no event
    assert.equal(
      seen.map(([sid, c]) => [sid, c.base, c.version]),
      [
        [id, 0, 1],
        [id, 1, 2],
      ],
    );
    assert.equal(seen[1]![1].ops, [{ op: 'set', path: ['n'], value: 1 }]);
    assert.equal(seen[0]![1].ops.map((op) => op.path[0]).sort(), ['_secret', 'cart']);
  } finally {
    await t.close();
  }
});

changes('off() removes a listener', async () => {
  const t = await start();
  let count = 0;
  const listener = (): void => void count++;
  t.sync.on('change', listener);
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    t.sync.off('change', listener);
    await t.sync.update(ann.id()!, [{ op: 'set', path: ['n'], value: 1 }]);
    assert.is(count, 1);
  } finally {
    await t.close();
  }
});

changes.run();

// ---

const close = suite('close() commits what is pending, then stops');

close('an update not yet awaited and a request commit in flight are stored when close() resolves', async () => {
  const store = slowStore();
  const sync = createSessionSync({ secret, store });
  let closing: Promise<void> | undefined;
  const t = await startApp(sync, (app) => {
    app.get('/write-and-close', (req, res) => {
      req.session.val.last = 'words';
      void req.session.synchronize();
      closing = sync.close();
      res.end();
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/write-and-close');
    await closing;
    assert.equal((await store.inner.get(ann.id()!))?.data, { last: 'words' });

    const sync2 = createSessionSync({ secret, store });
    void sync2.update(ann.id()!, (s) => void (s.later = true));
    await sync2.close();
    assert.equal((await store.inner.get(ann.id()!))?.data, { last: 'words', later: true });
  } finally {
    await t.close();
    await store.close();
  }
});

close('the change feed stops; a store passed in stays open, a store it made is closed', async () => {
  const store = new MemoryStore();
  const sync = createSessionSync({ secret, store });
  let heard = 0;
  sync.on('change', () => void heard++);
  await sync.close();
  await store.apply('z'.repeat(43), [{ op: 'set', path: ['a'], value: 1 }], { ttl: 1000, absolute: 1000 });
  assert.is(heard, 0, 'no events after close');
  let stillOpen = 0;
  store.subscribe(() => void stillOpen++);
  await store.apply('z'.repeat(43), [{ op: 'set', path: ['a'], value: 2 }], { ttl: 1000, absolute: 1000 });
  assert.is(stillOpen, 1, 'our store was not closed');
  await store.close();

  const own = createSessionSync({ secret });
  const made = own.store as MemoryStore;
  let after = 0;
  made.subscribe(() => void after++);
  await own.close();
  await made.apply('w'.repeat(43), [{ op: 'set', path: ['a'], value: 1 }], { ttl: 1000, absolute: 1000 });
  assert.is(after, 0, 'the store it made was closed (its listeners dropped)');
  await own.close(); // twice is fine
});

close.run();
