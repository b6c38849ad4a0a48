import '../setup/env.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SessionSyncError, type Session, type Status } from '../../src/browser/index.js';
import { cleanup, deadSocket, fakeRoute, open, until } from '../support/fake-route.js';

let count = 0;
const unique = (): string => `session-test-${process.pid}-${count++}`;

// ---

const contract = suite('subscribe, listen and getSnapshot follow the store contract');
contract.after.each(cleanup);

contract('subscribe calls at once and on change, listen only on change; both unsubscribe', async () => {
  const route = fakeRoute({ version: 1, tag: 'T', data: { a: { x: 1 }, b: 1 } });
  const s = open({
    initial: { version: 1, tag: 'T', data: { a: { x: 1 }, b: 1 } },
    fetch: route.fetch,
    socket: false,
    name: unique(),
    channel: false,
  });
  const { subscribe, listen, getSnapshot, refresh, close } = s; // unbound on purpose
  const seen: unknown[] = [];
  const heard: unknown[] = [];
  const unsubscribe = subscribe((d) => seen.push(d));
  const unlisten = listen((d) => heard.push(d));
  assert.equal(seen, [{ a: { x: 1 }, b: 1 }]);
  assert.equal(heard, []);
  await s.ready;
  await until(() => s.status === 'live', 'the GET');
  route.snapshot = { version: 2, tag: 'T', data: { a: { x: 1 }, b: 2 } };
  await refresh();
  assert.equal(seen.length, 2);
  assert.equal(heard, [{ a: { x: 1 }, b: 2 }]);
  assert.is(seen[1], getSnapshot());
  unsubscribe();
  unlisten();
  route.snapshot = { version: 3, tag: 'T', data: { a: { x: 1 }, b: 3 } };
  await refresh();
  assert.is(s.data.b, 3);
  assert.is(seen.length, 2);
  assert.is(heard.length, 1);
  close();
});

contract('getSnapshot keeps its reference until something changed, and unchanged branches keep theirs', async () => {
  const route = fakeRoute({ version: 1, tag: 'T', data: { a: { x: [1, 2] }, b: 1 } });
  const s = open({ fetch: route.fetch, socket: false, name: unique(), channel: false });
  assert.equal(s.getSnapshot(), {}, 'data is an object before anything arrived');
  assert.is(s.getSnapshot(), s.getSnapshot());
  assert.is(s.status, 'loading');
  const data = await s.ready;
  assert.equal(data, { a: { x: [1, 2] }, b: 1 });
  const first = s.getSnapshot();
  let changes = 0;
  s.listen(() => changes++);
  // Same content at a higher version: a new object from the network, the same reference shown.
  route.snapshot = { version: 2, tag: 'T', data: { a: { x: [1, 2] }, b: 1 } };
  await s.refresh();
  assert.is(s.version, 2);
  assert.is(s.getSnapshot(), first);
  assert.is(changes, 0);
  route.snapshot = { version: 3, tag: 'T', data: { a: { x: [1, 2] }, b: 2 } };
  await s.refresh();
  assert.is.not(s.getSnapshot(), first);
  assert.is(s.getSnapshot().a, first.a, 'the unchanged branch is shared');
  assert.is(changes, 1);
  assert.is(s.get('a.x'), first.a && (first.a as { x: unknown }).x);
  assert.equal(s.get(['a', 'x']), [1, 2]);
  assert.is(s.get('nope.deeper'), undefined);
  s.close();
});

contract('on() reports status changes and returns its remover', async () => {
  const route = fakeRoute({ version: 4, tag: 'T', data: { a: 1 } });
  const s = open({ fetch: route.fetch, socket: false, name: unique(), channel: false });
  const statuses: Status[] = [];
  const off = s.on('status', (st) => statuses.push(st));
  await until(() => s.status === 'live', 'live');
  assert.equal(statuses, ['cached', 'live']);
  off();
  route.offline = true;
  await s.refresh();
  assert.is(s.status, 'offline');
  assert.equal(s.data, { a: 1 }, 'offline keeps the data');
  assert.equal(statuses, ['cached', 'live']);
  s.close();
});

contract('the GET sends X-Session-Sync, and If-None-Match for the version held', async () => {
  const route = fakeRoute({ version: 7, tag: 'TAG', data: { a: 1 } });
  const s = open({ fetch: route.fetch, socket: false, name: unique(), channel: false });
  await until(() => s.status === 'live', 'live');
  await s.refresh();
  assert.is(route.requests[0]!.get('x-session-sync'), '1');
  assert.is(route.requests[0]!.get('if-none-match'), null);
  assert.is(route.requests[1]!.get('if-none-match'), '"TAG:null:7"');
  assert.is(s.status, 'live', 'a 304 keeps what is held');
  assert.equal(s.data, { a: 1 });
  s.close();
});

contract.run();

// ---

const writes = suite('writes apply at once and are checked synchronously');
writes.after.each(cleanup);

writes('set, delete and update show at once and count as pending while the server is away', async () => {
  const route = fakeRoute({ version: 1, tag: 'T', data: { prefs: { theme: 'light' }, list: [1] } });
  route.offline = true;
  const socket = deadSocket();
  const s = open({ initial: route.snapshot, fetch: route.fetch, socket, name: unique(), channel: false });
  const { set, update } = s;
  const del = s.delete;
  const done = set('prefs.theme', 'dark');
  assert.equal(s.data, { prefs: { theme: 'dark' }, list: [1] });
  del(['prefs']);
  assert.equal(s.data, { list: [1] });
  update((draft) => {
    (draft.list as number[]).push(2);
    draft.n = 1;
  });
  assert.equal(s.data, { list: [1, 2], n: 1 });
  assert.is(s.pending, 3);
  assert.is(s.version, 1, 'the server version does not move');
  await until(() => s.status === 'offline', 'offline');
  let settled = false;
  done.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, 50));
  assert.is(settled, false, 'not acknowledged while offline');
  s.close();
  socket.disconnect();
});

writes('a value that is not JSON, or a bad path, throws a TypeError naming it, and changes nothing', () => {
  const s = open({
    initial: { version: 1, tag: 'T', data: { a: [1] } },
    fetch: fakeRoute().fetch,
    socket: deadSocket(),
    name: unique(),
    channel: false,
  });
  assert.throws(
    () => s.set('when', new Date() as never),
    (err: Error) => err instanceof TypeError && /session\.when/.test(err.message),
  );
  assert.throws(
    () => s.set('x', { y: undefined } as never),
    (err: Error) => err instanceof TypeError && /session\.x\.y/.test(err.message),
  );
  assert.throws(() => s.set('a..b', 1), TypeError);
  assert.throws(() => s.set('__proto__.polluted', 1), TypeError);
  assert.throws(() => s.update(() => 5 as never), TypeError);
  // A path through an array is invalid: thrown now, not later.
  assert.throws(
    () => s.set('a.0', 2),
    (err: Error) => err instanceof SessionSyncError && err.code === 'invalid',
  );
  assert.equal(s.data, { a: [1] });
  assert.is(s.pending, 0);
  s.close();
});

writes('a read-only mirror (socket: false) refuses writes with a rejected promise', async () => {
  const s = open({
    initial: { version: 1, tag: 'T', data: {} },
    fetch: fakeRoute().fetch,
    socket: false,
    name: unique(),
    channel: false,
  });
  try {
    await s.set('a', 1);
    assert.unreachable('accepted');
  } catch (err) {
    assert.instance(err, SessionSyncError);
  }
  assert.equal(s.data, {});
  s.close();
});

writes('update() that changes nothing sends nothing', async () => {
  const s = open({
    initial: { version: 3, tag: 'T', data: { a: 1 } },
    fetch: fakeRoute().fetch,
    socket: deadSocket(),
    name: unique(),
    channel: false,
  });
  assert.is(await s.update(() => {}), 3);
  assert.is(s.pending, 0);
  s.close();
});

writes.run();

// ---

const options = suite('bad options throw a TypeError naming the option');
options.after.each(cleanup);

options('each option is checked when the instance is made', () => {
  const bad: [string, Record<string, unknown>][] = [
    ['url', { url: 5 }],
    ['route', { route: {} }],
    ['socket', { socket: 'ws://x' }],
    ['cache', { cache: 'yes' }],
    ['cache.maxAge', { cache: { maxAge: -1 } }],
    ['cache.exclude', { cache: { exclude: 'a' } }],
    ['cache.exclude[0]', { cache: { exclude: ['__proto__'] } }],
    ['fetch', { fetch: 'x' }],
    ['initial', { initial: { version: -1, tag: null, data: {} } }],
    ['timeout', { timeout: 0 }],
  ];
  for (const [name, opts] of bad) {
    assert.throws(
      () => open(opts as never),
      (err: Error) => err instanceof TypeError && err.message.includes(name),
      `option ${name}`,
    );
  }
});

options.run();

export type { Session };
