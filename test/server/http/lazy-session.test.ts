import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSessionSync, MemoryStore, RedisStore } from '../../../src/server/index.js';
import { Jar, serve } from '../../support/http.js';
import { startRedis } from '../../support/redis.js';

const secret = 'a test secret that is long enough!!';
// Express 4 has no types of its own here (the alias of the devDependency): it has 5's shape.
const express4 = createRequire(import.meta.url)('express4') as typeof express;
type Loose = Record<string, any>;

/** A MemoryStore counting the touches that reach it (activity). */
class TouchCountingStore extends MemoryStore {
  touches = 0;
  override async touch(...args: Parameters<MemoryStore['touch']>): Promise<void> {
    this.touches++;
    return super.touch(...args);
  }
}

/** What a handler can see of the session layer's footprint on its request and response. */
function footprint(req: IncomingMessage, res: ServerResponse) {
  return {
    ownSession: Object.prototype.hasOwnProperty.call(req, 'session'),
    endWrapped: Object.prototype.hasOwnProperty.call(res, 'end'),
    close: res.listenerCount('close'),
    finish: res.listenerCount('finish'),
  };
}

async function lazyApp(
  make: typeof express | typeof express4,
  store: MemoryStore | RedisStore,
  routes: (app: any) => void,
  ttl = 1000,
) {
  const sync = createSessionSync({ secret, store, ttl });
  const app = make();
  app.get('/before', (req: IncomingMessage, res: any) => res.json(footprint(req, res))); // no session layer
  app.use(sync.express());
  app.post('/write', (req: Loose, res: any) => {
    req.session.val.n = (req.session.val.n ?? 0) + 1;
    res.json({ n: req.session.val.n });
  });
  app.get('/ignore', (req: IncomingMessage, res: any) => res.json(footprint(req, res)));
  routes(app);
  app.use((err: any, _req: unknown, res: any, _next: unknown) =>
    res.status(500).json({ code: err?.code, error: String(err?.message ?? err) }),
  );
  const served = await serve(app);
  return {
    sync,
    visitor: () => new Jar(served.url),
    close: async () => {
      await served.close();
      await sync.close();
    },
  };
}

const lazy = suite('req.session is made when a handler first reads it');

lazy(
  'a route that ignores the session gets no handle, listener or res.end wrapper, and still counts as activity',
  async () => {
    const store = new TouchCountingStore();
    const t = await lazyApp(express, store, () => {});
    try {
      const ann = t.visitor();
      assert.equal(await ann.json('/write', { method: 'POST' }), { n: 1 });
      const bare = await ann.json('/before');
      await sleep(30); // past the touch throttle (ttl / 100)
      const before = store.touches;
      const seen = await ann.json('/ignore');
      assert.equal(seen, { ...bare, ownSession: false, endWrapped: false });
      assert.is(store.touches, before + 1, 'the request renewed the idle lifetime');
      // And the session it ignored is intact and still readable.
      assert.equal(await ann.json('/write', { method: 'POST' }), { n: 2 });
    } finally {
      await t.close();
    }
  },
);

lazy('a cookie naming no record is not touched: the store is asked only when a touch is due', async () => {
  const store = new TouchCountingStore();
  const t = await lazyApp(express, store, (app) => {
    app.get('/id', (req: Loose, res: any) => {
      req.session.val; // opens, but writes nothing: the cookie is issued on first write only
      res.json({ ok: true });
    });
  });
  try {
    const ann = t.visitor();
    await ann.json('/write', { method: 'POST' });
    const id = ann.id()!;
    await t.sync.destroy(id);
    await sleep(30);
    const before = store.touches;
    await ann.json('/ignore');
    assert.is(store.touches, before, 'an ended id is not touched');
  } finally {
    await t.close();
  }
});

lazy('read after an await, the session opens then: the write lands before the response ends', async () => {
  const t = await lazyApp(express, new MemoryStore(), (app) => {
    app.post('/later', async (req: Loose, res: any) => {
      await sleep(5);
      req.session.val.later = true;
      res.json(footprint(req as IncomingMessage, res));
    });
    app.get('/read', (req: Loose, res: any) => res.json(req.session.val));
  });
  try {
    const ann = t.visitor();
    await ann.json('/write', { method: 'POST' });
    const seen = await ann.json('/later', { method: 'POST' });
    assert.ok(seen.endWrapped && seen.close > 0, 'opened on first read');
    assert.equal(await ann.json('/read'), { n: 1, later: true });
    assert.equal((await t.sync.get(ann.id()!))?.data, { n: 1, later: true });
    // A new visitor's first write issues the cookie on a lazily opened session too.
    const bob = t.visitor();
    await bob.json('/later', { method: 'POST' });
    assert.type(bob.id(), 'string');
    assert.equal(await bob.json('/read'), { later: true });
  } finally {
    await t.close();
  }
});

lazy('a sub-app, a router and Express 4 see the same lazy req.session', async () => {
  for (const make of [express, express4] as const) {
    const t = await lazyApp(make, new MemoryStore(), (app) => {
      const sub = make();
      sub.get('/read', (req: Loose, res: any) => res.json({ sub: req.session.val }));
      app.use('/sub', sub);
      const router = make.Router();
      router.get('/read', (req: Loose, res: any) => res.json({ router: req.session.val }));
      app.use('/router', router);
    });
    try {
      const ann = t.visitor();
      await ann.json('/write', { method: 'POST' });
      assert.equal(await ann.json('/sub/read'), { sub: { n: 1 } });
      assert.equal(await ann.json('/router/read'), { router: { n: 1 } });
    } finally {
      await t.close();
    }
  }
});

lazy('a req.session assigned by a later middleware is theirs; snapshot(req) opens ours', async () => {
  const t = await lazyApp(express, new MemoryStore(), (app) => {
    app.get('/theirs', (req: Loose, _res: any, next: () => void) => {
      req.session = { theirs: true };
      next();
    });
    app.get('/theirs', (req: Loose, res: any) => res.json(req.session));
  });
  try {
    const ann = t.visitor();
    await ann.json('/write', { method: 'POST' });
    assert.equal(await ann.json('/theirs'), { theirs: true });
  } finally {
    await t.close();
  }
  const u = await lazyApp(express, new MemoryStore(), (app) => {
    app.get('/page', async (req: IncomingMessage, res: any) => res.json(await u.sync.snapshot(req)));
  });
  try {
    const ann = u.visitor();
    await ann.json('/write', { method: 'POST' });
    const snapshot = await ann.json('/page');
    assert.equal([snapshot.version, snapshot.data], [1, { n: 1 }]);
  } finally {
    await u.close();
  }
});

lazy(
  'with RedisStore the session is loaded before the handler runs, and a failed load still throws on read',
  async () => {
    const redis = await startRedis();
    const store = new RedisStore({ url: redis.url });
    const t = await lazyApp(express, store, (app) => {
      app.get('/read', (req: Loose, res: any) => res.json(req.session.val));
    });
    try {
      const ann = t.visitor();
      await ann.json('/write', { method: 'POST' });
      assert.equal((await ann.json('/ignore')).endWrapped, false);
      assert.equal(await ann.json('/read'), { n: 1 }, 'read synchronously in the handler');
      await redis.stop();
      const failed = await ann.text('/read');
      assert.is(failed.status, 500);
      assert.is(JSON.parse(failed.body).code, 'store_unavailable');
      assert.is((await ann.text('/ignore')).status, 200, 'a route that ignores the session is not failed');
    } finally {
      await t.close();
      await store.close(); // a store you pass in is yours to close
      await redis.stop();
    }
  },
);

lazy.run();
