import '../setup/env.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SessionSyncError, type Session, type SyncSocket } from '../../src/browser/index.js';
import type { JsonObject } from '../../src/shared/index.js';
import type { Browser } from '../support/cookie-fetch.js';
import { cleanup, deadSocket, fakeRoute, open, until } from '../support/fake-route.js';
import { startServer, type TestServer } from '../support/server.js';

let count = 0;
const unique = (): string => `increment-test-${process.pid}-${count++}`;

const sockets: SyncSocket[] = [];
const done = (): void => {
  cleanup();
  for (const socket of sockets.splice(0)) socket.disconnect();
};
function mirror(b: Browser, t: TestServer, name: string, socket: SyncSocket = b.socket()): Session<JsonObject> {
  sockets.push(socket);
  return open({ url: t.url, fetch: b.fetch, socket, name, channel: `increment-${name}` });
}

// ---

const counting = suite('increment() adds, optimistically, and never loses a concurrent step');
counting.after.each(done);

counting('shown at once, stored on the server, resolved with the server version', async () => {
  const t = await startServer();
  try {
    const b = t.browser();
    const s = mirror(b, t, unique());
    await until(() => s.status === 'live', 'live');
    const first = s.increment('n');
    assert.equal(s.data, { n: 1 });
    s.increment('n', 4);
    s.increment(['n'], -2);
    assert.equal(s.data, { n: 3 });
    assert.is(s.pending, 3);
    assert.is(typeof (await first), 'number');
    await until(() => s.pending === 0, 'all acknowledged');
    const server = await b.jar.json('/get/session');
    assert.equal(server.data, { n: 3 });
    assert.is(server.version, 3, 'three changes, each applied once');
    assert.equal(s.data, { n: 3 });
  } finally {
    await t.close();
  }
});

counting('pending increments add on top of a newer server state (10 with one pending +1 shows 11)', async () => {
  const route = fakeRoute({ version: 1, tag: 'T', data: { n: 5 } });
  const s = open({ initial: route.snapshot, fetch: route.fetch, socket: deadSocket(), name: unique(), channel: false });
  s.increment('n');
  assert.equal(s.data, { n: 6 });
  route.snapshot = { version: 2, tag: 'T', data: { n: 10 } };
  await s.refresh();
  await until(() => s.version === 2, 'the newer state');
  assert.equal(s.data, { n: 11 });
  assert.is(s.pending, 1);
});

counting('two tabs each adding 1 offline end at +2, in both tabs and on the server', async () => {
  const t = await startServer();
  try {
    const b = t.browser();
    await b.jar.fetch('/merge', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 40 }),
    });
    const name = unique();
    // Both tabs reach the route, but their sockets cannot get through.
    const one = mirror(b, t, name, deadSocket());
    const two = mirror(b, t, name, deadSocket());
    await until(() => one.data.n === 40 && two.data.n === 40, 'the GETs');
    one.increment('n');
    two.increment('n');
    assert.is(one.data.n, 41);
    assert.is(two.data.n, 41);
    one.close();
    two.close();
    // Back online (a reload): each tab finds both writes in the shared outbox, the server
    // applies each once.
    const three = mirror(b, t, name);
    const four = mirror(b, t, name);
    await until(
      () => three.pending === 0 && four.pending === 0 && three.data.n === 42 && four.data.n === 42,
      'both +2',
    );
    const server = await b.jar.json('/get/session');
    assert.equal(server.data, { n: 42 });
    assert.is(server.version, 3, 'the merge and two increments, none twice');
  } finally {
    await t.close();
  }
});

counting('a step that is not a finite number, or a non-number at the path, throws at once and changes nothing', () => {
  const route = fakeRoute({ version: 1, tag: 'T', data: { label: 'x', n: 1 } });
  const s = open({ initial: route.snapshot, fetch: route.fetch, socket: deadSocket(), name: unique(), channel: false });
  for (const [path, by] of [
    ['n', Infinity],
    ['n', NaN],
    ['n', '1' as unknown as number],
    ['label', 1],
    ['label.deeper', 1],
  ] as const) {
    assert.throws(
      () => s.increment(path, by),
      (err: Error) => err instanceof SessionSyncError && err.code === 'invalid',
      `${path} by ${String(by)}`,
    );
  }
  assert.equal(s.data, { label: 'x', n: 1 });
  assert.is(s.pending, 0);
});

counting.run();
