/**
 * Sessions that end by themselves leave the user index (DESIGN.md §3b, issue 10): idle
 * expiry, the absolute lifetime and MemoryStore's `max` eviction, on MemoryStore and on a
 * real redis-server. Their sockets are told as for any end.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { MemoryStore } from '../../src/server/memory-store.js';
import { RedisStore } from '../../src/server/redis-store.js';
import type { SessionStore } from '../../src/server/store.js';
import type { SessionSyncOptions } from '../../src/server/options.js';
import { post, sleep } from '../support/socket-server.js';
import { endOf, ids, signIn, startAccounts } from '../support/accounts.js';
import { startRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis | undefined;
const redisUrl = async (): Promise<string> => (redis ??= await startRedis()).url;

interface Kind {
  name: string;
  /** A fresh store; `close` closes it (the session layer does not own it). */
  make(): Promise<{ store: SessionStore; close(): Promise<void> }>;
}

const kinds: Kind[] = [
  {
    name: 'MemoryStore',
    make: async () => {
      const store = new MemoryStore({ sweepInterval: 25 });
      return { store, close: () => store.close() };
    },
  },
  {
    name: 'RedisStore',
    make: async () => {
      const store = new RedisStore({ url: await redisUrl() }, { prefix: `ux${randomBytes(3).toString('hex')}:`, watchInterval: 25 });
      await store.ready();
      return { store, close: () => store.close() };
    },
  },
];

async function withServer(kind: Kind, options: SessionSyncOptions, body: (t: Awaited<ReturnType<typeof startAccounts>>) => Promise<void>): Promise<void> {
  const { store, close } = await kind.make();
  const t = await startAccounts({ store, ...options });
  try {
    await t.sync.ready();
    await body(t);
  } finally {
    await t.close();
    await close();
  }
}

for (const kind of kinds) {
  const expiry = suite(`${kind.name}: expired sessions leave the user index`);

  expiry('an idle session leaves; one kept active stays; the idle one’s socket is told', async () => {
    await withServer(kind, { ttl: 300 }, async (t) => {
      const idle = t.visitor();
      const busy = t.visitor();
      const idleId = await signIn(idle, 'u1');
      const busyId = await signIn(busy, 'u1');
      assert.equal(ids(await t.sync.sessionsOf('u1')), [idleId, busyId].sort());
      const socket = await t.connect(idle);
      const ended = endOf(socket, 3000);
      // Writes are activity; a silent open socket is not.
      for (let i = 0; i < 8; i++) {
        await sleep(60);
        await busy.fetch('/write', post({ n: i }));
      }
      assert.equal(ids(await t.sync.sessionsOf('u1')), [busyId]);
      assert.equal((await ended).reason, 'expired');
      assert.equal(await idle.json('/read'), {});
      assert.equal(await busy.json('/read'), { user: { id: 'u1' }, n: 7 });
      await sleep(450);
      assert.equal(await t.sync.sessionsOf('u1'), []);
    });
  });

  expiry('the absolute lifetime ends an active session and takes it out of the index', async () => {
    await withServer(kind, { ttl: 60_000, absolute: 400 }, async (t) => {
      const jar = t.visitor();
      const id = await signIn(jar, 'u1');
      await jar.fetch('/write', post({ n: 1 }));
      assert.equal(ids(await t.sync.sessionsOf('u1')), [id]);
      await sleep(150);
      await jar.fetch('/write', post({ n: 2 }));
      assert.equal(ids(await t.sync.sessionsOf('u1')), [id], 'alive before the deadline');
      await sleep(350);
      assert.equal(await t.sync.sessionsOf('u1'), []);
      assert.is(await t.sync.destroyUser('u1'), 0);
      assert.is(await t.sync.updateUser('u1', [{ op: 'set', path: ['x'], value: 1 }]), 0);
      assert.is(await t.sync.get(id), undefined, 'updateUser did not bring it back');
    });
  });

  expiry.run();
}

// ---

const evicted = suite('MemoryStore: a session evicted by max leaves the user index and its socket is told');

evicted('the longest-idle session of u1 goes when a fourth visitor signs in', async () => {
  const store = new MemoryStore({ max: 3 });
  const t = await startAccounts({ store });
  const warn = console.warn;
  console.warn = () => {}; // the eviction warning is expected here
  try {
    const [d1, d2, d3] = [t.visitor(), t.visitor(), t.visitor()];
    const id1 = await signIn(d1, 'u1');
    const id2 = await signIn(d2, 'u1');
    const id3 = await signIn(d3, 'u1');
    const socket = await t.connect(d1);
    const ended = endOf(socket);
    const other = t.visitor();
    const otherId = await signIn(other, 'u2');
    assert.equal(await ended, { reason: 'evicted', disconnect: 'io server disconnect' });
    assert.equal(ids(await t.sync.sessionsOf('u1')), [id2, id3].sort());
    assert.equal(ids(await t.sync.sessionsOf('u2')), [otherId]);
    assert.is(store.size, 3);
    assert.ok(!ids(await t.sync.sessionsOf('u1')).includes(id1));
  } finally {
    console.warn = warn;
    await t.close();
    await store.close();
  }
});

evicted.run();

// ---

const raw = suite('RedisStore: the user index is a sorted set scored by expiry, pruned on read');

raw('members of ended sessions do not linger once the user is read', async () => {
  const prefix = `uz${randomBytes(3).toString('hex')}:`;
  const store = new RedisStore({ url: await redisUrl() }, { prefix, watchInterval: 25 });
  const client = new Redis(await redisUrl());
  const t = await startAccounts({ store, ttl: 250 });
  try {
    await t.sync.ready();
    const [a, b, c] = [t.visitor(), t.visitor(), t.visitor()];
    const idA = await signIn(a, 'u1');
    const idB = await signIn(b, 'u1');
    const idC = await signIn(c, 'u1');
    const key = `${prefix}u:u1`;
    assert.equal((await client.zrange(key, 0, -1)).sort(), [idA, idB, idC].sort());
    const score = Number(await client.zscore(key, idA));
    assert.ok(Math.abs(score - (Date.now() + 250)) < 200, `scored by expiry (${score - Date.now()} ms ahead)`);
    // Switching user moves the member in the same commit; destroy removes it at once.
    await b.fetch('/write', post({ user: { id: 'u2' } }));
    assert.equal(await client.zrange(`${prefix}u:u2`, 0, -1), [idB]);
    await t.sync.destroy(idC);
    assert.equal(await client.zrange(key, 0, -1), [idA]);
    // A keeps quiet and expires; D stays active, so the set outlives A's score.
    const d = t.visitor();
    const idD = await signIn(d, 'u1');
    for (let i = 0; i < 7; i++) {
      await sleep(60);
      await d.fetch('/write', post({ n: i }));
    }
    assert.equal((await client.zrange(key, 0, -1)).sort(), [idA, idD].sort(), 'set members do not expire by themselves');
    assert.equal(ids(await t.sync.sessionsOf('u1')), [idD]);
    assert.equal(await client.zrange(key, 0, -1), [idD], 'pruned on read');
    // The key itself lives as long as its longest-lived member.
    await sleep(400);
    assert.is(await client.exists(key), 0);
    assert.equal(await t.sync.sessionsOf('u1'), []);
  } finally {
    await t.close();
    client.disconnect();
    await store.close();
    await redis?.stop();
  }
});

raw.run();
