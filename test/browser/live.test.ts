import '../setup/env.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  createSession,
  SessionSyncError,
  type Session,
  type SessionOptions,
  type Status,
  type SyncSocket,
} from '../../src/browser/index.js';
import { io } from 'socket.io-client';
import type { JsonObject } from '../../src/shared/index.js';
import type { Browser } from '../support/cookie-fetch.js';
import { deadSocket, until } from '../support/fake-route.js';
import { startServer, type TestServer } from '../support/server.js';

let count = 0;
const unique = (): string => `live-test-${process.pid}-${count++}`;

/** Everything a test opened, closed at its end so the process can exit. */
function tracker() {
  const sessions: Session[] = [];
  const sockets: SyncSocket[] = [];
  return {
    open<T extends JsonObject>(b: Browser | undefined, t: TestServer, options: SessionOptions<T>): Session<T> {
      const socket = options.socket ?? b!.socket();
      if (socket) sockets.push(socket);
      const s = createSession<T>({ url: t.url, fetch: b?.fetch, channel: false, ...options, socket });
      sessions.push(s as never);
      return s;
    },
    dead(): SyncSocket {
      const socket = deadSocket();
      sockets.push(socket);
      return socket;
    },
    close(): void {
      for (const s of sessions) s.close();
      for (const socket of sockets) socket.disconnect();
    },
  };
}

/** Counts the `session:mutate` packets the server receives, per mutation id. */
function countMutations(t: TestServer): Map<string, number> {
  const seen = new Map<string, number>();
  t.io.on('connection', (socket) => {
    socket.use(([event, payload], next) => {
      if (event === 'session:mutate') {
        const id = (payload as { mutation: string }).mutation;
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
      next();
    });
  });
  return seen;
}

async function serverData(b: Browser): Promise<{ version: number; tag: string | null; data: JsonObject }> {
  return b.jar.json('/get/session');
}

// ---

const start = suite('a page starts from the cache, then goes live');

start('the first page goes live; the reload shows the cache at once, then live', async () => {
  const t = await startServer();
  const open = tracker();
  try {
    const b = t.browser();
    await b.jar.fetch('/merge', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'ann' }),
    });
    const name = unique();
    const first = open.open(b, t, { name });
    const statuses: Status[] = [];
    first.on('status', (s) => statuses.push(s));
    await until(() => first.status === 'live', 'live');
    assert.equal(first.data, { user: 'ann' });
    assert.equal(statuses, ['cached', 'live']);
    first.close();

    const second = open.open(b, t, { name });
    const seen: Status[] = [];
    second.on('status', (s) => seen.push(s));
    assert.equal(await second.ready, { user: 'ann' });
    assert.is(second.status, 'cached');
    await until(() => second.status === 'live', 'live again');
    assert.equal(seen, ['cached', 'live'], 'never back to loading, never offline');
  } finally {
    open.close();
    await t.close();
  }
});

start('the GET issues the cookie first, so HTTP and the socket share one session', async () => {
  const t = await startServer();
  const open = tracker();
  try {
    const b = t.browser();
    const s = open.open(b, t, { name: unique() });
    await until(() => s.status === 'live', 'live');
    assert.ok(b.jar.cookies.size > 0, 'the route gave the cookie');
    assert.type(s.tag, 'string');
    assert.is(s.tag!.length, 22);
    assert.is((await serverData(b)).tag, s.tag);
  } finally {
    open.close();
    await t.close();
  }
});

start.run();

// ---

const patches = suite('changes made elsewhere arrive live');

patches('an Express write reaches the mirror as a patch, version by version', async () => {
  const t = await startServer();
  const open = tracker();
  try {
    const b = t.browser();
    const s = open.open(b, t, { name: unique() });
    await until(() => s.status === 'live', 'live');
    const before = s.getSnapshot();
    for (let i = 1; i <= 3; i++) {
      await b.jar.fetch('/merge', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ count: i }),
      });
      await until(() => s.data.count === i, `count ${i}`);
    }
    assert.is(s.version, (await serverData(b)).version);
    assert.is.not(s.getSnapshot(), before);
    // Another visitor's write never shows here.
    const other = t.browser();
    await other.jar.fetch('/merge', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: 99 }),
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.is(s.data.count, 3);
  } finally {
    open.close();
    await t.close();
  }
});

patches('a missed patch (version gap) triggers a resync, never a wrong merge', async () => {
  const t = await startServer();
  const open = tracker();
  try {
    const b = t.browser();
    const socket = b.socket();
    // Lose exactly one patch on the way in, as a flaky proxy might.
    let drop = 1;
    const raw = socket as unknown as { onevent(packet: { data: unknown[] }): void };
    const onevent = raw.onevent.bind(socket);
    raw.onevent = (packet) => {
      if (packet.data[0] === 'session:patch' && drop > 0) {
        drop--;
        return;
      }
      onevent(packet);
    };
    const s = open.open(b, t, { name: unique(), socket });
    await until(() => s.status === 'live', 'live');
    const post = (body: JsonObject) =>
      b.jar.fetch('/merge', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    await post({ a: 1 });
    await until(() => drop === 0, 'the patch to be dropped');
    assert.equal(s.data, {}, 'the lost change is not guessed');
    await post({ b: 2 });
    await until(() => s.data.b === 2, 'the resync');
    assert.equal(s.data, { a: 1, b: 2 });
    assert.is(s.version, (await serverData(b)).version);
  } finally {
    open.close();
    await t.close();
  }
});

patches('after the server closes the connection the mirror reconnects and catches up', async () => {
  const t = await startServer();
  const open = tracker();
  try {
    const b = t.browser();
    const s = open.open(b, t, { name: unique() });
    await until(() => s.status === 'live', 'live');
    const statuses: Status[] = [];
    s.on('status', (st) => statuses.push(st));
    t.io.disconnectSockets(true);
    await until(() => s.status === 'offline', 'offline');
    await b.jar.fetch('/merge', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ missed: true }),
    });
    await until(() => s.status === 'live' && s.data.missed === true, 'reconnected and caught up');
    assert.equal(statuses, ['offline', 'live']);
  } finally {
    open.close();
    await t.close();
  }
});

patches('a handshake the server refuses (foreign Origin) is status error, data kept, retried', async () => {
  const t = await startServer();
  const open = tracker();
  try {
    const b = t.browser();
    await b.jar.fetch('/merge', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kept: true }),
    });
    const socket = io(t.url, {
      autoConnect: false,
      transports: ['websocket'],
      reconnectionDelay: 50,
      extraHeaders: { cookie: b.jar.header, origin: 'http://evil.example' },
    }) as SyncSocket;
    const s = open.open(b, t, { name: unique(), socket });
    const statuses: Status[] = [];
    s.on('status', (st) => statuses.push(st));
    await until(() => s.status === 'error', 'error');
    assert.equal(s.data, { kept: true });
    assert.ok(statuses.includes('cached'));
    await new Promise((r) => setTimeout(r, 400));
    assert.is(s.status, 'error', 'never live from a refused origin');
  } finally {
    open.close();
    await t.close();
  }
});

patches.run();

// ---

const writes = suite('browser writes are optimistic, acknowledged or rolled back');

writes('set() shows at once, resolves with the server version, and the server has it', async () => {
  const t = await startServer();
  const open = tracker();
  try {
    const b = t.browser();
    const s = open.open(b, t, { name: unique() });
    await until(() => s.status === 'live', 'live');
    const changes: JsonObject[] = [];
    s.listen((d) => changes.push(d));
    const counts: number[] = [];
    s.on('pending', (n) => counts.push(n));
    const done = s.set('prefs.theme', 'dark');
    assert.equal(s.data, { prefs: { theme: 'dark' } });
    assert.is(s.pending, 1);
    const version = await done;
    assert.is(typeof version, 'number');
    await until(() => s.version >= version, 'the patch');
    assert.is(s.pending, 0);
    assert.equal(s.data, { prefs: { theme: 'dark' } });
    assert.is(changes.length, 1, 'the confirmation does not re-render');
    assert.equal(counts, [1, 0], "the confirmation is told to 'pending' listeners");
    const seen = await serverData(b);
    assert.equal(seen.data, { prefs: { theme: 'dark' } });
    assert.is(seen.version, version);
    await s.update((d) => {
      (d.prefs as JsonObject).size = 'L';
      d.list = [1, 2];
    });
    await s.delete('prefs.theme');
    await until(() => s.pending === 0, 'all acknowledged');
    assert.equal((await serverData(b)).data, { prefs: { size: 'L' }, list: [1, 2] });
  } finally {
    open.close();
    await t.close();
  }
});

writes('a refused write is rolled back, reported as an error event and a rejected promise', async () => {
  const t = await startServer();
  const open = tracker();
  try {
    const b = t.browser();
    const s = open.open(b, t, { name: unique() });
    await until(() => s.status === 'live', 'live');
    await s.set('prefs.theme', 'dark');
    const errors: SessionSyncError[] = [];
    s.on('error', (e) => errors.push(e));
    const refused = s.set('role', 'admin'); // not clientWritable
    const kept = s.set('prefs.theme', 'light');
    assert.equal(s.data, { prefs: { theme: 'light' }, role: 'admin' });
    try {
      await refused;
      assert.unreachable('the server accepted a write outside clientWritable');
    } catch (err) {
      assert.instance(err, SessionSyncError);
      assert.is((err as SessionSyncError).code, 'forbidden');
    }
    await kept;
    await until(() => s.pending === 0, 'settled');
    assert.equal(s.data, { prefs: { theme: 'light' } }, 'rolled back, the other write kept');
    assert.is(errors.length, 1);
    assert.is(errors[0]!.code, 'forbidden');
    assert.equal((await serverData(b)).data, { prefs: { theme: 'light' } });
  } finally {
    open.close();
    await t.close();
  }
});

writes.run();

// ---

const offline = suite('writes made offline survive a reload and reach the server exactly once');

offline('the reloaded page replays the outbox once, with the same ids, then the outbox is empty', async () => {
  const t = await startServer();
  const seen = countMutations(t);
  const open = tracker();
  try {
    const b = t.browser();
    const name = unique();
    // The page reaches the route, but its socket cannot get through.
    const first = open.open(b, t, { name, socket: open.dead() });
    await until(() => first.tag !== null, 'the GET');
    first.set('n', 1);
    first.set('list', ['a', 'b']);
    assert.is(first.pending, 2);
    first.close(); // reload right away

    const second = open.open(b, t, { name });
    await until(() => second.pending === 2, 'the outbox loaded');
    assert.equal(second.data, { n: 1, list: ['a', 'b'] });
    await until(() => second.status === 'live' && second.pending === 0, 'replayed');
    const server = await serverData(b);
    assert.equal(server.data, { n: 1, list: ['a', 'b'] });
    assert.is(server.version, 2, 'each write applied once');
    assert.is(seen.size, 2);
    for (const [id, times] of seen) assert.is(times, 1, `mutation ${id} sent ${times} times`);
    second.close();

    const third = open.open(b, t, { name });
    await until(() => third.status === 'live', 'live');
    await new Promise((r) => setTimeout(r, 30));
    assert.is(third.pending, 0, 'nothing left to replay');
    assert.is(seen.size, 2);
  } finally {
    open.close();
    await t.close();
  }
});

offline('an outbox cached under another visitor is dropped, never sent', async () => {
  const t = await startServer();
  const seen = countMutations(t);
  const open = tracker();
  try {
    const ann = t.browser();
    const name = unique();
    const first = open.open(ann, t, { name, socket: open.dead() });
    await until(() => first.tag !== null, 'the GET');
    first.set('cart', ['ann-item']);
    first.close();

    // Same browser profile (same IndexedDB), but another person's cookie now.
    const bob = t.browser();
    const second = open.open(bob, t, { name });
    await until(() => second.status === 'live', 'live');
    assert.is.not(second.tag, first.tag);
    assert.equal(second.data, {});
    assert.is(second.pending, 0);
    await new Promise((r) => setTimeout(r, 30));
    assert.is(seen.size, 0, 'no write replayed into the other session');
    assert.equal((await serverData(bob)).data, {});
  } finally {
    open.close();
    await t.close();
  }
});

offline('a write whose answer and patch were lost is applied once after the reconnect', async () => {
  const t = await startServer();
  const seen = countMutations(t);
  const open = tracker();
  try {
    const b = t.browser();
    const socket = b.socket();
    // The connection dies after the server applied the write, before its answers got through.
    const raw = socket as unknown as { emit(...args: unknown[]): unknown; onevent(packet: { data: unknown[] }): void };
    const emit = raw.emit.bind(socket);
    let dropAck = true;
    raw.emit = (event: unknown, ...args: unknown[]) => {
      if (event === 'session:mutate' && dropAck) {
        dropAck = false;
        args[args.length - 1] = () => {};
      }
      return emit(event, ...args);
    };
    const onevent = raw.onevent.bind(socket);
    let dropPatch = true;
    raw.onevent = (packet) => {
      if (packet.data[0] === 'session:patch' && (packet.data[1] as { mutation?: string }).mutation && dropPatch) {
        dropPatch = false;
        return;
      }
      onevent(packet);
    };
    const s = open.open(b, t, { name: unique(), socket });
    await until(() => s.status === 'live', 'live');
    const done = s.set('n', 1);
    await until(() => !dropAck && !dropPatch, 'both answers to be lost');
    assert.is((await serverData(b)).version, 1, 'the server applied it');
    assert.is(s.pending, 1, 'still pending: no answer came');
    t.io.disconnectSockets(true);
    assert.is(await done, 1);
    await until(() => s.status === 'live' && s.pending === 0 && s.version === 1, 'confirmed after the reconnect');
    const server = await serverData(b);
    assert.is(server.version, 1, 'applied once');
    assert.equal(server.data, { n: 1 });
    assert.is(seen.size, 1, 'one mutation id, however often it was sent');
  } finally {
    open.close();
    await t.close();
  }
});

offline.run();

// ---

const ending = suite('regenerate moves the tag and keeps the data; destroy ends the mirror');

ending(
  'regenerate(): the mirror re-GETs, reconnects with the new cookie, adopts the new tag, keeps the data',
  async () => {
    const t = await startServer();
    const open = tracker();
    try {
      const b = t.browser();
      const s = open.open(b, t, { name: unique() });
      await until(() => s.status === 'live', 'live');
      await s.set('prefs.theme', 'dark');
      const oldTag = s.tag;
      const statuses: Status[] = [];
      s.on('status', (st) => statuses.push(st));
      const ended: string[] = [];
      s.on('ended', (r) => ended.push(r));
      const { tag } = await b.jar.json<{ tag: string }>('/regenerate', { method: 'POST' });
      await until(() => s.tag === tag && s.status === 'live', 'the new tag, live');
      assert.is.not(tag, oldTag);
      assert.equal(s.data, { prefs: { theme: 'dark' } });
      assert.equal(
        statuses.filter((st) => st !== 'live'),
        [],
        'no flicker: never ended, offline or cached',
      );
      assert.equal(ended, []);
      // Writes go to the new session.
      await s.set('prefs.theme', 'light');
      assert.equal((await serverData(b)).data, { prefs: { theme: 'light' } });
    } finally {
      open.close();
      await t.close();
    }
  },
);

ending('destroy(): cache and outbox wiped, then ended; stays ended until refresh()', async () => {
  const t = await startServer();
  const open = tracker();
  try {
    const b = t.browser();
    const name = unique();
    const s = open.open(b, t, { name });
    await until(() => s.status === 'live', 'live');
    await s.set('prefs.theme', 'dark');
    await until(() => s.pending === 0, 'stored');
    const order: string[] = [];
    s.on('change', (d) => order.push(`change ${JSON.stringify(d)}`));
    s.on('ended', (reason) => order.push(`ended ${reason}`));
    await b.jar.fetch('/destroy', { method: 'POST' });
    await until(() => s.status === 'ended', 'ended');
    assert.equal(order, ['change {}', 'ended destroyed']);
    assert.equal(s.data, {});
    await new Promise((r) => setTimeout(r, 100));
    assert.is(s.status, 'ended', 'no reconnect by itself');
    await assert_rejects(s.set('prefs.theme', 'x'), 'ended');

    const reload = open.open(b, t, {
      name,
      socket: open.dead(),
      fetch: () => Promise.reject(new TypeError('offline')),
    });
    await until(() => reload.status === 'offline', 'offline');
    assert.equal(reload.data, {}, 'the cache was wiped');
    assert.is(reload.pending, 0);

    await s.refresh();
    await until(() => s.status === 'live', 'live after refresh');
    assert.is.not(s.tag, null);
  } finally {
    open.close();
    await t.close();
  }
});

ending.run();

// ---

const tabs = suite('two tabs of one browser stay equal');

tabs('writes from either tab and from Express leave both tabs with the same data and version', async () => {
  const t = await startServer();
  const open = tracker();
  try {
    const b = t.browser();
    const name = unique();
    const one = open.open(b, t, { name, channel: `tabs-${name}` });
    await until(() => one.status === 'live', 'the first tab live');
    // The second tab opens once the first holds the cookie, as a person opens a second tab.
    const two = open.open(b, t, { name, channel: `tabs-${name}` });
    await until(() => two.status === 'live', 'the second tab live');
    assert.is(two.tag, one.tag);
    await one.set('prefs.theme', 'dark');
    await two.set('n', 2);
    await b.jar.fetch('/merge', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: 'http' }),
    });
    await until(
      () => one.version === two.version && one.data.from === 'http' && two.data.from === 'http',
      'both caught up',
    );
    assert.equal(one.data, two.data);
    assert.equal(one.data, { prefs: { theme: 'dark' }, n: 2, from: 'http' });
  } finally {
    open.close();
    await t.close();
  }
});

tabs('a tab whose socket cannot connect still follows through the channel', async () => {
  const t = await startServer();
  const open = tracker();
  try {
    const b = t.browser();
    const name = unique();
    const one = open.open(b, t, { name, channel: `tabs-${name}` });
    await until(() => one.status === 'live', 'the first tab live');
    const two = open.open(b, t, { name, channel: `tabs-${name}`, socket: open.dead() });
    await until(() => two.tag === one.tag, 'the second tab has the GET');
    await one.set('prefs.theme', 'dark');
    await b.jar.fetch('/merge', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: 'http' }),
    });
    await until(() => two.version === one.version && two.data.from === 'http', 'the second tab caught up');
    assert.equal(two.data, { prefs: { theme: 'dark' }, from: 'http' });
    assert.ok(two.status === 'cached' || two.status === 'offline', `not live: its own socket is down (${two.status})`);
  } finally {
    open.close();
    await t.close();
  }
});

tabs.run();

async function assert_rejects(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, SessionSyncError);
    assert.is((err as SessionSyncError).code, code);
    return;
  }
  assert.unreachable('resolved');
}
