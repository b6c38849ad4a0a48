import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryStore } from '../../../src/server/stores/memory/memory-store.js';
import type { StoreEvent } from '../../../src/server/stores/store.js';
import { MUTATION_MEMORY, type JsonObject, type Op } from '../../../src/shared/index.js';
import { storeContract } from './store-contract.js';

storeContract('MemoryStore', async () => {
  const store = new MemoryStore();
  return { store, close: () => store.close() };
});

const LIFETIMES = { ttl: 60_000, absolute: 600_000 };
const set = (key: string, value: number | string | JsonObject): Op => ({ op: 'set', path: [key], value });

/** A store on a clock the test moves by hand. */
function manual(options: ConstructorParameters<typeof MemoryStore>[0] = {}): {
  store: MemoryStore;
  events: StoreEvent[];
  advance(ms: number): void;
} {
  let now = 1_700_000_000_000;
  const store = new MemoryStore({ ...options, now: () => now });
  const events: StoreEvent[] = [];
  store.subscribe((e) => events.push(e));
  return { store, events, advance: (ms) => void (now += ms) };
}

// ---

const sync = suite('MemoryStore: a change is stored and published before apply resolves');

sync('the listener has the event as soon as apply returns its promise', async () => {
  const { store, events } = manual();
  const pending = store.apply('a', [set('n', 1)], LIFETIMES);
  assert.equal(events, [{ type: 'change', id: 'a', version: 1, base: 0, ops: [set('n', 1)] }]);
  assert.is((await pending).version, 1);
  await store.close();
});

sync('concurrent applies are published in version order', async () => {
  const { store, events } = manual();
  await Promise.all(Array.from({ length: 20 }, (_, i) => store.apply('a', [set(`k${i}`, i)], LIFETIMES)));
  assert.equal(
    events.map((e) => (e.type === 'change' ? e.version : -1)),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  await store.close();
});

sync('the published ops are a JSON copy: later changes to the caller objects do not reach them', async () => {
  const { store, events } = manual();
  const value: JsonObject = { list: [1] };
  const result = await store.apply('a', [{ op: 'set', path: ['v'], value }], LIFETIMES);
  (value.list as number[]).push(2);
  assert.equal(result.ops, [{ op: 'set', path: ['v'], value: { list: [1] } }]);
  assert.equal((events[0] as { ops: Op[] }).ops, [{ op: 'set', path: ['v'], value: { list: [1] } }]);
  assert.equal(await store.since('a', 0), [
    { version: 1, base: 0, ops: [{ op: 'set', path: ['v'], value: { list: [1] } }] },
  ]);
  await store.close();
});

sync('a user function that throws refuses the change and stores nothing', async () => {
  const { store, events } = manual();
  const user = (): string => {
    throw new Error('bad user path');
  };
  try {
    await store.apply('a', [set('n', 1)], { ...LIFETIMES, user });
    assert.unreachable('apply should reject');
  } catch (err) {
    assert.is((err as Error).message, 'bad user path');
  }
  assert.is(await store.get('a'), undefined);
  assert.equal(events, []);
  await store.close();
});

sync.run();

// ---

const expiry = suite('MemoryStore: expired sessions are gone, not hidden');

expiry('the sweep removes expired sessions nobody reads and publishes expired once', async () => {
  const { store, events, advance } = manual();
  await store.apply('old', [set('n', 1)], { ttl: 1000, absolute: 600_000 });
  await store.apply('new', [set('n', 1)], { ttl: 5000, absolute: 600_000 });
  advance(999);
  assert.is(store.sweep(), 0, 'not early');
  advance(11); // at most one 10 ms tick late
  assert.is(store.sweep(), 1);
  assert.is(store.size, 1);
  assert.equal(events.slice(2), [{ type: 'end', id: 'old', reason: 'expired' }]);
  assert.is(await store.get('old'), undefined);
  assert.is(store.sweep(), 0);
  assert.is(events.length, 3);
  await store.close();
});

expiry('the sweep runs by itself on its interval', async () => {
  const store = new MemoryStore({ sweepInterval: 30 });
  const ends: StoreEvent[] = [];
  store.subscribe((e) => e.type === 'end' && ends.push(e));
  await store.apply('a', [set('n', 1)], { ttl: 40, absolute: 600_000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.is(store.size, 0);
  assert.equal(ends, [{ type: 'end', id: 'a', reason: 'expired' }]);
  await store.close();
});

expiry('idle expiry is never pushed past the absolute deadline', async () => {
  const { store, advance } = manual();
  await store.apply('a', [set('n', 1)], { ttl: 1000, absolute: 1500 });
  advance(900);
  await store.touch('a', 1000);
  advance(590);
  assert.ok(await store.get('a'), 'alive just before the absolute deadline');
  advance(20);
  assert.is(await store.get('a'), undefined);
  await store.close();
});

expiry('a write to an expired id starts a new record at version 1', async () => {
  const { store, events, advance } = manual();
  await store.apply('a', [set('n', 1)], { ttl: 100, absolute: 600_000 });
  await store.apply('a', [set('n', 2)], { ttl: 100, absolute: 600_000 });
  advance(200);
  const result = await store.apply('a', [set('m', 1)], { ttl: 100, absolute: 600_000 });
  assert.is(result.version, 1);
  assert.equal(await store.get('a'), { data: { m: 1 }, version: 1 });
  assert.equal(
    events.map((e) => (e.type === 'end' ? e.reason : e.version)),
    [1, 2, 'expired', 1],
  );
  await store.close();
});

expiry.run();

// ---

const bound = suite('MemoryStore: past max, the longest-idle session is evicted');

bound('activity keeps a session; the idlest goes with an evicted event and a warning once', async () => {
  const { store, events, advance } = manual({ max: 3 });
  const warned: unknown[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warned.push(args.join(' '));
  try {
    for (const id of ['a', 'b', 'c']) {
      await store.apply(id, [set('n', 1)], LIFETIMES);
      advance(100);
    }
    await store.touch('a', LIFETIMES.ttl);
    await store.apply('d', [set('n', 1)], LIFETIMES);
    assert.is(store.size, 3);
    assert.is(await store.get('b'), undefined);
    assert.ok(await store.get('a'));
    assert.equal(events.at(-2), { type: 'end', id: 'b', reason: 'evicted' });
    await store.apply('e', [set('n', 1)], LIFETIMES);
    assert.is(await store.get('c'), undefined);
    assert.is(warned.length <= 1, true, 'warned once per process at most');
    if (warned.length) assert.match(String(warned[0]), /^session-sync: /);
  } finally {
    console.warn = warn;
  }
  await store.close();
});

bound('an expired session makes room before any live one is evicted', async () => {
  const { store, events, advance } = manual({ max: 2 });
  await store.apply('short', [set('n', 1)], { ttl: 50, absolute: 600_000 });
  await store.apply('long', [set('n', 1)], LIFETIMES);
  advance(100);
  await store.apply('new', [set('n', 1)], LIFETIMES);
  assert.ok(await store.get('long'));
  assert.equal(
    events.filter((e) => e.type === 'end'),
    [{ type: 'end', id: 'short', reason: 'expired' }],
  );
  await store.close();
});

bound.run();

// ---

const recent = suite('MemoryStore: history and mutation ids stay bounded');

recent(`mutation id #1 is forgotten after ${MUTATION_MEMORY} newer ones`, async () => {
  const { store } = manual();
  for (let i = 0; i <= MUTATION_MEMORY; i++) await store.apply('a', [set('n', i)], { ...LIFETIMES, mutation: `m${i}` });
  const again = await store.apply('a', [set('n', -1)], { ...LIFETIMES, mutation: 'm0' });
  assert.is(again.duplicate, undefined);
  assert.is(again.version, MUTATION_MEMORY + 2);
  await store.close();
});

recent('history is capped per session and over all sessions (least recently changed first)', async () => {
  const { store } = manual({ history: 2, historyTotal: 3 });
  for (let i = 1; i <= 3; i++) await store.apply('a', [set('n', i)], LIFETIMES);
  assert.is(await store.since('a', 0), undefined);
  assert.equal(
    (await store.since('a', 1))?.map((p) => p.version),
    [2, 3],
  );
  await store.apply('b', [set('n', 1)], LIFETIMES);
  await store.apply('c', [set('n', 1)], LIFETIMES);
  assert.is(await store.since('a', 2), undefined, "a's patches went first");
  assert.equal((await store.since('b', 0))?.length, 1);
  assert.equal((await store.since('c', 0))?.length, 1);
  assert.equal(await store.since('a', 3), [], 'nothing missed needs no history');
  await store.close();
});

recent('a session idle past forgetAfter loses its history and mutation ids at the sweep', async () => {
  const { store, advance } = manual({ forgetAfter: 60_000 });
  const HOUR = { ttl: 3_600_000, absolute: 36_000_000 };
  await store.apply('a', [set('n', 1)], { ...HOUR, mutation: 'm1' });
  await store.apply('a', [set('n', 2)], HOUR);
  advance(30_000);
  store.sweep();
  assert.is((await store.since('a', 0))?.length, 2);
  advance(31_000);
  store.sweep();
  assert.is(await store.since('a', 1), undefined);
  assert.is((await store.apply('a', [set('n', 3)], { ...HOUR, mutation: 'm1' })).duplicate, undefined);
  assert.equal(await store.get('a'), { data: { n: 3 }, version: 3 });
  await store.close();
});

recent.run();

// ---

const users = suite('MemoryStore: the user index');

users('a numeric user id is indexed as its string', async () => {
  const { store } = manual();
  const user = (data: JsonObject): string | undefined => (data.uid as unknown as string) ?? undefined;
  await store.apply('a', [set('uid', 42)], { ...LIFETIMES, user });
  assert.equal(
    (await store.sessionsOf('42')).map((s) => s.id),
    ['a'],
  );
  assert.is((await store.get('a'))?.user, '42');
  await store.close();
});

users.run();

// ---

const options = suite('MemoryStore: options are checked when it is made');

options('a bad option throws a TypeError naming it', () => {
  for (const [name, value] of [
    ['max', 0],
    ['max', -1],
    ['max', 1.5],
    ['sweepInterval', 'often'],
    ['sweepInterval', Infinity],
    ['history', -1],
    ['historyTotal', NaN],
    ['forgetAfter', -5],
    ['now', 123],
  ] as const) {
    assert.throws(
      () => new MemoryStore({ [name]: value } as never),
      (err: Error) => err instanceof TypeError && err.message.includes(`"${name}"`),
      `${name}: ${String(value)}`,
    );
  }
  const store = new MemoryStore({ max: Infinity, history: 0 });
  void store.close();
});

options('close drops the listeners', async () => {
  const { store, events } = manual();
  await store.close();
  await store.apply('a', [set('n', 1)], LIFETIMES);
  assert.equal(events, []);
  assert.ok(await store.get('a'), 'still readable');
});

options.run();

// ---

const slots = suite('MemoryStore: sessions stay apart as the table grows and reuses room');

slots('3000 sessions, a third destroyed, new ones written: every session reads its own data and user', async () => {
  const { store } = manual();
  const user = (data: JsonObject): string | undefined => (typeof data.u === 'string' ? data.u : undefined);
  for (let i = 0; i < 3000; i++) {
    await store.apply(`s${i}`, [set('i', i), ...(i % 2 ? [set('u', `user${i % 7}`)] : [])], { ...LIFETIMES, user });
  }
  for (let i = 0; i < 3000; i += 3) assert.ok(await store.destroy(`s${i}`, 'destroyed'));
  for (let i = 0; i < 1000; i++) await store.apply(`t${i}`, [set('t', i)], LIFETIMES);
  assert.is(store.size, 3000);
  for (let i = 0; i < 3000; i++) {
    const got = await store.get(`s${i}`);
    if (i % 3 === 0) assert.is(got, undefined);
    else
      assert.equal(got, {
        data: i % 2 ? { i, u: `user${i % 7}` } : { i },
        version: 1,
        ...(i % 2 ? { user: `user${i % 7}` } : {}),
      });
  }
  for (let i = 0; i < 1000; i++) assert.equal(await store.get(`t${i}`), { data: { t: i }, version: 1 });
  const expected = Array.from({ length: 3000 }, (_, i) => i).filter((i) => i % 3 && i % 2 && i % 7 === 3);
  assert.equal((await store.sessionsOf('user3')).map((s) => s.id).sort(), expected.map((i) => `s${i}`).sort());
  await store.close();
});

slots.run();
