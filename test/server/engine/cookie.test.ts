import { createHash, createHmac } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import express from 'express';
import { createSessionSync, MemoryStore, type SessionSyncOptions } from '../../../src/server/index.js';
import { newId, readSessionId, sign, tagOf, unsign } from '../../../src/server/engine/cookie.js';
import { Jar, serve, startApp } from '../../support/http.js';

const secret = 'a test secret that is long enough!!';

/** An app with `/read` and `/write`, sharing `store` when given. */
function start(options: SessionSyncOptions = {}) {
  return startApp(createSessionSync({ secret, ...options }), (app) => {
    app.get('/read', (req, res) => res.json(req.session.val));
    app.get('/write', (req, res) => {
      req.session.val.n = ((req.session.val.n as number) ?? 0) + 1;
      res.json(req.session.val);
    });
  });
}

// ---

const ids = suite('ids, tags and signatures');

ids('an id is 32 random bytes in base64url (43 characters), never repeated', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = newId();
    assert.match(id, /^[A-Za-z0-9_-]{43}$/);
    assert.is(Buffer.from(id, 'base64url').length, 32);
    seen.add(id);
  }
  assert.is(seen.size, 1000);
});

ids('the tag is the first 22 characters of base64url(SHA-256("session-sync/tag/" + id))', () => {
  const id = newId();
  const expected = createHash('sha256').update(`session-sync/tag/${id}`).digest('base64url').slice(0, 22);
  assert.is(tagOf(id), expected);
  assert.is.not(tagOf(newId()), expected);
});

ids('sign is <id>.<issued>.<base64url HMAC-SHA256>; unsign checks every secret', () => {
  const id = newId();
  const issued = 1_795_000_000_123;
  const value = sign(id, 'one', issued);
  const payload = `${id}.${issued.toString(36)}`;
  assert.is(value, `${payload}.${createHmac('sha256', 'one').update(payload).digest('base64url')}`);
  assert.equal(unsign(value, ['one']), { id, issued });
  assert.equal(unsign(value, ['two', 'one']), { id, issued }, 'an older secret still verifies');
  assert.is(unsign(value, ['two']), undefined);
  // A changed issue time breaks the signature: it cannot be moved to reopen adoption.
  const later = value.replace(issued.toString(36), (issued + 86_400_000).toString(36));
  assert.is(unsign(later, ['one']), undefined);
});

ids('a cookie of the older <id>.<mac> form still verifies, with no issue time', () => {
  const id = newId();
  const legacy = `${id}.${createHmac('sha256', 'one').update(id).digest('base64url')}`;
  assert.equal(unsign(legacy, ['one']), { id, issued: 0 });
  assert.is(unsign(legacy, ['two']), undefined);
});

ids('unsign refuses tampered and malformed values', () => {
  const id = newId();
  const value = sign(id, 'one');
  const flip = (s: string, at: number): string => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
  for (const bad of [
    flip(value, 0), // the id
    flip(value, 60), // the signature
    value.slice(0, -1),
    value + 'A',
    id,
    `${id}.`,
    `.${value}`,
    value.replace('.', '-'),
    '',
    'garbage',
    'a.b',
    `${'é'.repeat(43)}.${value.slice(44)}`,
    `${id}.${'='.repeat(43)}`,
    `${id}.ZZ.${value.slice(-43)}`, // an issue time that is not lowercase base 36
    `${id}.${'1'.repeat(12)}.${value.slice(-43)}`, // an issue time too long
    `s:${value}`, // express-session's prefix
  ]) {
    assert.is(unsign(bad, ['one']), undefined, JSON.stringify(bad));
  }
});

ids('readSessionId tolerates odd Cookie headers', () => {
  const value = sign(newId(), 'one');
  assert.is(readSessionId(undefined, 'sid', ['one']), undefined);
  assert.is(readSessionId('', 'sid', ['one']), undefined);
  assert.is(readSessionId('sid', 'sid', ['one']), undefined);
  assert.is(readSessionId('sid=%E0%A4%A', 'sid', ['one']), undefined);
  assert.is(readSessionId(`other=1; sid=${value}; x=2`, 'sid', ['one'])?.id, value.slice(0, 43));
  assert.is(readSessionId([`sid=${value}`], 'sid', ['one'])?.id, value.slice(0, 43));
  assert.is(readSessionId(`sid=${value}${'x'.repeat(9000)}`, 'sid', ['one']), undefined, 'an oversized value');
  assert.is(
    readSessionId(`pad=${'x'.repeat(9000)}; sid=${value}`, 'sid', ['one'])?.id,
    value.slice(0, 43),
    'large other cookies',
  );
});

ids.run();

// ---

const refused = suite('a bad cookie means no session — never an error page');

refused('tampered, foreign-secret, malformed and oversized cookies read as no session', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/write');
    const good = ann.cookies.get('sid')!;
    const id = good.slice(0, 43);
    const flipped = (at: number): string => good.slice(0, at) + (good[at] === 'x' ? 'y' : 'x') + good.slice(at + 1);
    const cases: Record<string, string> = {
      'tampered id': `sid=${flipped(3)}`,
      'tampered signature': `sid=${flipped(70)}`,
      'foreign secret': `sid=${sign(id, 'someone else’s secret, long enough....')}`,
      unsigned: `sid=${id}`,
      malformed: 'sid=%%%;;==',
      'not base64': `sid=${'*'.repeat(43)}.${good.slice(44)}`,
      oversized: `sid=${good}${'j'.repeat(10_000)}`,
    };
    for (const [name, cookie] of Object.entries(cases)) {
      const res = await t.visitor().fetch('/read', { headers: { cookie } });
      assert.is(res.status, 200, name);
      assert.equal(await res.json(), {}, name);
      assert.equal(res.headers.getSetCookie(), [], `${name}: a reader gets no cookie`);
      const route = await t.visitor().fetch('/get/session', { headers: { cookie } });
      assert.equal(
        await route.json(),
        { version: 0, tag: null, epoch: null, expiresIn: null, data: {} },
        `${name}: the route`,
      );
    }
    // Large cookies of the rest of the site do not lose the session.
    const big = await t.visitor().json('/read', { headers: { cookie: `junk=${'j'.repeat(10_000)}; sid=${good}` } });
    assert.equal(big, { n: 1 });
    // A write with a bad cookie starts a new session under a new id; the real one is untouched.
    const intruder = new Jar(t.url);
    intruder.cookies.set('sid', flipped(70));
    assert.equal(await intruder.json('/write'), { n: 1 });
    assert.ok(intruder.id() && intruder.id() !== id);
    assert.equal((await t.sync.get(id))?.data, { n: 1 });
    assert.equal(await ann.json('/read'), { n: 1 });
    assert.equal(t.errors, []);
  } finally {
    await t.close();
  }
});

refused('a rotated secret: the old one still verifies when listed second, the new one signs', async () => {
  const store = new MemoryStore();
  const before = await start({ secret: 'the old secret, long enough for tests', store });
  const after = await start({
    secret: ['the new secret, long enough for tests', 'the old secret, long enough for tests'],
    store,
  });
  const newOnly = await start({ secret: 'the new secret, long enough for tests', store });
  try {
    const ann = before.visitor();
    await ann.json('/write');
    const oldCookie = ann.cookies.get('sid')!;
    const same = new Jar(after.url);
    same.cookies.set('sid', oldCookie);
    assert.equal(await same.json('/write'), { n: 2 }, 'the old cookie still works after rotation');
    assert.equal(same.lastSetCookies, [], 'and keeps its id (no new cookie)');
    const bob = after.visitor();
    await bob.fetch('/write');
    const bobCookie = bob.cookies.get('sid')!;
    assert.is(unsign(bobCookie, ['the new secret, long enough for tests'])?.id, bob.id());
    assert.is(
      unsign(bobCookie, ['the old secret, long enough for tests']),
      undefined,
      'new cookies use the new secret',
    );
    const dropped = new Jar(newOnly.url);
    dropped.cookies.set('sid', oldCookie);
    assert.equal(await dropped.json('/read'), {}, 'once the old secret is dropped, its cookies are no session');
  } finally {
    await before.close();
    await after.close();
    await newOnly.close();
    await store.close();
  }
});

refused.run();

// ---

const orphan = suite('a validly signed id without a record');

orphan('holds no data, and its first write creates the record under the same id (no new cookie)', async () => {
  const t = await start();
  try {
    const id = newId();
    const ann = new Jar(t.url);
    ann.cookies.set('sid', sign(id, secret));
    assert.equal(await ann.json('/read'), {});
    assert.equal(ann.lastSetCookies, []);
    assert.equal(
      await ann.json('/get/session'),
      { version: 0, tag: tagOf(id), epoch: null, expiresIn: null, data: {} },
      'the tag is known without a record',
    );
    assert.is(await t.sync.get(id), undefined);
    assert.equal(await ann.json('/write'), { n: 1 });
    assert.equal(ann.lastSetCookies, [], 'the same id is kept');
    assert.equal((await t.sync.get(id))?.data, { n: 1 });
  } finally {
    await t.close();
  }
});

orphan('a destroyed session’s cookie, replayed, holds nothing and a write revives only the id', async () => {
  const sync = createSessionSync({ secret });
  const t = await startApp(sync, (app) => {
    app.get('/write', (req, res) => {
      req.session.val.secret = 'x';
      res.end();
    });
    app.get('/read', (req, res) => res.json(req.session.val));
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/write');
    await sync.destroy(ann.id()!);
    assert.equal(await ann.json('/read'), {});
  } finally {
    await t.close();
  }
});

orphan.run();

// ---

const attributes = suite('cookie attributes');

attributes('HttpOnly, SameSite=Lax, Path=/, Max-Age = absolute in seconds, no Secure over HTTP', async () => {
  const t = await start();
  try {
    const ann = t.visitor();
    await ann.fetch('/write');
    const [cookie] = ann.lastSetCookies;
    assert.is(ann.lastSetCookies.length, 1);
    assert.is(cookie!.name, 'sid');
    assert.match(cookie!.value, /^[A-Za-z0-9_-]{43}\.[0-9a-z]{1,11}\.[A-Za-z0-9_-]{43}$/);
    assert.is(cookie!.attributes.httponly, '');
    assert.is(cookie!.attributes.samesite?.toLowerCase(), 'lax');
    assert.is(cookie!.attributes.path, '/');
    assert.is(cookie!.attributes['max-age'], String(30 * 24 * 3600));
    assert.not.ok('secure' in cookie!.attributes);
    assert.not.ok('domain' in cookie!.attributes);
  } finally {
    await t.close();
  }
});

attributes('Max-Age follows absolute, or cookie.maxAge', async () => {
  for (const [options, expected] of [
    [{ absolute: 2 * 3600_000 }, '7200'],
    [{ absolute: 2 * 3600_000, cookie: { maxAge: 60_000 } }, '60'],
  ] as const) {
    const t = await start(options);
    try {
      const ann = t.visitor();
      await ann.fetch('/write');
      assert.is(ann.lastSetCookies[0]!.attributes['max-age'], expected);
    } finally {
      await t.close();
    }
  }
});

attributes('Secure when the request is HTTPS behind a trusted proxy, not when the proxy is untrusted', async () => {
  for (const trust of [true, false]) {
    const sync = createSessionSync({ secret });
    const app = express();
    if (trust) app.set('trust proxy', true);
    app.use(sync.express());
    app.get('/write', (req, res) => {
      req.session.val.n = 1;
      res.end();
    });
    const served = await serve(app);
    try {
      const ann = new Jar(served.url);
      await ann.fetch('/write', { headers: { 'x-forwarded-proto': 'https' } });
      assert.is('secure' in ann.lastSetCookies[0]!.attributes, trust, `trust proxy ${trust}`);
    } finally {
      await served.close();
      await sync.close();
    }
  }
});

attributes('cookie options: name, domain, sameSite, secure, path', async () => {
  const t = await start({
    cookie: { name: 'app.sid', domain: 'example.test', sameSite: 'strict', secure: true, path: '/' },
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/write');
    const [cookie] = ann.lastSetCookies;
    assert.is(cookie!.name, 'app.sid');
    assert.is(cookie!.attributes.domain, 'example.test');
    assert.is(cookie!.attributes.samesite?.toLowerCase(), 'strict');
    assert.ok('secure' in cookie!.attributes, 'secure: true even over HTTP');
    assert.equal(await ann.json('/write'), { n: 2 }, 'the renamed cookie is read back');
    const other = new Jar(t.url);
    other.cookies.set('sid', ann.cookies.get('app.sid')!);
    assert.equal(await other.json('/read'), {}, 'the default name is not read');
  } finally {
    await t.close();
  }
});

attributes('one Set-Cookie of ours per response, other cookies the app sets are kept', async () => {
  const t = await startApp(createSessionSync({ secret }), (app) => {
    app.get('/both', async (req, res) => {
      res.cookie('theme', 'dark');
      req.session.val.n = 1;
      await req.session.regenerate();
      req.session.val.m = 2;
      res.cookie('lang', 'fr');
      res.end();
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/both');
    const names = ann.lastSetCookies.map((c) => c.name).sort();
    assert.equal(names, ['lang', 'sid', 'theme']);
    assert.equal((await t.sync.get(ann.id()!))?.data, { n: 1, m: 2 });
  } finally {
    await t.close();
  }
});

attributes.run();
