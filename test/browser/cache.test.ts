import '../setup/env.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Status } from '../../src/browser/index.js';
import { cleanup, deadSocket, fakeRoute, open, until } from '../support/fake-route.js';

let count = 0;
const unique = (): string => `cache-test-${process.pid}-${count++}`;

// ---

const cached = suite('a reload starts from the IndexedDB cache at once');
cached.after.each(cleanup);

cached('the second page shows the cached session as cached, then offline, and keeps it', async () => {
  const name = unique();
  const route = fakeRoute({ version: 3, tag: 'T', data: { user: { name: 'Ann' } } });
  const first = open({ fetch: route.fetch, socket: false, name, channel: false });
  await until(() => first.status === 'live', 'the first GET');
  first.close();

  route.offline = true;
  const statuses: Status[] = [];
  const second = open({ fetch: route.fetch, socket: false, name, channel: false });
  second.on('status', (s) => statuses.push(s));
  assert.equal(await second.ready, { user: { name: 'Ann' } });
  assert.is(second.version, 3);
  assert.is(second.tag, 'T');
  await until(() => second.status === 'offline', 'offline');
  assert.equal(statuses, ['cached', 'offline']);
  assert.equal(second.data, { user: { name: 'Ann' } });
  assert.is(route.requests.at(-1)!.get('if-none-match'), '"T:null:3"', 'the cached version is revalidated');
  second.close();
});

cached('maxAge: a cache older than that is not shown', async () => {
  const name = unique();
  const route = fakeRoute({ version: 3, tag: 'T', data: { a: 1 } });
  const first = open({ fetch: route.fetch, socket: false, name, channel: false });
  await until(() => first.status === 'live', 'the first GET');
  first.close();
  await new Promise((r) => setTimeout(r, 30));
  route.offline = true;
  const second = open({ fetch: route.fetch, socket: false, name, channel: false, cache: { maxAge: 10 } });
  await until(() => second.status === 'offline', 'offline');
  assert.equal(second.data, {});
  assert.is(route.requests.at(-1)!.get('if-none-match'), null);
  let ready = false;
  second.ready.then(() => (ready = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.is(ready, false, 'no data, so not ready');
  second.close();
  const third = open({ fetch: route.fetch, socket: false, name, channel: false, cache: { maxAge: 60_000 } });
  assert.equal(await third.ready, { a: 1 }, 'a younger cache is shown');
  third.close();
});

cached('exclude: listed paths never reach IndexedDB, and the next page asks for the whole session', async () => {
  const name = unique();
  const route = fakeRoute({
    version: 5,
    tag: 'T',
    data: { profile: { email: 'a@b.c', name: 'Ann' }, token: 'secret' },
  });
  const cache = { exclude: ['profile.email', ['token']] };
  const first = open({ fetch: route.fetch, socket: false, name, channel: false, cache });
  await until(() => first.status === 'live', 'the first GET');
  assert.is(first.get('profile.email'), 'a@b.c', 'the live mirror has everything');
  first.close();

  const stored = JSON.stringify(await idbDump());
  assert.not.ok(stored.includes('a@b.c'), stored);
  assert.not.ok(stored.includes('secret'), stored);
  assert.ok(stored.includes('Ann'));

  route.offline = true;
  const second = open({ fetch: route.fetch, socket: false, name, channel: false, cache });
  assert.equal(await second.ready, { profile: { name: 'Ann' } });
  await until(() => second.status === 'offline', 'offline');
  assert.is(route.requests.at(-1)!.get('if-none-match'), null, 'a partial copy is never revalidated with 304');
  route.offline = false;
  await second.refresh();
  assert.equal(second.data, route.snapshot.data);
  second.close();
});

cached('cache: false stores nothing', async () => {
  const name = unique();
  const route = fakeRoute({ version: 2, tag: 'T', data: { nothing: 'kept' } });
  const first = open({ fetch: route.fetch, socket: false, name, channel: false, cache: false });
  await until(() => first.status === 'live', 'the first GET');
  assert.is(first.persistent, false);
  first.close();
  assert.not.ok(JSON.stringify(await idbDump()).includes('nothing'));
});

cached('initial from snapshot(req) is shown at once, before any I/O', async () => {
  const route = fakeRoute({ version: 9, tag: 'T', data: { a: 2 } });
  const s = open({
    initial: { version: 8, tag: 'T', data: { a: 1 } },
    fetch: route.fetch,
    socket: false,
    name: unique(),
    channel: false,
  });
  assert.is(s.status, 'cached');
  assert.equal(s.data, { a: 1 });
  assert.equal(await s.ready, { a: 1 });
  await until(() => s.data.a === 2, 'the GET');
  assert.is(s.version, 9);
  s.close();
});

cached.run();

// ---

const outbox = suite('writes wait in the IndexedDB outbox across a reload');
outbox.after.each(cleanup);

outbox('a write made offline is shown again after a reload, still pending', async () => {
  const name = unique();
  const route = fakeRoute({ version: 1, tag: 'T', data: { n: 1 } });
  route.offline = true;
  const socket = deadSocket();
  const first = open({ initial: route.snapshot, fetch: route.fetch, socket, name, channel: false });
  first.set('n', 2);
  first.set('draft.text', 'hello');
  // The "reload" comes right after the writes: nothing may be debounced.
  first.close();
  socket.disconnect();

  const again = deadSocket();
  const second = open({ initial: route.snapshot, fetch: route.fetch, socket: again, name, channel: false });
  await until(() => second.pending === 2, 'the outbox to load');
  assert.equal(second.data, { n: 2, draft: { text: 'hello' } });
  assert.is(second.version, 1);
  second.close();
  again.disconnect();
});

outbox(
  'a different tag seen without notice drops the old outbox and cache: no replay into another session',
  async () => {
    const name = unique();
    const route = fakeRoute({ version: 4, tag: 'ANN', data: { owner: 'ann' } });
    const socket = deadSocket();
    const ann = open({ fetch: route.fetch, socket, name, channel: false });
    await until(() => ann.tag === 'ANN', 'the GET');
    const dropped = ann.set('cart', ['ann-item']);
    ann.close();
    socket.disconnect();

    // Meanwhile someone else signed in on this browser.
    route.snapshot = { version: 2, tag: 'BOB', data: { owner: 'bob' } };
    const again = deadSocket();
    const bob = open({ fetch: route.fetch, socket: again, name, channel: false });
    assert.equal(await bob.ready, { owner: 'ann', cart: ['ann-item'] }, 'the cache is shown first');
    await until(() => bob.tag === 'BOB', 'the GET');
    assert.equal(bob.data, { owner: 'bob' });
    assert.is(bob.pending, 0);
    bob.close();
    again.disconnect();
    const stored = JSON.stringify(await idbDump());
    assert.not.ok(stored.includes('ann-item'), stored);
    void dropped;
  },
);

outbox('a tag appearing where there was none (null → T) is adoption: the outbox stays', async () => {
  const name = unique();
  const route = fakeRoute({ version: 0, tag: null, data: {} });
  const socket = deadSocket();
  const first = open({ fetch: route.fetch, socket, name, channel: false });
  await first.ready; // the GET (the dead socket turns the status to offline right after)
  first.set('prefs.theme', 'dark');
  first.close();
  socket.disconnect();

  route.snapshot = { version: 0, tag: 'NEW', data: {} };
  const again = deadSocket();
  const second = open({ fetch: route.fetch, socket: again, name, channel: false });
  await until(() => second.tag === 'NEW', 'the GET');
  assert.is(second.pending, 1);
  assert.equal(second.data, { prefs: { theme: 'dark' } });
  second.close();
  again.disconnect();
});

outbox.run();

/** Everything in the SDK's IndexedDB database, for "was it stored" checks. */
async function idbDump(): Promise<unknown[]> {
  const { entries, createStore } = await import('idb-keyval');
  return entries(createStore('session-sync', 'kv'));
}
