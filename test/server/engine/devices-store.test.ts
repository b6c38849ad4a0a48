/**
 * The device note in both stores (issue 16): kept beside the data — never in it, never
 * bumping the version, never on the feed or in the history — listed by `sessionsOf` with
 * the record's creation time; MemoryStore in its table, RedisStore in the record hash.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryStore } from '../../../src/server/stores/memory/memory-store.js';
import { RedisStore } from '../../../src/server/stores/redis/redis-store.js';
import { TIMES, type SessionStore, type StoreEvent } from '../../../src/server/stores/store.js';
import type { JsonObject, JsonValue, Op } from '../../../src/shared/index.js';
import { startRedis, type TestRedis } from '../../support/redis.js';

const newId = (): string => randomBytes(32).toString('base64url');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const set = (path: string[], value: JsonValue): Op => ({ op: 'set', path, value });
const userOf = (data: JsonObject): string | undefined => {
  const user = data.user as { id?: unknown } | undefined;
  return typeof user?.id === 'string' ? user.id : undefined;
};
const LIFETIMES = { ttl: 60_000, absolute: 600_000, user: userOf };
const MAC = { userAgent: 'Mozilla/5.0 (Macintosh) Chrome/126.0.0.0 Safari/537.36', ip: '203.0.113.7' };
const PHONE = { userAgent: 'Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0' };

let started: Promise<TestRedis> | undefined;
const redis = (): Promise<TestRedis> => (started ??= startRedis());

interface Made {
  store: SessionStore;
  close(): Promise<void>;
}

const stores: [string, () => Promise<Made>][] = [
  [
    'MemoryStore',
    async () => {
      const store = new MemoryStore();
      return { store, close: () => store.close() };
    },
  ],
  [
    'RedisStore',
    async () => {
      const store = new RedisStore({ url: (await redis()).url }, { prefix: `dv${randomBytes(3).toString('hex')}:` });
      store.subscribe(() => undefined);
      await store.ready();
      return { store, close: () => store.close() };
    },
  ],
];

for (const [name, make] of stores) {
  const notes = suite(`${name}: the device note sits beside the data`);

  notes('an apply keeps the note; sessionsOf lists it with createdAt = the epoch; get() never shows it', async () => {
    const { store, close } = await make();
    try {
      const user = `u-${newId().slice(0, 6)}`;
      const id = newId();
      await store.apply(id, [set(['user'], { id: user })], { ...LIFETIMES, device: MAC });
      const stored = await store.get(id);
      assert.equal(stored, { data: { user: { id: user } }, version: 1, user });
      assert.equal(Object.keys(stored!).sort(), ['data', 'user', 'version']);
      const [entry] = await store.sessionsOf(user);
      assert.equal(entry, {
        id,
        version: 1,
        lastActive: entry!.lastActive,
        createdAt: stored![TIMES]!.epoch,
        device: MAC,
      });
      assert.type(entry!.createdAt, 'number');
    } finally {
      await close();
    }
  });

  notes('a note through an unchanged apply or a touch: no version, no event, no history', async () => {
    const { store, close } = await make();
    const events: StoreEvent[] = [];
    const stop = store.subscribe((event) => events.push(event));
    try {
      const user = `u-${newId().slice(0, 6)}`;
      const id = newId();
      await store.apply(id, [set(['user'], { id: user })], LIFETIMES);
      await sleep(30);
      const before = events.length;
      const unchanged = await store.apply(id, [set(['user'], { id: user })], { ...LIFETIMES, device: PHONE });
      assert.is(unchanged.changed, false);
      assert.is(unchanged.version, 1);
      assert.equal((await store.sessionsOf(user))[0]!.device, PHONE);
      await store.touch(id, 60_000, { device: MAC });
      assert.equal((await store.sessionsOf(user))[0]!.device, MAC);
      // A touch without a note keeps the one there; a note without an IP drops the old IP.
      await store.touch(id, 60_000);
      assert.equal((await store.sessionsOf(user))[0]!.device, MAC);
      await store.touch(id, 60_000, { device: PHONE });
      assert.equal((await store.sessionsOf(user))[0]!.device, PHONE);
      await store.touch(id, 60_000, { device: {} });
      assert.is((await store.sessionsOf(user))[0]!.device, undefined);
      await sleep(50);
      assert.is(events.length, before, 'nothing on the feed');
      assert.equal(await store.since(id, 1), [], 'nothing in the history');
      assert.equal(await store.get(id), { data: { user: { id: user } }, version: 1, user });
    } finally {
      stop();
      await close();
    }
  });

  notes('no record, no note: a touch or an apply that creates nothing keeps nothing', async () => {
    const { store, close } = await make();
    try {
      const user = `u-${newId().slice(0, 6)}`;
      const id = newId();
      await store.touch(id, 60_000, { device: MAC });
      const none = await store.apply(id, [{ op: 'del', path: ['x'] }], { ...LIFETIMES, device: MAC });
      assert.is(none.version, 0);
      assert.is(await store.get(id), undefined);
      // A later write creates the record without the earlier note.
      await store.apply(id, [set(['user'], { id: user })], LIFETIMES);
      assert.is((await store.sessionsOf(user))[0]!.device, undefined);
      // And an ended record takes its note with it.
      await store.apply(id, [set(['n'], 1)], { ...LIFETIMES, device: MAC });
      await store.destroy(id, 'destroyed');
      assert.equal(await store.sessionsOf(user), []);
    } finally {
      await close();
    }
  });

  notes.run();
}

// ---

const memory = suite('MemoryStore: notes in their own column, counted against maxBytes');

memory('a note adds its bytes, a replacement swaps them, an end gives them back', async () => {
  const store = new MemoryStore();
  try {
    const id = newId();
    await store.apply(id, [set(['n'], 1)], LIFETIMES);
    const bare = store.bytes;
    await store.touch(id, 60_000, { device: MAC });
    const noted = store.bytes;
    assert.ok(noted - bare >= MAC.userAgent.length + MAC.ip.length, `a note counts (${noted - bare} B)`);
    await store.touch(id, 60_000, { device: PHONE });
    assert.is(store.bytes - bare, noted - bare - MAC.userAgent.length - MAC.ip.length + PHONE.userAgent.length);
    await store.destroy(id, 'destroyed');
    assert.is(store.bytes, 0);
  } finally {
    await store.close();
  }
});

memory('the note held is a copy that keeps only strings', async () => {
  const store = new MemoryStore();
  try {
    const id = newId();
    const device = { userAgent: 'a/1', ip: '10.0.0.1', extra: 'x' } as { userAgent: string; ip: string };
    await store.apply(id, [set(['user'], { id: 'u' })], { ...LIFETIMES, device });
    device.userAgent = 'changed';
    assert.equal((await store.sessionsOf('u'))[0]!.device, { userAgent: 'a/1', ip: '10.0.0.1' });
  } finally {
    await store.close();
  }
});

memory.run();

// ---

const hash = suite('RedisStore: the note lives in the record hash, never in a key of its own');

hash('notes are fields ua / ip of {prefix}s:{id}, and refreshing them adds no key', async () => {
  const { url } = await redis();
  const prefix = `dh${randomBytes(3).toString('hex')}:`;
  const store = new RedisStore({ url }, { prefix });
  const client = new Redis(url);
  try {
    const id = newId();
    await store.apply(id, [set(['user'], { id: 'u' })], { ...LIFETIMES, device: MAC });
    const fields = await client.hgetall(`${prefix}s:{${id}}`);
    assert.is(fields.ua, MAC.userAgent);
    assert.is(fields.ip, MAC.ip);
    assert.is(fields.d, JSON.stringify({ user: { id: 'u' } }), 'the data text holds no note');
    const keys = (await client.keys(`${prefix}*`)).sort();
    for (let i = 0; i < 5; i++) {
      await store.touch(id, 60_000, { device: i % 2 ? MAC : PHONE });
      await store.apply(id, [set(['user'], { id: 'u' })], { ...LIFETIMES, device: i % 2 ? PHONE : MAC });
    }
    assert.equal((await client.keys(`${prefix}*`)).sort(), keys, 'no new key');
    assert.is(await client.hget(`${prefix}s:{${id}}`, 'ua'), MAC.userAgent);
    await store.touch(id, 60_000, { device: PHONE });
    assert.is(await client.hget(`${prefix}s:{${id}}`, 'ip'), null, 'a note without an IP drops the field');
    await store.destroy(id, 'destroyed');
    assert.is(await client.exists(`${prefix}s:{${id}}`), 0);
  } finally {
    client.disconnect();
    await store.close();
    await (await redis()).stop();
  }
});

hash.run();
