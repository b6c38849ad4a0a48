import '../setup/env.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cleanup, deadSocket, fakeRoute, open, until } from '../support/fake-route.js';

let count = 0;
const unique = (): string => `tabs-test-${process.pid}-${count++}`;

// ---

const tabs = suite('tabs of one origin follow each other through BroadcastChannel');
tabs.after.each(cleanup);

tabs(
  'a newer server state reached by one tab is taken by the other, which re-applies its own pending writes',
  async () => {
    const name = unique();
    const start = { version: 1, tag: 'T', data: { count: 1, prefs: { theme: 'light' } } };
    const a = fakeRoute(start);
    const b = fakeRoute(start);
    b.offline = true; // only tab A can reach the server
    const socket = deadSocket();
    const tabA = open({ initial: start, fetch: a.fetch, socket: false, name, cache: false });
    const tabB = open({ initial: start, fetch: b.fetch, socket, name, cache: false });
    await until(() => tabB.status === 'offline', 'tab B offline');
    tabB.set('prefs.theme', 'dark');

    a.snapshot = { version: 2, tag: 'T', data: { count: 2, prefs: { theme: 'light' } } };
    await tabA.refresh();
    await until(() => tabB.version === 2, 'tab B to take version 2');
    assert.equal(tabB.data, { count: 2, prefs: { theme: 'dark' } });
    assert.is(tabB.pending, 1);
    assert.equal(tabA.data, a.snapshot.data);

    // Older news and another session's state are ignored.
    a.snapshot = { version: 9, tag: 'OTHER', data: { count: 99 } };
    await tabA.refresh();
    await new Promise((r) => setTimeout(r, 30));
    assert.is(tabB.version, 2);
    assert.is(tabB.tag, 'T');
    tabA.close();
    tabB.close();
    socket.disconnect();
  },
);

tabs('different names do not hear each other, and a closed tab hears nothing', async () => {
  const start = { version: 1, tag: 'T', data: { n: 1 } };
  const a = fakeRoute(start);
  const tabA = open({ initial: start, fetch: a.fetch, socket: false, name: unique(), cache: false });
  const other = open({
    initial: start,
    fetch: fakeRoute(start).fetch,
    socket: false,
    name: unique(),
    cache: false,
  });
  const shared = unique();
  const sender = open({ initial: start, fetch: a.fetch, socket: false, name: shared, cache: false });
  const closed = open({
    initial: start,
    fetch: fakeRoute(start).fetch,
    socket: false,
    name: shared,
    cache: false,
  });
  closed.close();
  a.snapshot = { version: 2, tag: 'T', data: { n: 2 } };
  await tabA.refresh();
  await sender.refresh();
  await new Promise((r) => setTimeout(r, 30));
  assert.is(other.version, 1);
  assert.is(closed.version, 1);
  tabA.close();
  other.close();
  sender.close();
});

tabs.run();
