/**
 * Sessions that end by themselves leave the user index (option `user`, issue 10): idle
 * expiry, the absolute lifetime and MemoryStore's `max` eviction, on MemoryStore and on a
 * real redis-server. Their sockets are told as for any end.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { MemoryStore } from '../../../src/server/stores/memory/memory-store.js';
import { RedisStore } from '../../../src/server/stores/redis/redis-store.js';
import type { SessionStore } from '../../../src/server/stores/store.js';
import type { SessionSyncOptions } from '../../../src/server/options.js';
import { post, sleep } from '../../support/socket-server.js';
import { endOf, ids, signIn, startAccounts } from '../../support/accounts.js';
import { startRedis, type TestRedis } from '../../support/redis.js';

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
      const store = new RedisStore(
        { url: await redisUrl() },
        { prefix: `ux${randomBytes(3).toString('hex')}:`, watchInterval: 25 },
      );
      await store.ready();
      return { store, close: () => store.close() };
    },
  },
];

async function withServer(
  kind: Kind,
  options: SessionSyncOptions,
  body: (t: Awaited<ReturnType<typeof startAccounts>>) => Promise<void>,
): Promise<void> {
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
    await withServer(kind, { ttl: 600 }, async (t) => {
      const idle = t.visitor();
      const busy = t.visitor();
      const idleId = await signIn(idle, 'u1');
      const busyId = await signIn(busy, 'u1');
      assert.equal(ids(await t.sync.sessionsOf('u1')), [idleId, busyId].sort());
      const socket = await t.connect(idle);
      const ended = endOf(socket, 3000);
      // Writes are activity; a silent open socket is not. Busy writes (every few ms, far
      // inside its ttl even on a loaded machine) until the idle one has left the index.
      const deadline = Date.now() + 3000;
      let n = 0;
      let listed: string[];
      do {
        await sleep(20);
        await busy.fetch('/write', post({ n: ++n }));
        listed = ids(await t.sync.sessionsOf('u1'));
      } while (listed.includes(idleId) && Date.now() < deadline);
      assert.equal(listed, [busyId]);
      assert.equal((await ended).reason, 'expired');
      assert.equal(await idle.json('/read'), {});
      assert.equal(await busy.json('/read'), { user: { id: 'u1' }, n });
    });
  });

  expiry('the absolute lifetime ends an active session and takes it out of the index', async () => {
    await withServer(kind, { ttl: 60_000, absolute: 800 }, async (t) => {
      const jar = t.visitor();
      const before = Date.now();
      const id = await signIn(jar, 'u1');
      // The record was created in [before, after]: its deadline is within 800 ms of those.
      const after = Date.now();
      await jar.fetch('/write', post({ n: 1 }));
      assert.equal(ids(await t.sync.sessionsOf('u1')), [id]);
      await sleep(200);
      await jar.fetch('/write', post({ n: 2 }));
      assert.equal(ids(await t.sync.sessionsOf('u1')), [id], 'alive before the deadline');
      // Active until just before the deadline (a write after it would start a new record
      // under the same id, signed out), and gone once it has passed.
      while (Date.now() < before + 600) {
        await sleep(50);
        await jar.fetch('/write', post({ n: 3 }));
      }
      await sleep(Math.max(0, after + 850 - Date.now()));
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

const raw = suite("RedisStore: the user index is a superset in the user's slot, verified and pruned on read");

raw('members of ended or moved sessions are never listed, and leave the set once past the grace', async () => {
  const prefix = `uz${randomBytes(3).toString('hex')}:`;
  // timeout 200 ms: a member is pruned only when added more than 5 × 200 ms ago.
  const store = new RedisStore({ url: await redisUrl() }, { prefix, watchInterval: 25, timeout: 200 });
  const grace = 1000;
  const client = new Redis(await redisUrl());
  const t = await startAccounts({ store, ttl: 800 });
  try {
    await t.sync.ready();
    const [a, b, c] = [t.visitor(), t.visitor(), t.visitor()];
    const before = Date.now();
    const idA = await signIn(a, 'u1');
    const idB = await signIn(b, 'u1');
    const idC = await signIn(c, 'u1');
    const key = `${prefix}u:{u1}`;
    assert.equal((await client.zrange(key, 0, -1)).sort(), [idA, idB, idC].sort());
    const score = Number(await client.zscore(key, idA));
    assert.ok(score >= before - 50 && score <= Date.now() + 50, `scored by the time of the add (${score - before})`);
    assert.ok((await client.pttl(key)) > 30 * 86_400_000 - 5000, 'the key outlives the longest possible member');
    // Switching user adds the session to the new user's index first; the old user stops listing it at once.
    await b.fetch('/write', post({ user: { id: 'u2' } }));
    assert.equal(await client.zrange(`${prefix}u:{u2}`, 0, -1), [idB]);
    await t.sync.destroy(idC);
    assert.equal(ids(await t.sync.sessionsOf('u1')), [idA]);
    assert.equal(ids(await t.sync.sessionsOf('u2')), [idB]);
    assert.equal(
      (await client.zrange(key, 0, -1)).sort(),
      [idA, idB, idC].sort(),
      'within the grace a member is kept (an apply may be on its way)',
    );
    // A record Redis evicted (maxmemory) leaves its member behind; reading never lists it.
    const e = t.visitor();
    const idE = await signIn(e, 'u1');
    await client.del(`${prefix}s:{${idE}}`);
    assert.ok((await client.zrange(key, 0, -1)).includes(idE));
    assert.equal(ids(await t.sync.sessionsOf('u1')), [idA]);
    // A keeps quiet and expires; D stays active. Members never leave by their score alone.
    const d = t.visitor();
    const idD = await signIn(d, 'u1');
    const until = Date.now() + Math.max(900, grace + 100);
    while (Date.now() < until) {
      await sleep(20);
      await d.fetch('/write', post({ n: 1 }));
    }
    assert.equal(await store.get(idA), undefined, 'A expired');
    assert.equal(
      (await client.zrange(key, 0, -1)).sort(),
      [idA, idB, idC, idD, idE].sort(),
      'set members do not leave by themselves',
    );
    assert.equal(ids(await t.sync.sessionsOf('u1')), [idD]);
    assert.equal(await client.zrange(key, 0, -1), [idD], 'pruned on read once past the grace');
  } finally {
    await t.close();
    client.disconnect();
    await store.close();
    await redis?.stop();
  }
});

raw.run();
