import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import express from 'express';
import { createSessionSync, type SessionSyncOptions } from '../../../src/server/index.js';
import { tagOf } from '../../../src/server/engine/cookie.js';
import { Jar, serve, startApp } from '../../support/http.js';

const secret = 'a test secret that is long enough!!';

/** An app whose `/set` stores `{ user: { name, email }, prefs: { theme }, _visits }` and `/bump` changes prefs. */
function start(options: SessionSyncOptions = {}, defaults?: Record<string, never>) {
  const sync = createSessionSync({ secret, ...options });
  return startApp(
    sync,
    (app) => {
      app.get('/set', (req, res) => {
        req.session.val.user = { name: 'ann', email: 'ann@example.test', _note: 'kept: only top-level _ keys hide' };
        req.session.val.prefs = { theme: 'dark', lang: 'fr' };
        req.session.val._visits = 3;
        res.end();
      });
      app.get('/bump', (req, res) => {
        (req.session.val.prefs as { theme: string }).theme = 'light';
        res.end();
      });
      app.post('/get/session', (_req, res) => res.send('the app’s own POST'));
      app.put('/get/session', (_req, res) => res.send('the app’s own PUT'));
    },
    defaults ? sync.express(defaults) : undefined,
  );
}

// ---

const shape = suite('GET /get/session answers { version, tag, data }');

shape('a visitor with a session gets its exposed data, version, tag, epoch and expiresIn', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    const before = Date.now();
    await ann.fetch('/set');
    const res = await ann.fetch('/get/session');
    assert.is(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^application\/json/);
    const { epoch, expiresIn, ...body } = await res.json();
    assert.ok(epoch >= before && epoch <= Date.now(), 'epoch: when the record was created');
    assert.ok(
      expiresIn > 86_400_000 - 5_000 && expiresIn <= 86_400_000,
      'expiresIn: ms to the idle deadline (ttl 24 h)',
    );
    assert.equal(body, {
      version: 1,
      tag: tagOf(ann.id()!),
      data: {
        user: { name: 'ann', email: 'ann@example.test', _note: 'kept: only top-level _ keys hide' },
        prefs: { theme: 'dark', lang: 'fr' },
      },
    });
  } finally {
    await t.close();
  }
});

shape(
  'a visitor with no session gets { version: 0, tag: null, epoch: null, expiresIn: null, data: defaults } and no cookie',
  async () => {
    const t = await start({}, { cart: [] as never, _internal: 1 as never });
    try {
      const ann = t.visitor();
      assert.equal(await ann.json('/get/session'), {
        version: 0,
        tag: null,
        epoch: null,
        expiresIn: null,
        data: { cart: [] },
      });
      assert.is(ann.cookies.size, 0);
    } finally {
      await t.close();
    }
  },
);

shape('the query string is ignored', async () => {
  const t = await start();
  try {
    const res = await t.visitor().fetch('/get/session?cache=bust&x=1');
    assert.equal(await res.json(), { version: 0, tag: null, epoch: null, expiresIn: null, data: {} });
  } finally {
    await t.close();
  }
});

shape('headers: ETag "<tag>:<epoch>:<version>", Cache-Control no-store, private, Vary: Cookie', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    const none = await ann.fetch('/get/session');
    assert.is(none.headers.get('etag'), '"null:null:0"');
    await ann.fetch('/set');
    const res = await ann.fetch('/get/session');
    const { epoch } = await res.clone().json();
    assert.is(res.headers.get('etag'), `"${tagOf(ann.id()!)}:${epoch}:1"`);
    assert.is(res.headers.get('cache-control'), 'no-store, private');
    assert.match(res.headers.get('vary')!, /\bCookie\b/);
    await ann.fetch('/bump');
    assert.is((await ann.fetch('/get/session')).headers.get('etag'), `"${tagOf(ann.id()!)}:${epoch}:2"`);
  } finally {
    await t.close();
  }
});

shape('Vary keeps what earlier middleware set', async () => {
  const sync = createSessionSync({ secret });
  const app = express();
  app.use((_req, res, next) => {
    res.setHeader('Vary', 'Accept-Encoding');
    next();
  });
  app.use(sync.express());
  const served = await serve(app);
  try {
    const res = await new Jar(served.url).fetch('/get/session');
    assert.is(res.headers.get('vary'), 'Accept-Encoding, Cookie');
  } finally {
    await served.close();
    await sync.close();
  }
});

shape.run();

// ---

const conditional = suite('conditional GET and HEAD');

conditional('If-None-Match with the current ETag gets 304 with no body; a stale one gets 200', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/set');
    const etag = (await ann.fetch('/get/session')).headers.get('etag')!;
    for (const header of [etag, `W/${etag}`, `"other:1", ${etag}`, `"a:1",W/${etag}`, '*']) {
      const res = await ann.fetch('/get/session', { headers: { 'if-none-match': header } });
      assert.is(res.status, 304, header);
      assert.is(await res.text(), '');
      assert.is(res.headers.get('etag'), etag);
      assert.is(res.headers.get('cache-control'), 'no-store, private');
    }
    await ann.fetch('/bump');
    const stale = await ann.fetch('/get/session', { headers: { 'if-none-match': etag } });
    assert.is(stale.status, 200);
    assert.is((await stale.json()).version, 2);
    const foreign = await ann.fetch('/get/session', { headers: { 'if-none-match': `"${tagOf('x'.repeat(43))}:2"` } });
    assert.is(foreign.status, 200, 'another session’s tag at the same version is not a match');
  } finally {
    await t.close();
  }
});

conditional('HEAD answers the headers of GET with no body', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/set');
    const get = await ann.fetch('/get/session');
    const body = await get.text();
    const head = await ann.fetch('/get/session', { method: 'HEAD' });
    assert.is(head.status, 200);
    assert.is(await head.text(), '');
    assert.is(head.headers.get('etag'), get.headers.get('etag'));
    assert.is(head.headers.get('content-length'), String(Buffer.byteLength(body)));
    assert.is(head.headers.get('cache-control'), 'no-store, private');
  } finally {
    await t.close();
  }
});

conditional.run();

// ---

const methods = suite('other methods pass through to the app');

methods('POST and PUT reach the app’s own handlers; DELETE without one is the app’s 404', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    assert.equal(await ann.text('/get/session', { method: 'POST' }).then((r) => [r.status, r.body]), [
      200,
      'the app’s own POST',
    ]);
    assert.equal(await ann.text('/get/session', { method: 'PUT' }).then((r) => [r.status, r.body]), [
      200,
      'the app’s own PUT',
    ]);
    assert.is((await ann.fetch('/get/session', { method: 'DELETE' })).status, 404);
  } finally {
    await t.close();
  }
});

methods('GET /get/session/more and /get/sessions are not the route', async () => {
  const t = await start();
  try {
    assert.is((await t.visitor().fetch('/get/session/more')).status, 404);
    assert.is((await t.visitor().fetch('/get/sessions')).status, 404);
  } finally {
    await t.close();
  }
});

methods.run();

// ---

const where = suite('the route’s path: a string, a RegExp, or off');

where('a custom pathname is served and the default is not', async () => {
  const t = await start({ route: '/api/me' });
  try {
    const ann = t.visitor();
    await ann.fetch('/set');
    assert.is((await ann.json('/api/me?x=1')).version, 1);
    assert.is((await ann.fetch('/get/session')).status, 404);
  } finally {
    await t.close();
  }
});

where('a RegExp matches pathnames', async () => {
  const t = await start({ route: /^\/session\/(me|self)$/ });
  try {
    const ann = t.visitor();
    await ann.fetch('/set');
    assert.is((await ann.json('/session/me')).version, 1);
    assert.is((await ann.json('/session/self')).version, 1);
    assert.is((await ann.fetch('/session/other')).status, 404);
  } finally {
    await t.close();
  }
});

where('a RegExp with the g flag matches every time (no lastIndex state)', async () => {
  const t = await start({ route: /^\/me$/g });
  try {
    for (let i = 0; i < 4; i++) assert.is((await t.visitor().fetch('/me')).status, 200, `request ${i}`);
  } finally {
    await t.close();
  }
});

where('route: null and route: false turn it off', async () => {
  for (const route of [null, false] as const) {
    const t = await start({ route });
    try {
      assert.is((await t.visitor().fetch('/get/session')).status, 404);
    } finally {
      await t.close();
    }
  }
});

where('mounted under a path, the route is relative to it like any Express middleware', async () => {
  const sync = createSessionSync({ secret });
  const app = express();
  app.use('/api', sync.express());
  const served = await serve(app);
  try {
    const ann = new Jar(served.url);
    assert.equal(await ann.json('/api/get/session'), {
      version: 0,
      tag: null,
      epoch: null,
      expiresIn: null,
      data: {},
    });
    assert.is((await ann.fetch('/get/session')).status, 404);
  } finally {
    await served.close();
    await sync.close();
  }
});

where.run();

// ---

const early = suite('X-Session-Sync: 1 issues the id cookie early, without a record');

early('the first GET with the header gets a cookie and the tag; no record is stored', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    const res = await ann.fetch('/get/session', { headers: { 'x-session-sync': '1' } });
    const id = ann.id();
    assert.ok(id, 'a cookie was issued');
    assert.equal(await res.json(), { version: 0, tag: tagOf(id!), epoch: null, expiresIn: null, data: {} });
    assert.is(res.headers.get('etag'), `"${tagOf(id!)}:null:0"`);
    assert.is(await t.sync.get(id!), undefined, 'no record');
    const again = await ann.fetch('/get/session', { headers: { 'x-session-sync': '1' } });
    assert.equal(again.headers.getSetCookie(), [], 'a valid cookie is never replaced');
    await ann.fetch('/set');
    assert.is(ann.id(), id, 'the first write keeps that id');
    assert.is((await t.sync.get(id!))?.version, 1);
  } finally {
    await t.close();
  }
});

early('without the header (or with another value) no cookie is issued', async () => {
  const t = await start();
  try {
    for (const headers of [{}, { 'x-session-sync': '0' }, { 'x-session-sync': 'yes' }] as Record<string, string>[]) {
      const ann = t.visitor();
      await ann.fetch('/get/session', { headers });
      assert.is(ann.cookies.size, 0, JSON.stringify(headers));
    }
  } finally {
    await t.close();
  }
});

early('a cookie whose session ended is replaced on X-Session-Sync: 1, never on X-Session-Sync: renew', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/set');
    const old = ann.cookies.get('sid')!;
    await t.sync.destroy(ann.id()!);
    // The SDK following a regenerate: the new cookie is on its way, so the dead one stays.
    const renewing = await ann.fetch('/get/session', { headers: { 'x-session-sync': 'renew' } });
    assert.equal(renewing.headers.getSetCookie(), []);
    assert.is(ann.cookies.get('sid'), old);
    // A page loading with a dead cookie: a fresh id, so the next person starts a new session.
    const loading = await ann.fetch('/get/session', { headers: { 'x-session-sync': '1' } });
    assert.is(loading.headers.getSetCookie().length, 1);
    assert.is.not(ann.cookies.get('sid'), old);
    assert.equal(await loading.json(), {
      version: 0,
      tag: tagOf(ann.id()!),
      epoch: null,
      expiresIn: null,
      data: {},
    });
  } finally {
    await t.close();
  }
});

early.run();

// ---

const projection = suite('the route shows only what expose allows');

projection('default: top-level keys starting with _ are hidden', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/set');
    const { data } = await ann.json('/get/session');
    assert.not.ok('_visits' in data);
    assert.ok('_note' in data.user);
  } finally {
    await t.close();
  }
});

projection('a path list covers whole subtrees and keeps parents', async () => {
  const t = await start({ expose: ['user.name', 'prefs', 'missing.path'] });
  try {
    const ann = t.visitor();
    await ann.fetch('/set');
    assert.equal((await ann.json('/get/session')).data, {
      user: { name: 'ann' },
      prefs: { theme: 'dark', lang: 'fr' },
    });
  } finally {
    await t.close();
  }
});

projection('a function projects the data', async () => {
  const t = await start({ expose: (data) => ({ name: (data.user as { name?: string } | undefined)?.name ?? null }) });
  try {
    const ann = t.visitor();
    assert.equal((await ann.json('/get/session')).data, { name: null });
    await ann.fetch('/set');
    assert.equal((await ann.json('/get/session')).data, { name: 'ann' });
  } finally {
    await t.close();
  }
});

projection('sync.snapshot(req) gives the same projection for a server-rendered page', async () => {
  const sync = createSessionSync({ secret, expose: ['prefs'] });
  const t = await startApp(sync, (app) => {
    app.get('/set', (req, res) => {
      req.session.val.prefs = { theme: 'dark' };
      req.session.val.secret = 'server only';
      res.end();
    });
    app.get('/page', async (req, res) => res.json(await sync.snapshot(req)));
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/set');
    // expiresIn counts ms from each answer: the two differ by the time between them.
    const { expiresIn: a, ...page } = await ann.json('/page');
    const { expiresIn: b, ...route } = await ann.json('/get/session');
    assert.equal(page, route);
    assert.ok(Math.abs(a - b) < 1000);
    assert.equal((await ann.json('/page')).data, { prefs: { theme: 'dark' } });
  } finally {
    await t.close();
  }
});

projection.run();

// ---

const cors = suite('CORS follows origins');

cors('an allowed origin gets credentials CORS headers; another gets none', async () => {
  const t = await start({ origins: ['https://app.example'] });
  try {
    const ok = await t.visitor().fetch('/get/session', { headers: { origin: 'https://app.example' } });
    assert.is(ok.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.is(ok.headers.get('access-control-allow-credentials'), 'true');
    assert.match(ok.headers.get('vary')!, /Origin/);
    const evil = await t.visitor().fetch('/get/session', { headers: { origin: 'https://evil.example' } });
    assert.is(evil.headers.get('access-control-allow-origin'), null);
  } finally {
    await t.close();
  }
});

cors('a preflight from an allowed origin is answered; from another it passes through', async () => {
  const t = await start({ origins: ['https://app.example'] });
  try {
    const pre = await t.visitor().fetch('/get/session', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'x-session-sync',
      },
    });
    assert.is(pre.status, 204);
    assert.is(pre.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(pre.headers.get('access-control-allow-headers')!, /X-Session-Sync/i);
    const evil = await t.visitor().fetch('/get/session', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    assert.is(evil.headers.get('access-control-allow-origin'), null);
  } finally {
    await t.close();
  }
});

cors.run();

// ---

const failures = suite('a throwing expose function is an error page, never a crash');

failures('the error reaches the app’s error handler, with and without a session', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const t = await startApp(
    createSessionSync({
      secret,
      expose: () => {
        throw new Error('a bug in expose');
      },
    }),
    (app) => {
      app.get('/set', (req, res) => {
        req.session.val.a = 1;
        res.end();
      });
    },
  );
  try {
    const ann = t.visitor();
    assert.is((await ann.fetch('/get/session')).status, 500, 'no session');
    await ann.fetch('/set');
    const res = await ann.fetch('/get/session');
    assert.is(res.status, 500, 'with a session (loaded asynchronously)');
    assert.is((await res.json()).error, 'a bug in expose');
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await t.close();
  }
});

failures.run();
