/**
 * MemoryStore's byte budget counts what text costs on V8's heap: one byte per character for
 * Latin-1 text, two for anything else (CJK, emoji, most non-Latin scripts), in the records and
 * in the patch history. Counting `length` alone let a flood of writers in such scripts hold
 * twice `maxBytes` (test/reliability/heap-flood.test.ts floods a small-heap server).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryStore } from '../../../src/server/stores/memory/memory-store.js';

const LIFETIMES = { ttl: 60_000, absolute: 60_000 };

const bytes = suite('MemoryStore: the byte budget counts two bytes a character outside Latin-1');

bytes('records and history of wide text count twice their length; Latin-1 once', async () => {
  const measure = async (text: string, history: number): Promise<number> => {
    const store = new MemoryStore({ history });
    await store.apply('x'.repeat(43), [{ op: 'set', path: ['t'], value: text }], LIFETIMES);
    const counted = store.bytes;
    await store.close();
    return counted;
  };
  const n = 10_000;
  for (const history of [0, 32]) {
    const latin = await measure('é'.repeat(n), history);
    const wide = await measure('中'.repeat(n), history);
    // The record, its patch in the history, and its parsed copy (counted at twice its text:
    // objects cost more than their JSON).
    const copies = (history ? 2 : 1) + 2;
    assert.ok(latin >= n * copies && latin < n * copies + 1000, `Latin-1: ${latin}`);
    assert.ok(wide >= 2 * n * copies && wide < 2 * n * copies + 1000, `wide: ${wide}`);
  }
});

bytes('past maxBytes, wide text is evicted at its real cost', async () => {
  const store = new MemoryStore({ maxBytes: 100_000, history: 0 });
  const text = '中'.repeat(10_000); // 20 KB of heap each
  for (let i = 0; i < 20; i++) {
    await store.apply(String(i).padStart(43, 'w'), [{ op: 'set', path: ['t'], value: text }], LIFETIMES);
  }
  assert.ok(store.bytes <= 100_000, `counted ${store.bytes}`);
  assert.ok(store.size <= 5, `at most 5 sessions of 20 KB fit in 100 KB (${store.size})`);
  await store.close();
});

bytes.run();
