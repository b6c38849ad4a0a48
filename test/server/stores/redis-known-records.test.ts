import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KnownRecords } from '../../../src/server/stores/redis/known-records.js';
import { RedisStore } from '../../../src/server/stores/redis/redis-store.js';
import { SessionSyncError, type Op } from '../../../src/shared/index.js';
import { startRedis, type TestRedis } from '../../support/redis.js';

let started: Promise<TestRedis> | undefined;
const shared = (): Promise<TestRedis> => (started ??= startRedis());

const LIFETIMES = { ttl: 60_000, absolute: 600_000 };
const newId = (): string => randomBytes(32).toString('base64url');
const inc: Op = { op: 'inc', path: ['n'], by: 1 };

async function node(url: string): Promise<RedisStore> {
  const store = new RedisStore({ url }, { watchInterval: 50 });
  store.subscribe(() => undefined);
  await store.ready();
  return store;
}

/** Counts the commands clients send (not those scripts run), by name, while `work` runs. */
async function sent(url: string, work: () => Promise<void>): Promise<Record<string, number>> {
  const admin = new Redis(url);
  const monitor = await admin.monitor();
  const calls: Record<string, number> = {};
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua') return;
    const name = args[0]!.toLowerCase();
    calls[name] = (calls[name] ?? 0) + 1;
  });
  try {
    await work();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the monitor's last lines
  } finally {
    monitor.disconnect();
    admin.disconnect();
  }
  return calls;
}

const guess = suite('RedisStore: a write to a record this node just saw is one round trip');

guess('a write after a read or a write sends only the compare-and-set; the result is the same', async () => {
  const redis = await shared();
  const store = await node(redis.url);
  try {
    const id = newId();
    await store.apply(id, [inc], LIFETIMES); // creates it
    await store.get(id);
    const calls = await sent(redis.url, async () => {
      for (let i = 0; i < 5; i++) await store.apply(id, [inc], LIFETIMES);
    });
    assert.equal(calls, { evalsha: 5 }, 'one script per write, no read before it');
    const stored = await store.get(id);
    assert.equal(stored?.data, { n: 6 });
    assert.is(stored?.version, 6);
  } finally {
    await store.close();
  }
});

guess('two nodes writing one session in turn lose nothing: a stale guess is read again', async () => {
  const redis = await shared();
  const [a, b] = [await node(redis.url), await node(redis.url)];
  try {
    const id = newId();
    await a.apply(id, [inc], LIFETIMES);
    // Each node's guess is stale by the other's write whenever the feed has not told it yet.
    const results = [];
    for (let i = 0; i < 40; i++) results.push(await (i % 2 ? a : b).apply(id, [inc], LIFETIMES));
    assert.equal(
      results.map((r) => r.version),
      Array.from({ length: 40 }, (_, i) => i + 2),
    );
    assert.equal((await a.get(id))?.data, { n: 41 });
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

guess('writes queued for one session are pipelined: one script each, no read, all in order', async () => {
  const redis = await shared();
  const store = await node(redis.url);
  try {
    const id = newId();
    await store.apply(id, [inc], LIFETIMES);
    let results: { version: number }[] = [];
    const calls = await sent(redis.url, async () => {
      results = await Promise.all(Array.from({ length: 20 }, () => store.apply(id, [inc], LIFETIMES)));
    });
    assert.equal(
      results.map((r) => r.version),
      Array.from({ length: 20 }, (_, i) => i + 2),
      'each caller told its own version, in the order called',
    );
    assert.equal(calls, { evalsha: 20 });
    assert.equal((await store.get(id))?.data, { n: 21 });
  } finally {
    await store.close();
  }
});

guess('another node writing between pipelined writes loses nothing, and neither do they', async () => {
  const redis = await shared();
  const [a, b] = [await node(redis.url), await node(redis.url)];
  try {
    const id = newId();
    await a.apply(id, [{ op: 'set', path: ['start'], value: true }], LIFETIMES);
    await b.get(id);
    const key = (who: string, i: number): Op => ({ op: 'set', path: [`${who}${i}`], value: i });
    // Both nodes keep a pipeline of 25 writes in flight at once on the same session.
    const results = await Promise.all([
      ...Array.from({ length: 25 }, (_, i) => a.apply(id, [key('a', i)], LIFETIMES)),
      ...Array.from({ length: 25 }, (_, i) => b.apply(id, [key('b', i)], LIFETIMES)),
    ]);
    const versions = results.map((r) => r.version).sort((x, y) => x - y);
    assert.equal(
      versions,
      Array.from({ length: 50 }, (_, i) => i + 2),
      'every write its own version',
    );
    const stored = await a.get(id);
    assert.is(stored?.version, 51);
    for (const who of ['a', 'b'])
      for (let i = 0; i < 25; i++) assert.is(stored?.data[`${who}${i}`], i, `${who}${i} landed`);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

guess('a guess never outlives the session: a write after another node destroyed it is refused', async () => {
  const redis = await shared();
  const [a, b] = [await node(redis.url), await node(redis.url)];
  const admin = new Redis(redis.url);
  try {
    const id = newId();
    await a.apply(id, [inc], LIFETIMES);
    await a.apply(id, [inc], LIFETIMES); // a now guesses version 2
    await b.destroy(id, 'destroyed');
    const err = await a.apply(id, [inc], { ...LIFETIMES, when: { exists: true } }).catch((e: unknown) => e);
    assert.instance(err, SessionSyncError);
    assert.is((err as SessionSyncError).code, 'ended');
    assert.is(await admin.exists(`session-sync:s:{${id}}`), 0, 'no record came back');
    // Expired under the guess (the key simply vanished): the same.
    const other = newId();
    await a.apply(other, [inc], LIFETIMES);
    await admin.del(`session-sync:s:{${other}}`);
    const gone = await a.apply(other, [inc], { ...LIFETIMES, when: { exists: true } }).catch((e: unknown) => e);
    assert.is((gone as SessionSyncError).code, 'ended');
  } finally {
    admin.disconnect();
    await Promise.all([a.close(), b.close()]);
  }
});

guess('a replayed mutation is read first and answered as a duplicate, even with a guess', async () => {
  const redis = await shared();
  const store = await node(redis.url);
  try {
    const id = newId();
    const first = await store.apply(id, [inc], { ...LIFETIMES, mutation: 'm-1' });
    await store.apply(id, [inc], LIFETIMES);
    let checked = 0;
    const again = await store.apply(id, [inc], {
      ...LIFETIMES,
      mutation: 'm-1',
      check: () => {
        checked++;
        throw new Error('a duplicate must not be judged again');
      },
    });
    assert.is(again.version, first.version);
    assert.is(again.changed, false);
    assert.is(checked, 0);
    assert.equal((await store.get(id))?.data, { n: 2 });
  } finally {
    await store.close();
    await (await shared()).stop();
  }
});

guess.run();

const bounded = suite('KnownRecords');

bounded('keeps the most recently used, never goes back to an older version, forgets on demand', () => {
  const known = new KnownRecords(2);
  known.remember('a', { version: 1, mark: '', text: '{}', user: '' });
  known.remember('b', { version: 1, mark: '', text: '{}', user: '' });
  known.of('a');
  known.remember('a', { version: 2, mark: 'x', text: '{"n":1}', user: '' }); // a is now the newest
  known.remember('c', { version: 1, mark: '', text: '{}', user: '' });
  assert.is(known.of('b'), undefined, 'the least recently used went first');
  assert.is(known.of('a')?.version, 2);
  known.remember('a', { version: 1, mark: '', text: '{}', user: '' });
  assert.is(known.of('a')?.version, 2, 'an older read does not replace a newer write');
  known.saw('a', 2);
  assert.is(known.of('a')?.version, 2, 'its own version is no news');
  known.saw('a', 3);
  assert.is(known.of('a'), undefined, 'a newer version elsewhere makes it stale');
  known.forget('c');
  assert.is(known.of('c'), undefined);
});

bounded.run();
