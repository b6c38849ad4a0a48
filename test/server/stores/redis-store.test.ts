import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RedisStore } from '../../../src/server/stores/redis/redis-store.js';
import type { StoreEvent } from '../../../src/server/stores/store.js';
import { SessionSyncError, type JsonObject, type JsonValue, type Op } from '../../../src/shared/index.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { storeContract } from './store-contract.js';

// One server for the file, started by the first test that needs it (uvu loads test files as
// CommonJS, so no top-level await); the last suite stops it.
let started: Promise<TestRedis> | undefined;
const shared = (): Promise<TestRedis> => (started ??= startRedis());

const LIFETIMES = { ttl: 60_000, absolute: 600_000 };
const newId = (): string => randomBytes(32).toString('base64url');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const set = (path: string[], value: JsonValue): Op => ({ op: 'set', path, value });
const userOf = (data: JsonObject): string | undefined => {
  const user = data.user;
  return user !== null && typeof user === 'object' && !Array.isArray(user) && typeof user.id === 'string'
    ? user.id
    : undefined;
};

/** A store whose change feed is subscribed before it is handed out (the SUBSCRIBE is async). */
async function node(url?: string, options: ConstructorParameters<typeof RedisStore>[1] = {}): Promise<RedisStore> {
  url ??= (await shared()).url;
  const store = new RedisStore({ url }, { watchInterval: 50, ...options });
  store.subscribe(() => undefined);
  await store.ready();
  return store;
}

/** Records one store's feed and waits for events. */
function record(store: RedisStore): {
  events: StoreEvent[];
  until(ok: () => boolean, what: string, ms?: number): Promise<void>;
} {
  const events: StoreEvent[] = [];
  store.subscribe((e) => events.push(e));
  return {
    events,
    async until(ok, what, ms = 3000) {
      const deadline = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(10);
      }
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

storeContract(
  'RedisStore',
  async () => {
    const store = await node();
    return { store, close: () => store.close() };
  },
  { history: 50 },
);

// ---

const json = suite('JSON values cross Redis exactly: apply, get, since, the raw record and another node');

json('[], {}, [[]], long numbers, tiny numbers and unicode survive on both nodes', async () => {
  const [a, b] = [await node(), await node()];
  const feed = record(b);
  const raw = new Redis((await shared()).url);
  try {
    const id = newId();
    const value: JsonObject = {
      empty: [],
      obj: {},
      nested: [[]],
      deep: [[[]], {}, [{}]],
      float: 0.12345678901234567,
      big: 2 ** 53 - 1,
      small: -1e-300,
      text: '日本語 🎉 \u2028',
    };
    const text = JSON.stringify(value);
    await a.apply(id, [set(['v'], value)], LIFETIMES);
    assert.is(JSON.stringify((await b.get(id))?.data.v), text);
    const got = (await b.get(id))!.data.v as JsonObject;
    assert.ok(Array.isArray(got.empty) && Array.isArray(got.nested) && Array.isArray((got.nested as JsonValue[])[0]));
    assert.is(got.float, 0.12345678901234567);
    assert.is(got.big, 9007199254740991);
    assert.is(got.small, -1e-300);
    assert.is(got.text, '日本語 🎉 \u2028');
    const patches = await b.since(id, 0);
    assert.is(JSON.stringify((patches?.[0]?.ops[0] as { value: JsonValue }).value), text);
    await feed.until(() => feed.events.some((e) => e.id === id), 'the change on node B');
    const event = feed.events.find((e) => e.id === id) as Extract<StoreEvent, { type: 'change' }>;
    assert.is(JSON.stringify((event.ops[0] as { value: JsonValue }).value), text);
    // The record holds exactly the text Node encoded: Lua never re-encoded it.
    assert.is(await raw.hget(`session-sync:s:{${id}}`, 'd'), JSON.stringify({ v: value }));
    // A later change on B keeps the arrays A wrote.
    await b.apply(id, [set(['v', 'obj', 'k'], [[]])], LIFETIMES);
    const after = (await a.get(id))!.data.v as JsonObject;
    assert.is(JSON.stringify(after.deep), JSON.stringify(value.deep));
    assert.equal(after.obj, { k: [[]] });
  } finally {
    raw.disconnect();
    await Promise.all([a.close(), b.close()]);
  }
});

json.run();

// ---

const nodes = suite('two nodes on one Redis behave as one store');

nodes('a change and a destroy on node A reach the listeners of node B', async () => {
  const [a, b] = [await node(), await node()];
  const feed = record(b);
  try {
    const id = newId();
    await a.apply(id, [set(['x'], 1)], { ...LIFETIMES, mutation: 'm1' });
    await feed.until(() => feed.events.length >= 1, 'the change on B');
    assert.equal(feed.events[0], { type: 'change', id, version: 1, base: 0, ops: [set(['x'], 1)], mutation: 'm1' });
    assert.equal(await b.get(id), { data: { x: 1 }, version: 1 });
    assert.is(await a.destroy(id, 'destroyed'), true);
    await feed.until(() => feed.events.length >= 2, 'the end on B');
    assert.equal(feed.events[1], { type: 'end', id, reason: 'destroyed' });
    assert.is(await b.get(id), undefined);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

nodes('40 concurrent writes of different keys, alternating nodes, land as versions 1..40', async () => {
  const [a, b] = [await node(), await node()];
  const feed = record(b);
  try {
    const id = newId();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? b : a).apply(id, [set([`k${i}`], i)], LIFETIMES)),
    );
    assert.equal(
      results.map((r) => r.version).sort((x, y) => x - y),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const stored = await a.get(id);
    assert.is(stored?.version, 40);
    assert.equal(stored?.data, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i])));
    await feed.until(() => feed.events.length >= 40, '40 changes on B');
    assert.equal(
      feed.events.map((e) => (e.type === 'change' ? e.version : -1)).sort((x, y) => x - y),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    assert.equal(
      (await a.since(id, 0))?.map((p) => p.version),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

nodes('one mutation id replayed through the other node is applied once', async () => {
  const [a, b] = [await node(), await node()];
  try {
    const id = newId();
    const first = await a.apply(id, [set(['n'], 1)], { ...LIFETIMES, mutation: 'same' });
    const replay = await b.apply(id, [set(['n'], 2)], { ...LIFETIMES, mutation: 'same' });
    assert.equal(first, { version: 1, ops: [set(['n'], 1)], changed: true });
    assert.equal(replay, { version: 1, ops: [], changed: false, duplicate: true });
    assert.equal(await b.get(id), { data: { n: 1 }, version: 1 });
    // Racing: both nodes send the same id at once; exactly one applies.
    const racing = await Promise.all([
      a.apply(id, [set(['r'], 'a')], { ...LIFETIMES, mutation: 'race' }),
      b.apply(id, [set(['r'], 'b')], { ...LIFETIMES, mutation: 'race' }),
    ]);
    assert.is(racing.filter((r) => r.duplicate).length, 1);
    assert.is(racing[0].version, 2);
    assert.is(racing[1].version, 2);
    assert.is((await a.get(id))?.version, 2);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

nodes('expiry is noticed by the node that watches, and told to its listeners only', async () => {
  const [a, b] = [await node(), await node()];
  const feedA = record(a);
  const feedB = record(b);
  const release = b.watch(newId()); // an id never written: nothing to expire
  try {
    const id = newId();
    const gone = newId();
    const watching = [b.watch(id), b.watch(gone)];
    await a.apply(id, [set(['x'], 1)], { ttl: 200, absolute: 600_000 });
    await a.apply(gone, [set(['x'], 1)], LIFETIMES);
    await feedB.until(() => feedB.events.some((e) => e.id === id && e.type === 'end'), 'expired on B');
    assert.equal(
      feedB.events.filter((e) => e.id === id && e.type === 'end'),
      [{ type: 'end', id, reason: 'expired' }],
    );
    // A destroyed session is announced once as destroyed, never also as expired.
    await a.destroy(gone, 'destroyed');
    await sleep(300);
    assert.equal(
      feedB.events.filter((e) => e.id === gone && e.type === 'end'),
      [{ type: 'end', id: gone, reason: 'destroyed' }],
    );
    assert.equal(
      feedA.events.filter((e) => e.type === 'end').map((e) => e.id),
      [gone],
      'A watched nothing, so it heard only the destroy',
    );
    assert.is(feedB.events.filter((e) => e.type === 'end').length, 2);
    for (const stop of watching) stop();
  } finally {
    release();
    await Promise.all([a.close(), b.close()]);
  }
});

nodes.run();

// ---

const layout = suite('the key layout is as documented and every key of a session expires together');

layout(
  "record, history, mutations, order keys carry the session's hash tag, the user index the user's; destroy removes them",
  async () => {
    const prefix = `t${randomBytes(3).toString('hex')}:`;
    const store = await node((await shared()).url, { prefix });
    const raw = new Redis((await shared()).url);
    try {
      const id = newId();
      await store.apply(id, [set(['user'], { id: 'ann' })], {
        ttl: 30_000,
        absolute: 600_000,
        mutation: 'm',
        user: userOf,
      });
      const keys = (await raw.keys(`${prefix}*`)).sort();
      const tag = `{${id}}`;
      assert.equal(
        keys,
        [`${prefix}h:${tag}`, `${prefix}m:${tag}`, `${prefix}o:${tag}`, `${prefix}s:${tag}`, `${prefix}u:{ann}`].sort(),
      );
      const record = await raw.hgetall(`${prefix}s:${tag}`);
      assert.equal(Object.keys(record).sort(), ['a', 'c', 'd', 't', 'u', 'v', 'w']);
      assert.is(record.v, '1');
      assert.is(record.u, 'ann');
      assert.is(Number(record.a) - Number(record.c), 600_000);
      for (const key of keys.filter((k) => k.includes(tag))) {
        const pttl = await raw.pttl(key);
        assert.ok(pttl > 29_000 && pttl <= 30_000, `${key} expires with the session (${pttl})`);
      }
      const indexTtl = await raw.pttl(`${prefix}u:{ann}`);
      assert.ok(indexTtl > 600_000, `the user index outlives the session's absolute deadline (${indexTtl})`);
      assert.is(await raw.hget(`${prefix}m:${tag}`, 'm'), '1');
      assert.ok((await raw.zscore(`${prefix}u:{ann}`, id)) !== null);
      await store.destroy(id, 'destroyed');
      assert.equal(await raw.keys(`${prefix}[shmo]:*`), []);
      assert.is(await raw.exists(`${prefix}x:${tag}`), 1, 'a tombstone is left for the expiry watchers');
      assert.equal(await store.sessionsOf('ann'), []);
    } finally {
      raw.disconnect();
      await store.close();
    }
  },
);

layout('the user index is pruned on read: an expired member leaves once past the grace, a live one stays', async () => {
  const prefix = `t${randomBytes(3).toString('hex')}:`;
  // timeout 200 ms: the grace is 5 × 200 ms.
  const store = await node((await shared()).url, { prefix, timeout: 200 });
  const raw = new Redis((await shared()).url);
  try {
    const [short, long] = [newId(), newId()];
    await store.apply(short, [set(['user'], { id: 'zed' })], { ttl: 150, absolute: 600_000, user: userOf });
    await store.apply(long, [set(['user'], { id: 'zed' })], { ...LIFETIMES, user: userOf });
    await sleep(300);
    assert.is(await raw.zcard(`${prefix}u:{zed}`), 2, 'set members do not expire by themselves');
    assert.equal(
      (await store.sessionsOf('zed')).map((s) => s.id),
      [long],
    );
    assert.is(await raw.zcard(`${prefix}u:{zed}`), 2, 'within the grace the member stays (never listed)');
    await sleep(800);
    assert.equal(
      (await store.sessionsOf('zed')).map((s) => s.id),
      [long],
    );
    assert.is(await raw.zcard(`${prefix}u:{zed}`), 1, 'the expired member was removed');
  } finally {
    raw.disconnect();
    await store.close();
  }
});

layout.run();

// ---

const client = suite('with { client } the store shares your ioredis client and leaves it open');

client('commands go through the client, pub/sub through a duplicate, close() keeps the client', async () => {
  const mine = new Redis((await shared()).url);
  const store = new RedisStore({ client: mine });
  const feed = record(store);
  await store.ready();
  try {
    const id = newId();
    await store.apply(id, [set(['a'], 1)], LIFETIMES);
    await feed.until(() => feed.events.length === 1, 'the change');
    assert.is(await mine.hget(`session-sync:s:{${id}}`, 'v'), '1');
  } finally {
    await store.close();
  }
  assert.is(mine.status, 'ready');
  assert.is(await mine.ping(), 'PONG');
  mine.disconnect();
});

client("a client with ioredis' keyPrefix keeps the user index consistent", async () => {
  const url = (await shared()).url;
  const kp = `kp${randomBytes(3).toString('hex')}:`;
  const mine = new Redis(url, { keyPrefix: kp });
  const raw = new Redis(url);
  const store = new RedisStore({ client: mine });
  try {
    const id = newId();
    await store.apply(id, [set(['user'], { id: 'kim' })], { ...LIFETIMES, user: userOf });
    assert.is(await raw.exists(`${kp}session-sync:s:{${id}}`), 1);
    assert.is(await raw.exists(`${kp}session-sync:u:{kim}`), 1);
    assert.equal(
      (await store.sessionsOf('kim')).map((s) => s.id),
      [id],
    );
    await store.destroy(id, 'destroyed');
    assert.equal(await store.sessionsOf('kim'), []);
    assert.is(
      await raw.exists(`session-sync:u:{kim}`, `session-sync:s:{${id}}`, `session-sync:x:{${id}}`),
      0,
      "no key without the client's keyPrefix",
    );
  } finally {
    await store.close();
    mine.disconnect();
    raw.disconnect();
  }
});

client.run();

// ---

const options = suite('bad options are TypeErrors naming the option');

options('url/client, prefix, history, channel, watchInterval, timeout, ttl', async () => {
  const url = (await shared()).url;
  assert.throws(() => new RedisStore({ url: url, client: new Redis({ lazyConnect: true }) } as never), /not both/);
  assert.throws(() => new RedisStore({ url: '' }), /url/);
  assert.throws(() => new RedisStore({ client: {} as never }), /ioredis/);
  assert.throws(() => new RedisStore({ url: url }, { history: 0 }), /history/);
  assert.throws(() => new RedisStore({ url: url }, { prefix: 1 as never }), /prefix/);
  assert.throws(() => new RedisStore({ url: url }, { channel: '' }), /channel/);
  assert.throws(() => new RedisStore({ url: url }, { watchInterval: -1 }), /watchInterval/);
  assert.throws(() => new RedisStore({ url: url }, { timeout: Number.NaN }), /timeout/);
  const store = new RedisStore({ url: url });
  try {
    const err = await failure(store.apply(newId(), [], { ttl: 0, absolute: 1 }));
    assert.instance(err, TypeError);
    assert.match((err as Error).message, 'ttl');
  } finally {
    await store.close();
  }
});

options('a missing redis-server is an error with the install command, not a skip', async () => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const err = await failure(startRedis());
    assert.match((err as Error).message, 'apt-get install -y redis-server');
  } finally {
    process.env.PATH = path;
  }
});

options.run();

// ---

const outage = suite('Redis down: clean store_unavailable failures, then recovery with the feed resubscribed');

let down: TestRedis | undefined;
outage.before(async () => {
  down = await startRedis();
});
outage.after(async () => {
  await down?.stop();
  if (started) await (await started).stop(); // the last suite of the file: the shared server goes too
});

outage('no Redis at all: the first call fails within the timeout', async () => {
  const dead = await startRedis();
  await dead.stop();
  const store = new RedisStore({ url: dead.url }, { timeout: 500 });
  try {
    const t0 = Date.now();
    const err = await failure(store.apply(newId(), [set(['a'], 1)], LIFETIMES));
    assert.instance(err, SessionSyncError);
    assert.is((err as SessionSyncError).code, 'store_unavailable');
    assert.ok(Date.now() - t0 < 1500, `failed in ${Date.now() - t0} ms`);
  } finally {
    await store.close();
  }
});

outage('restart: every call fails fast during the outage, applies and events work after it', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const [a, b] = [await node(down!.url), await node(down!.url)];
  const feed = record(b);
  const id = newId();
  const watched = b.watch(id);
  try {
    await a.apply(id, [set(['n'], 1)], LIFETIMES);
    await feed.until(() => feed.events.length === 1, 'the first change');

    await down!.stop();
    await sleep(50);
    for (const [what, call] of [
      ['apply', () => a.apply(id, [set(['n'], 2)], LIFETIMES)],
      ['get', () => b.get(id)],
      ['since', () => b.since(id, 0)],
      ['touch', () => a.touch(id, 1000)],
      ['sessionsOf', () => a.sessionsOf('x')],
      ['destroy', () => a.destroy(newId(), 'destroyed')],
    ] as const) {
      const t0 = Date.now();
      const err = await failure(call());
      assert.instance(err, SessionSyncError, what);
      assert.is((err as SessionSyncError).code, 'store_unavailable', what);
      assert.is((err as SessionSyncError).status, 503);
      assert.ok(Date.now() - t0 < 2000, `${what} failed in ${Date.now() - t0} ms`);
    }
    await sleep(150); // a few expiry checks run against the dead link, and must report nothing
    assert.equal(
      feed.events.filter((e) => e.type === 'end'),
      [],
    );

    await down!.restart(); // no persistence: the data is gone, as after a crash of a cache
    const deadline = Date.now() + 8000;
    let version = 0;
    while (!version) {
      try {
        version = (await a.apply(id, [set(['n'], 3)], LIFETIMES)).version;
      } catch (err) {
        assert.is((err as SessionSyncError).code, 'store_unavailable');
        if (Date.now() > deadline) throw err;
        await sleep(100);
      }
    }
    assert.is(version, 1, 'a fresh record on the empty Redis');
    // B's subscriber reconnects and resubscribes by itself: a write made after that reaches it.
    const heardAfter = (): boolean =>
      feed.events.some((e) => e.type === 'change' && e.ops.some((op) => op.path[0] === 'after'));
    for (let k = 0; !heardAfter(); k++) {
      if (Date.now() > deadline) throw new Error('B never heard a change after the restart');
      await a.apply(id, [set(['after'], k)], LIFETIMES);
      await sleep(100);
    }
    assert.equal((await b.get(id))?.data.n, 3);
    assert.equal(unhandled, []);
  } finally {
    watched();
    process.off('unhandledRejection', onUnhandled);
    await Promise.all([a.close(), b.close()]);
  }
});

outage.run();
