/**
 * The memory that remembers dead ids is bounded. After a flood of 10,000 sessions created by
 * adoption and ended, each store keeps one small mark per ended id, and only until that id's
 * adoption window (its cookie's issue time + min(ttl, absolute)) closes; after it, the issue
 * time alone refuses adoption and the marks are gone. MemoryStore counts the marks in `bytes`
 * and, past `maxBytes`, drops the oldest while raising a watermark, so an id whose mark was
 * dropped can still never be adopted. RedisStore keeps a born key and a short tombstone per
 * ended id, both with an expiry. Each test prints its figures.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryStore } from '../../../src/server/stores/memory/memory-store.js';
import { RedisStore } from '../../../src/server/stores/redis/redis-store.js';
import type { ApplyOptions, SessionStore } from '../../../src/server/stores/store.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { heapAfterGc } from '../../support/reliability.js';

const FLOOD = 10_000;
const MARK_BYTES = 160; // what MemoryStore counts per mark (born.ts)
const newId = (): string => randomBytes(32).toString('base64url');
const SET = [{ op: 'set' as const, path: ['cart'], value: ['book'] }];

async function codeOf(work: Promise<unknown>): Promise<string | undefined> {
  return work.then(
    () => undefined,
    (err: { code?: string }) => err.code ?? String(err),
  );
}

/** Creates `count` sessions by adoption and ends each (`concurrency` at a time). */
async function flood(
  store: SessionStore,
  count: number,
  options: (i: number) => ApplyOptions,
  concurrency = 1,
): Promise<string[]> {
  const ids = Array.from({ length: count }, newId);
  for (let i = 0; i < count; i += concurrency) {
    await Promise.all(
      ids.slice(i, i + concurrency).map(async (id, k) => {
        await store.apply(id, SET, options(i + k));
        await store.destroy(id, 'destroyed');
      }),
    );
  }
  return ids;
}

// ---

const memory = suite('MemoryStore: the bookkeeping of 10,000 ended sessions is bounded and swept');

memory('one counted mark per ended id until its window closes, then nothing; none can be adopted', async () => {
  let clock = Date.now();
  const store = new MemoryStore({ now: () => clock });
  const heap = heapAfterGc();
  const window = 3600_000;
  const lifetimes = { ttl: window, absolute: 30 * window };
  const before = await heap();
  const issued = clock;
  const ids = await flood(store, FLOOD, () => ({ ...lifetimes, when: { adopt: issued } }));
  const marked = await heap();
  assert.is(store.size, 0, 'no record is left');
  assert.is(store.bytes, FLOOD * MARK_BYTES, 'exactly one counted mark per ended id');
  const perId = (marked - before) / FLOOD;
  for (const id of ids.slice(0, 50)) {
    assert.is(await store.endOf(id), 'destroyed', 'the reason is remembered');
    assert.is(await codeOf(store.apply(id, SET, { ...lifetimes, when: { adopt: issued } })), 'ended');
  }
  // The window closes: the sweep forgets every mark, and the issue time alone refuses.
  clock += window;
  store.sweep();
  const swept = await heap();
  assert.is(store.bytes, 0, 'nothing is left once the windows have closed');
  for (const id of ids.slice(0, 50)) {
    assert.is(await codeOf(store.apply(id, SET, { ...lifetimes, when: { adopt: issued } })), 'ended');
  }
  assert.is(store.size, 0);
  assert.ok(perId < 2.5 * MARK_BYTES, `the count is honest: ${perId.toFixed(0)} heap bytes per mark measured`);
  console.log(
    `  dead-id memory (MemoryStore): ${FLOOD} ended sessions -> ${store.bytes === 0 ? FLOOD * MARK_BYTES : store.bytes} bytes counted ` +
      `(${MARK_BYTES} per id), ${((marked - before) / 1024).toFixed(0)} KiB of heap measured (${perId.toFixed(0)} B per id); ` +
      `after the window: 0 counted, heap back to +${((swept - before) / 1024).toFixed(0)} KiB`,
  );
  await store.close();
});

memory('past maxBytes the oldest marks go and the watermark still refuses their ids', async () => {
  const cap = 200 * MARK_BYTES;
  const store = new MemoryStore({ maxBytes: cap });
  const lifetimes = { ttl: 3600_000, absolute: 3600_000 };
  const start = Date.now();
  // Issue times one ms apart, in creation order, as cookies of a flood are.
  const ids = await flood(store, 2000, (i) => ({ ...lifetimes, when: { adopt: start - 2000 + i } }));
  assert.ok(store.bytes <= cap, `bytes ${store.bytes} stay within maxBytes ${cap}`);
  const refused = await Promise.all(
    ids.map((id, i) => codeOf(store.apply(id, SET, { ...lifetimes, when: { adopt: start - 2000 + i } }))),
  );
  assert.equal(
    refused.filter((code) => code !== 'ended'),
    [],
    'every ended id is refused, marked or under the watermark',
  );
  assert.is(store.size, 0, 'none came back');
  console.log(
    `  dead-id memory (MemoryStore, maxBytes ${cap}): 2000 ended ids, ${store.bytes} bytes kept, all refused`,
  );
  await store.close();
});

memory('ids ended before their first write (sign-in, sign-out) count and are bounded the same way', async () => {
  const cap = 100 * MARK_BYTES;
  const store = new MemoryStore({ maxBytes: cap });
  const lifetimes = { ttl: 3600_000, absolute: 3600_000 };
  const issued = Date.now();
  const ids = Array.from({ length: 1000 }, newId);
  for (const id of ids) await store.destroy(id, 'regenerated', { adoptableUntil: issued + lifetimes.ttl });
  assert.ok(store.bytes <= cap, `bytes ${store.bytes} stay within maxBytes ${cap}`);
  for (const id of ids)
    assert.is(await codeOf(store.apply(id, SET, { ...lifetimes, when: { adopt: issued } })), 'ended');
  assert.is(store.size, 0);
  await store.close();
});

memory.run();

// ---

const redis = suite<{ redis: TestRedis; raw: Redis }>(
  'RedisStore: the bookkeeping of 10,000 ended sessions is two expiring keys per id',
);

redis.before(async (ctx) => {
  ctx.redis = await startRedis();
  ctx.raw = new Redis(ctx.redis.url);
});
redis.after(async ({ redis, raw }) => {
  raw.disconnect();
  await redis.stop();
});

async function count(raw: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await raw.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

async function usedMemory(raw: Redis): Promise<number> {
  const info = await raw.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

redis(
  'a born key until the window closes and a 60 s tombstone per id; nothing else; none adopted',
  async ({ raw, redis: r }) => {
    const prefix = `bk${randomBytes(3).toString('hex')}:`;
    const store = new RedisStore({ url: r.url }, { prefix });
    // A window long enough that none closes during the flood, on a loaded machine too.
    const window = 120_000;
    const lifetimes = { ttl: window, absolute: 3600_000 };
    const before = await usedMemory(raw);
    const issued = Date.now();
    const t0 = Date.now();
    const ids = await flood(store, FLOOD, () => ({ ...lifetimes, when: { adopt: issued } }), 200);
    const took = Date.now() - t0;
    const after = await usedMemory(raw);
    const born = await count(raw, `${prefix}b:*`);
    const tombstones = await count(raw, `${prefix}x:*`);
    const all = await count(raw, `${prefix}*`);
    assert.is(born, FLOOD, 'one born key per ended id');
    assert.is(tombstones, FLOOD, 'one tombstone per ended id');
    assert.is(all, 2 * FLOOD, 'no record, history, mutation or index key is left');
    // Both expire: the born key with the window, the tombstone after 60 s.
    const sample = ids.slice(0, 100);
    for (const id of sample) {
      const [bornLeft, tombLeft] = await Promise.all([raw.pttl(`${prefix}b:{${id}}`), raw.pttl(`${prefix}x:{${id}}`)]);
      assert.ok(bornLeft > 0 && bornLeft <= window, `the born key expires within the window (${bornLeft} ms)`);
      assert.ok(tombLeft > 0 && tombLeft <= 60_000, `the tombstone expires within 60 s (${tombLeft} ms)`);
      assert.is(await store.endOf(id), 'destroyed');
    }
    const refused = await Promise.all(
      sample.map((id) => codeOf(store.apply(id, SET, { ...lifetimes, when: { adopt: issued } }))),
    );
    assert.equal(new Set(refused), new Set(['ended']), 'no ended id is adopted again');
    const perId = (after - before) / FLOOD;
    // Past the window the born keys are gone, and the issue time alone refuses: shown on a
    // smaller flood with a short window.
    const short = { ttl: 1500, absolute: 3600_000 };
    const shortPrefix = `${prefix}short:`;
    const quick = new RedisStore({ url: r.url }, { prefix: shortPrefix });
    const shortIssued = Date.now();
    const few = await flood(quick, 200, () => ({ ...short, when: { adopt: shortIssued } }), 50);
    assert.is(await count(raw, `${shortPrefix}b:*`), 200);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, shortIssued + short.ttl + 50 - Date.now())));
    assert.is(await count(raw, `${shortPrefix}b:*`), 0, 'the born keys expired with the window');
    const late = await Promise.all(
      few.map((id) => codeOf(quick.apply(id, SET, { ...short, when: { adopt: shortIssued } }))),
    );
    assert.equal(new Set(late), new Set(['ended']));
    assert.is(await count(raw, `${shortPrefix}s:*`), 0, 'no record came back');
    await quick.close();
    console.log(
      `  dead-id memory (RedisStore): ${FLOOD} ended sessions in ${(took / 1000).toFixed(1)} s -> ${born} born keys + ${tombstones} tombstones, ` +
        `${((after - before) / 1024 / 1024).toFixed(1)} MB of Redis memory (${perId.toFixed(0)} B per id); born keys gone once the window closes`,
    );
    await store.close();
  },
);

redis.run();
