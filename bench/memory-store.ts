/**
 * Heap bytes per idle session: session-sync's MemoryStore vs express-session's MemoryStore,
 * in the same process, alternating, median of the rounds. Each session is written once
 * (`{ n: 1 }`; express-session's also holds its default cookie, as it would in use). The
 * id strings are counted: the store holds them.
 *
 *   node --expose-gc --import tsx bench/memory-store.ts [sessions=100000] [rounds=3]
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { MemoryStore } from '../src/server/stores/memory/memory-store.js';

const require = createRequire(import.meta.url);
const expressSession = require('express-session') as {
  MemoryStore: new () => { set(sid: string, session: object, cb: (err?: unknown) => void): void };
  Cookie: new (options?: object) => object;
};

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 3);

function settledHeap(): number {
  for (let i = 0; i < 4; i++) gc!();
  return process.memoryUsage().heapUsed;
}

async function ours(): Promise<{ bytes: number; keep: unknown }> {
  const before = settledHeap();
  const store = new MemoryStore({ max: Infinity });
  const ops = [{ op: 'set' as const, path: ['n'], value: 1 }];
  const lifetimes = { ttl: 24 * 3600_000, absolute: 30 * 24 * 3600_000 };
  for (let i = 0; i < N; i += 1000) {
    const batch: Promise<unknown>[] = [];
    // A session id as the cookie carries it: 32 random bytes, base64url (43 characters).
    for (let j = i; j < Math.min(N, i + 1000); j++)
      batch.push(store.apply(randomBytes(32).toString('base64url'), ops, lifetimes));
    await Promise.all(batch);
  }
  const after = settledHeap();
  if (store.size !== N) throw new Error(`expected ${N} sessions, got ${store.size}`);
  await store.close();
  return { bytes: (after - before) / N, keep: store };
}

async function theirs(): Promise<{ bytes: number; keep: unknown }> {
  const before = settledHeap();
  const store = new expressSession.MemoryStore();
  for (let i = 0; i < N; i += 1000) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(N, i + 1000); j++) {
      // uid-safe(24), as express-session's default genid: 32 characters.
      const sid = randomBytes(24).toString('base64url');
      const session = { cookie: new expressSession.Cookie(), n: 1 };
      batch.push(new Promise((resolve, reject) => store.set(sid, session, (err) => (err ? reject(err) : resolve()))));
    }
    await Promise.all(batch);
  }
  const after = settledHeap();
  return { bytes: (after - before) / N, keep: store };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const mine: number[] = [];
const other: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  // Alternate which goes first, so neither always runs on the fresher heap.
  const order = round % 2 ? [theirs, ours] : [ours, theirs];
  for (const run of order) {
    const { bytes, keep } = await run();
    (run === ours ? mine : other).push(bytes);
    void keep;
  }
}
const a = median(mine);
const b = median(other);
console.log(`sessions: ${N}, rounds: ${ROUNDS}, node ${process.version}`);
console.log(`session-sync MemoryStore:    ${a.toFixed(1)} B/session  (${mine.map((x) => x.toFixed(1)).join(', ')})`);
console.log(`express-session MemoryStore: ${b.toFixed(1)} B/session  (${other.map((x) => x.toFixed(1)).join(', ')})`);
console.log(`ratio: ${(a / b).toFixed(3)}× (target ≤ 0.75×)`);
