import '../setup/env.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SessionSyncError, type Session, type SessionOptions, type SyncSocket } from '../../src/browser/index.js';
import type { JsonObject } from '../../src/shared/index.js';
import { browser, type Browser } from '../support/cookie-fetch.js';
import { cleanup, deadSocket, fakeRoute, open, until } from '../support/fake-route.js';
import { startServer, type TestServer } from '../support/server.js';

let count = 0;
const unique = (): string => `lifecycle-test-${process.pid}-${count++}`;
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What the SDK keeps in IndexedDB for the mirrors named `name`, as text, for "is it still stored" checks. */
async function stored(name: string): Promise<string> {
  const { entries, createStore } = await import('idb-keyval');
  const all = await entries(createStore('session-sync', 'kv'));
  return JSON.stringify(all.filter(([key]) => String(key).startsWith(name)));
}

/** Waits until an async check holds. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await pause(10);
  }
}

// Sockets handed to a mirror stay connected when it closes: these are disconnected after each test.
const sockets: SyncSocket[] = [];
const done = (): void => {
  cleanup();
  for (const socket of sockets.splice(0)) socket.disconnect();
};

/** A mirror of a real server for browser `b`. */
function mirror(b: Browser, t: TestServer, options: SessionOptions<JsonObject>): Session<JsonObject> {
  const socket = options.socket ?? b.socket();
  if (socket) sockets.push(socket);
  return open({ url: t.url, fetch: b.fetch, channel: false, ...options, socket });
}

/** Counts the `session:mutate` packets a server receives. */
function mutations(t: TestServer): string[] {
  const seen: string[] = [];
  t.io.on('connection', (socket) =>
    socket.use(([event, payload], next) => {
      if (event === 'session:mutate') seen.push((payload as { mutation: string }).mutation);
      next();
    }),
  );
  return seen;
}

// ---

const authority = suite('the server is authoritative: a copy of a session that no longer exists goes');
authority.after.each(done);

authority(
  'another record under the same tag (another epoch): cache and outbox wiped once the route answered',
  async () => {
    const name = unique();
    const route = fakeRoute({ version: 3, tag: 'T', epoch: 1000, expiresIn: 60_000, data: { owner: 'alice' } });
    const first = open({ fetch: route.fetch, socket: deadSocket(), name, channel: false });
    await until(() => first.tag === 'T', 'the GET');
    const dropped = first.set('prefs', { theme: 'alice-dark' });
    first.close();
    await eventually(async () => (await stored(name)).includes('alice-dark'), 'the write stored');

    // The session ended and the id came back as a new record (a server that forgot it).
    // A higher version than the copy's, so only the epoch tells them apart.
    route.snapshot = { version: 5, tag: 'T', epoch: 2000, expiresIn: 60_000, data: { owner: 'bob' } };
    const second = open({ fetch: route.fetch, socket: deadSocket(), name, channel: false });
    await until(() => second.data.owner === 'bob', 'the route answer');
    assert.is(second.pending, 0);
    assert.equal(second.data, { owner: 'bob' });
    assert.is(route.requests.at(-1)!.get('if-none-match'), '"T:1000:3"', 'asked with the record it held');
    await pause(30);
    const text = await stored(name);
    assert.not.ok(text.includes('alice'), text);
    void dropped;
  },
);

authority('no record yet, then a record (null → epoch) is adoption: the outbox stays', async () => {
  const name = unique();
  const route = fakeRoute({ version: 0, tag: 'T', data: {} });
  const first = open({ fetch: route.fetch, socket: deadSocket(), name, channel: false });
  await until(() => first.tag === 'T', 'the GET');
  first.set('prefs.theme', 'dark');
  first.close();

  route.snapshot = { version: 1, tag: 'T', epoch: 5000, expiresIn: 60_000, data: { visits: 1 } };
  const second = open({ fetch: route.fetch, socket: deadSocket(), name, channel: false });
  await until(() => second.version === 1, 'the route answer');
  assert.is(second.pending, 1);
  assert.equal(second.data, { visits: 1, prefs: { theme: 'dark' } });
});

authority(
  'a version below the cached one for the same tag (a server that forgot it) wipes cache and outbox',
  async () => {
    const name = unique();
    const route = fakeRoute({ version: 6, tag: 'T', data: { n: 6, note: 'old' } });
    const first = open({ fetch: route.fetch, socket: deadSocket(), name, channel: false });
    await until(() => first.version === 6, 'the GET');
    first.set('prefs.theme', 'old-write');
    first.close();

    route.snapshot = { version: 3, tag: 'T', data: { n: 3 } };
    const second = open({ fetch: route.fetch, socket: deadSocket(), name, channel: false });
    await until(() => second.version === 3, 'the route answer');
    assert.equal(second.data, { n: 3 });
    assert.is(second.pending, 0);
    await pause(30);
    assert.not.ok((await stored(name)).includes('old-write'));
  },
);

authority('a copy past its idle deadline is never shown, not even at startup', async () => {
  const name = unique();
  const route = fakeRoute({ version: 2, tag: 'T', epoch: 1000, expiresIn: 40, data: { secret: 'alice' } });
  const first = open({ fetch: route.fetch, socket: false, name, channel: false });
  await until(() => first.version === 2, 'the GET');
  first.close();
  await pause(60);

  route.offline = true;
  const seen: unknown[] = [];
  const second = open({ fetch: route.fetch, socket: deadSocket(), name, channel: false });
  second.subscribe((d) => seen.push(d));
  let ready = false;
  second.ready.then(() => (ready = true));
  await until(() => second.status === 'offline', 'offline');
  await pause(30);
  assert.equal(seen, [{}], 'never shown');
  assert.is(ready, false);
  assert.is(second.tag, null);
  assert.not.ok((await stored(name)).includes('alice'), 'and gone from IndexedDB');
});

authority('a copy within its deadline is shown at once, and the deadline moves with every answer', async () => {
  const name = unique();
  const route = fakeRoute({ version: 2, tag: 'T', epoch: 1000, expiresIn: 60_000, data: { a: 1 } });
  const first = open({ fetch: route.fetch, socket: false, name, channel: false });
  await until(() => first.version === 2, 'the GET');
  first.close();
  route.offline = true;
  const second = open({ fetch: route.fetch, socket: false, name, channel: false });
  assert.equal(await second.ready, { a: 1 });
});

authority('another tab that meets another record of this tag wipes the copy here too', async () => {
  const name = unique();
  const start = { version: 4, tag: 'T', epoch: 1000, expiresIn: 60_000, data: { owner: 'alice' } };
  const a = fakeRoute(start);
  const b = fakeRoute(start);
  b.offline = true;
  const tabA = open({ initial: start, fetch: a.fetch, socket: false, name, cache: false });
  const tabB = open({ initial: start, fetch: b.fetch, socket: deadSocket(), name, cache: false });
  await until(() => tabB.status === 'offline', 'tab B offline');
  tabB.set('prefs.theme', 'alice-dark');
  a.snapshot = { version: 1, tag: 'T', epoch: 9000, expiresIn: 60_000, data: {} };
  await tabA.refresh();
  await until(() => tabB.version === 1, 'tab B to take the new record');
  assert.equal(tabB.data, {});
  assert.is(tabB.pending, 0);
});

authority('after a MemoryStore restart with the same secret the mirror converges on the server', async () => {
  const one = await startServer();
  const two = await startServer();
  try {
    const name = unique();
    const b = one.browser();
    const s = mirror(b, one, { name });
    await until(() => s.status === 'live', 'live');
    for (let i = 1; i <= 6; i++) await s.set('n', i);
    await until(() => s.version === 6, 'version 6');
    s.close();
    // The same browser (cookie jar, IndexedDB) meets a server that lost every record.
    const again = browser(two.url, b.jar);
    const t = mirror(again, two, { name });
    await until(() => t.status === 'live', 'live on the new server');
    assert.equal(t.data, {});
    await t.set('n', 1);
    const server = await again.jar.json(`${two.url}/get/session`);
    assert.equal(server.data, { n: 1 });
    assert.is(t.version, server.version, 'the mirror holds the server version, not the old 6');
  } finally {
    await one.close();
    await two.close();
  }
});

authority.run();

// ---

const crossing = suite("an outbox never crosses sessions: one person's pending write never reaches another's");
crossing.after.each(done);

crossing('cookies cleared, then a server-rendered page with tag null: A’s pending write is dropped', async () => {
  const t = await startServer();
  const seen = mutations(t);
  try {
    const name = unique();
    const alice = t.browser();
    // The route issues the cookie to the SDK's GET (X-Session-Sync), as the page's first load did.
    const initial = await alice.jar.json('/get/session', { headers: { 'X-Session-Sync': '1' } });
    assert.type(initial.tag, 'string');
    const a = mirror(alice, t, { name, initial, socket: deadSocket() });
    a.set('prefs.theme', 'dark');
    a.close();
    await eventually(async () => (await stored(name)).includes('dark'), 'the write stored');

    // The next person: no cookie, a page rendered with snapshot(req) = { tag: null }.
    const bob = t.browser();
    const b = mirror(bob, t, { name, initial: { version: 0, tag: null, data: {} } });
    assert.is(b.pending, 0);
    await until(() => b.status === 'live', 'live');
    assert.is(b.pending, 0);
    assert.equal(b.data, {});
    await b.set('cart', ['bob-item']);
    await pause(50);
    assert.equal((await bob.jar.json('/get/session')).data, { cart: ['bob-item'] });
    assert.is(seen.length, 1, 'only Bob’s own write was sent');
    assert.not.ok((await stored(name)).includes('dark'));
  } finally {
    await t.close();
  }
});

crossing('a page from initial that gets 304 and never connects stores its write with its session', async () => {
  const name = unique();
  const start = { version: 2, tag: 'ALICE', epoch: 1000, expiresIn: 60_000, data: { owner: 'alice' } };
  const route = fakeRoute(start);
  const a = open({ initial: start, fetch: route.fetch, socket: deadSocket(), name, channel: false });
  await until(() => route.requests.length === 1, 'the GET');
  await pause(20);
  assert.is(route.requests[0]!.get('if-none-match'), '"ALICE:1000:2"', 'answered 304');
  a.set('prefs.theme', 'alice-dark');
  a.close();
  await eventually(async () => (await stored(name)).includes('alice-dark'), 'the write stored');
  const record = JSON.parse(await stored(name)).find(([key]: [string]) => key.startsWith(name))[1];
  assert.is(record.tag, 'ALICE', 'the write is stored beside the session it belongs to');
  assert.equal(
    record.writes.map((w: { tag: string }) => w.tag),
    ['ALICE'],
  );

  // The next person opens the page without a cookie: the route gives a new session.
  route.snapshot = { version: 0, tag: 'BOB', data: {} };
  const b = open({ fetch: route.fetch, socket: deadSocket(), name, channel: false });
  await until(() => b.tag === 'BOB', 'the route answer');
  assert.is(b.pending, 0);
  assert.equal(b.data, {});
  await pause(30);
  assert.not.ok((await stored(name)).includes('alice-dark'));
});

crossing('writes made before any tag go into the first session adopted', async () => {
  const name = unique();
  const route = fakeRoute();
  route.offline = true;
  const first = open({ fetch: route.fetch, socket: deadSocket(), name, channel: false });
  await until(() => first.status === 'offline', 'offline');
  first.set('prefs.theme', 'dark');
  first.close();
  route.offline = false;
  route.snapshot = { version: 0, tag: 'NEW', data: {} };
  const second = open({ fetch: route.fetch, socket: deadSocket(), name, channel: false });
  await until(() => second.tag === 'NEW', 'adopted');
  assert.is(second.pending, 1);
  assert.equal(second.data, { prefs: { theme: 'dark' } });
});

crossing.run();

// ---

const notice = suite('a write refused with ended waits for the notice that says why');
notice.after.each(done);

/** Makes the server answer the next `session:mutate` with `ended`, as a write racing a sign-in is. */
function refuseNextWrite(t: TestServer): { refused: number } {
  const state = { refused: 0 };
  t.io.on('connection', (socket) =>
    socket.use(([event, , ack], next) => {
      if (event !== 'session:mutate' || state.refused > 0) return next();
      state.refused++;
      (ack as (a: unknown) => void)({ ok: false, code: 'ended', message: 'session-sync: this session has ended' });
    }),
  );
  return state;
}

notice('regenerated: the refused write is replayed into the new session', async () => {
  const t = await startServer();
  const refusal = refuseNextWrite(t);
  try {
    const b = t.browser();
    const s = mirror(b, t, { name: unique() });
    await until(() => s.status === 'live', 'live');
    const oldTag = s.tag;
    const errors: unknown[] = [];
    s.on('error', (e) => errors.push(e));
    const done = s.set('prefs.theme', 'victim-dark');
    await until(() => refusal.refused === 1, 'the refusal');
    await pause(30);
    assert.equal(s.data, { prefs: { theme: 'victim-dark' } }, 'held, not rolled back');
    assert.is(s.pending, 1);
    const { tag } = await b.jar.json<{ tag: string }>('/regenerate', { method: 'POST' });
    assert.is.not(tag, oldTag);
    const version = await done;
    assert.is(typeof version, 'number');
    await until(() => s.tag === tag && s.status === 'live' && s.pending === 0, 'the new session, live');
    assert.equal((await b.jar.json('/get/session')).data, { prefs: { theme: 'victim-dark' } });
    assert.equal(errors, []);
  } finally {
    await t.close();
  }
});

notice('any other end: the refused write goes with the cache, then ended', async () => {
  const t = await startServer();
  const refusal = refuseNextWrite(t);
  try {
    const b = t.browser();
    const s = mirror(b, t, { name: unique() });
    await until(() => s.status === 'live', 'live');
    const done = s.set('prefs.theme', 'dark');
    await until(() => refusal.refused === 1, 'the refusal');
    await b.jar.fetch('/destroy', { method: 'POST' });
    await until(() => s.status === 'ended', 'ended');
    assert.equal(s.data, {});
    assert.is(s.pending, 0);
    try {
      await done;
      assert.unreachable('resolved');
    } catch (err) {
      assert.is((err as SessionSyncError).code, 'ended');
    }
  } finally {
    await t.close();
  }
});

notice('no notice within the bound: the session counts as ended, never a wait forever', async () => {
  const t = await startServer();
  const refusal = refuseNextWrite(t);
  try {
    const b = t.browser();
    const s = mirror(b, t, { name: unique() });
    await until(() => s.status === 'live', 'live');
    const ended: string[] = [];
    s.on('ended', (reason) => ended.push(reason));
    s.set('prefs.theme', 'dark');
    await until(() => refusal.refused === 1, 'the refusal');
    assert.is(s.status, 'live', 'waiting, not yet ended');
    await until(() => s.status === 'ended', 'ended after the bound', 8000);
    assert.equal(ended, ['expired']);
    assert.is(s.pending, 0);
  } finally {
    await t.close();
  }
});

notice.run();
