import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSessionSync, MemoryStore, type EndReason, type SessionSyncOptions } from '../../../src/server/index.js';
import { startApp } from '../../support/http.js';

const secret = 'a test secret that is long enough!!';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An app with `/start` (cart), `/read`, `/login?keep=0|1` (regenerate) and `/logout` (destroy). */
async function app(options: SessionSyncOptions = {}) {
  const sync = createSessionSync({ secret, ...options });
  const ends: [string, EndReason][] = [];
  sync.on('end', (id, reason) => ends.push([id, reason]));
  const t = await startApp(sync, (app) => {
    app.get('/start', (req, res) => {
      req.session.val.cart = ['apple'];
      res.end();
    });
    app.get('/read', (req, res) => res.json(req.session.val));
    app.get('/login', async (req, res) => {
      const oldId = req.session.id;
      await req.session.regenerate({ keep: req.query.keep !== '0' });
      req.session.val.user = 'ann';
      // The end of the old id is announced only once this response has finished.
      const announcedEarly = ends.some(([id]) => id === oldId);
      res.json({
        val: req.session.val,
        version: req.session.version,
        changed: oldId !== req.session.id,
        announcedEarly,
      });
    });
    app.get('/logout', async (req, res) => {
      await req.session.destroy();
      res.json({ id: req.session.id ?? null, val: req.session.val });
    });
    app.get('/logout-and-write', async (req, res) => {
      await req.session.destroy();
      req.session.val.fresh = true;
      res.end();
    });
  });
  return Object.assign(t, { ends });
}

// ---

const regenerate = suite('regenerate() gives a new id; the old one is dead');

regenerate('keep: true (default) keeps the data under a new cookie', async () => {
  const t = await app();
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const oldId = ann.id()!;
    const attacker = ann.clone();
    const res = await ann.fetch('/login');
    const body = await res.json();
    assert.equal(body, { val: { cart: ['apple'], user: 'ann' }, version: 1, changed: true, announcedEarly: false });
    const sids = res.headers.getSetCookie().filter((c) => c.startsWith('sid='));
    assert.is(sids.length, 1, 'one cookie of ours per response');
    assert.ok(ann.id() && ann.id() !== oldId, 'a new id');
    assert.equal(await ann.json('/read'), { cart: ['apple'], user: 'ann' });
    assert.equal(await attacker.json('/read'), {}, 'the old cookie holds nothing');
    assert.is(await t.sync.get(oldId), undefined, 'the old record is gone');
    assert.equal((await t.sync.get(ann.id()!))?.data, { cart: ['apple'], user: 'ann' });
    assert.ok(t.ends.some(([id, reason]) => id === oldId && reason === 'regenerated'));
  } finally {
    await t.close();
  }
});

regenerate('keep: false starts empty', async () => {
  const t = await app();
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const oldId = ann.id()!;
    const body = await ann.json('/login?keep=0');
    assert.equal(body.val, { user: 'ann' });
    assert.equal(await ann.json('/read'), { user: 'ann' });
    assert.is(await t.sync.get(oldId), undefined);
  } finally {
    await t.close();
  }
});

regenerate('a visitor without a session gets an id and only what was written after', async () => {
  const t = await app();
  try {
    const ann = t.visitor();
    const body = await ann.json('/login');
    assert.equal(body.val, { user: 'ann' });
    assert.equal(await ann.json('/read'), { user: 'ann' });
  } finally {
    await t.close();
  }
});

regenerate('edits made before regenerate() in the same request are kept', async () => {
  const sync = createSessionSync({ secret });
  const t = await startApp(sync, (app) => {
    app.get('/login', async (req, res) => {
      req.session.val.before = true;
      await req.session.regenerate();
      res.json(req.session.val);
    });
  });
  try {
    const ann = t.visitor();
    assert.equal(await ann.json('/login'), { before: true });
    assert.equal((await sync.get(ann.id()!))?.data, { before: true });
  } finally {
    await t.close();
  }
});

regenerate.run();

// ---

const destroy = suite('destroy() removes the record and clears the cookie');

destroy(
  'the record is gone, the cookie is cleared with an expired Set-Cookie, the old cookie holds nothing',
  async () => {
    const t = await app();
    try {
      const ann = t.visitor();
      await ann.fetch('/start');
      const oldId = ann.id()!;
      const attacker = ann.clone();
      const res = await ann.fetch('/logout');
      assert.equal(await res.json(), { id: null, val: {} });
      const cleared = ann.lastSetCookies.find((c) => c.name === 'sid');
      assert.ok(cleared, 'a Set-Cookie for sid');
      assert.is(cleared!.value, '');
      assert.ok(Date.parse(cleared!.attributes.expires!) <= Date.now(), 'expired');
      assert.is(cleared!.attributes.path, '/');
      assert.is(ann.cookies.size, 0);
      assert.is(await t.sync.get(oldId), undefined);
      assert.equal(await attacker.json('/read'), {});
      assert.ok(t.ends.some(([id, reason]) => id === oldId && reason === 'destroyed'));
    } finally {
      await t.close();
    }
  },
);

destroy('a write after destroy() in the same request starts a new session with a new id', async () => {
  const t = await app();
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const oldId = ann.id()!;
    await ann.fetch('/logout-and-write');
    assert.ok(ann.id() && ann.id() !== oldId);
    assert.equal(await ann.json('/read'), { fresh: true });
  } finally {
    await t.close();
  }
});

destroy('destroy() for a visitor without a session changes nothing and sends no cookie', async () => {
  const t = await app();
  try {
    const ann = t.visitor();
    await ann.fetch('/logout');
    assert.equal(ann.lastSetCookies, []);
  } finally {
    await t.close();
  }
});

destroy.run();

// ---

const lifetimes = suite('idle and absolute lifetimes end sessions; MemoryStore max evicts');

lifetimes('a session idle past ttl is gone', async () => {
  const t = await app({ ttl: 80 });
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const id = ann.id()!;
    await sleep(150);
    assert.equal(await ann.json('/read'), {});
    assert.is(await t.sync.get(id), undefined);
    assert.ok(t.ends.some(([ended, reason]) => ended === id && reason === 'expired'));
  } finally {
    await t.close();
  }
});

lifetimes('requests are activity: a session used more often than ttl stays', async () => {
  const t = await app({ ttl: 150 });
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    for (let i = 0; i < 6; i++) {
      await sleep(50);
      assert.equal(await ann.json('/read'), { cart: ['apple'] }, `after ${(i + 1) * 50} ms`);
    }
  } finally {
    await t.close();
  }
});

lifetimes('activity never extends a session past its absolute lifetime', async () => {
  const t = await app({ ttl: 10_000, absolute: 200 });
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const id = ann.id()!;
    assert.equal(ann.lastSetCookies[0]?.attributes['max-age'], '1', 'Max-Age is whole seconds, at least 1');
    for (let i = 0; i < 3; i++) {
      await sleep(40);
      assert.equal(await ann.json('/read'), { cart: ['apple'] });
    }
    await sleep(150);
    assert.equal(await ann.json('/read'), {});
    assert.is(await t.sync.get(id), undefined);
  } finally {
    await t.close();
  }
});

lifetimes('expired sessions are swept from memory, not just hidden', async () => {
  const store = new MemoryStore({ sweepInterval: 20 });
  const t = await app({ ttl: 50, store });
  try {
    await t.visitor().fetch('/start');
    await t.visitor().fetch('/start');
    assert.is(store.size, 2);
    await sleep(150);
    assert.is(store.size, 0);
  } finally {
    await t.close();
    await store.close();
  }
});

lifetimes('past MemoryStore max, the longest-idle session is evicted', async () => {
  const store = new MemoryStore({ max: 2 });
  // Activity reaches the store at most once per ttl/100 per session: ttl 1 s makes that 10 ms.
  const t = await app({ store, ttl: 1000 });
  const warn = console.warn;
  const printed: string[] = [];
  console.warn = (...args: unknown[]) => void printed.push(args.join(' '));
  try {
    const [a, b, c] = [t.visitor(), t.visitor(), t.visitor()];
    await a.fetch('/start');
    await sleep(20);
    await b.fetch('/start');
    await sleep(20);
    await a.fetch('/read'); // a is now more recent than b
    await sleep(20);
    await c.fetch('/start');
    assert.equal(await a.json('/read'), { cart: ['apple'] });
    assert.equal(await b.json('/read'), {}, 'b was idle longest');
    assert.equal(await c.json('/read'), { cart: ['apple'] });
    assert.ok(t.ends.some(([id, reason]) => id === b.id() && reason === 'evicted'));
    assert.ok(printed.some((p) => p.startsWith('session-sync:') && p.includes('max')));
  } finally {
    console.warn = warn;
    await t.close();
    await store.close();
  }
});

lifetimes.run();
