// 7. Store throughput (apply ops/s, MemoryStore vs RedisStore) and the cost of destroyUser
// for a user with 100 sessions (issue 10), in this process.
import { randomBytes } from 'node:crypto';
import { createSessionSync, MemoryStore, RedisStore } from '../../dist/server.js';
import { median, round, SECRET } from '../lib/util.mjs';

const lifetimes = { ttl: 3600_000, absolute: 86_400_000 };
const newId = () => randomBytes(32).toString('base64url');

async function applyRate(store, total) {
  const ids = Array.from({ length: 500 }, newId);
  let next = 0;
  const start = process.hrtime.bigint();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      await store.apply(ids[i % ids.length], [{ op: 'set', path: [`k${i % 20}`], value: i }], lifetimes);
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  return total / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function destroyUserMs(makeStore) {
  const times = [];
  for (let r = 0; r < 5; r++) {
    const store = makeStore();
    const sync = createSessionSync({ secret: SECRET, store, user: 'user.id' });
    // Written straight to the store, as a sign-in's commit would: sync.update() only changes
    // sessions that exist. The user function is what the option 'user.id' resolves to.
    const signIn = [{ op: 'set', path: ['user'], value: { id: 'u1' } }];
    const user = (data) => data.user?.id;
    await Promise.all(Array.from({ length: 100 }, () => store.apply(newId(), signIn, { ...lifetimes, user })));
    const start = process.hrtime.bigint();
    const ended = await sync.destroyUser('u1');
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (ended !== 100) throw new Error(`destroyUser ended ${ended} sessions, expected 100`);
    await sync.close();
    await store.close();
  }
  return median(times);
}

export async function storesBench({ quick, redisUrl }) {
  const total = quick ? 5000 : 50_000;
  const result = { name: 'stores', applies: total, concurrency: 50 };
  const memory = new MemoryStore();
  result.memoryAppliesPerSec = Math.round(await applyRate(memory, total));
  await memory.close();
  result.destroyUser100 = { memoryMs: round(await destroyUserMs(() => new MemoryStore()), 2) };
  if (redisUrl) {
    const redis = new RedisStore({ url: redisUrl, prefix: `bench:${Date.now()}:` });
    result.redisAppliesPerSec = Math.round(await applyRate(redis, total));
    await redis.close();
    result.destroyUser100.redisMs = round(
      await destroyUserMs(() => new RedisStore({ url: redisUrl, prefix: `bench:${newId()}:` })),
      2,
    );
  }
  return result;
}
