/**
 * A flood of writers at the size limit against a server started with a small heap
 * (`node --max-old-space-size=160`) and DEFAULT options: the embedded store is bounded in bytes
 * (`maxBytes` = a quarter of the heap limit), so it evicts the longest-idle sessions instead of
 * running out of heap. The server stays up and answers every writer, evicts (warning once),
 * every surviving session is exactly what its visitor wrote, an evicted visitor's cookie reads
 * no data, and the heap after GC stays under half the heap limit, grown by at most 1.5 ×
 * `maxBytes`. Writers send ASCII, then text that V8 keeps as two-byte strings (two heap bytes a
 * character: the store's count must hold for both). Bounded in time (about 20 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Jar } from '../support/http.js';
import { inBatches, mb } from '../support/reliability.js';

const HEAP_MB = 160;
const ASCII_WRITERS = 300;
const WIDE_WRITERS = 3000;
const CONCURRENCY = 16;
const SCRIPT = fileURLToPath(new URL('../support/heap-node.ts', import.meta.url));

interface Memory {
  heapUsed: number;
  heapLimit: number;
  storeBytes: number;
  sessions: number;
}

interface Node {
  url: string;
  child: ChildProcess;
  output(): string;
  memory(): Promise<Memory>;
  close(): Promise<void>;
}

async function startHeapNode(): Promise<Node> {
  const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, '--expose-gc', '--import', 'tsx', SCRIPT], {
    env: { ...process.env, NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the node did not start:\n${output}`)), 60_000);
    child.stdout!.on('data', () => {
      const match = /READY (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`the node exited (${code ?? signal}):\n${output}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    child,
    output: () => output,
    memory: async () => (await (await fetch(`${url}/_admin/memory`)).json()) as Memory,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// What visitor i writes: just under the 64 KiB visible limit, unique per visitor.
const ascii = (i: number): string => `${i}:`.padEnd(65_000, 'a');
// CJK: 3 bytes of UTF-8 each, kept by V8 as a two-byte string (2 heap bytes per character).
const wide = (i: number): string => `${i}:`.padEnd(21_600, '中');

// ---

const flood = suite<{ node: Node }>(`a ${HEAP_MB} MB-heap server with default options survives a flood of writers`);

flood.before(async (ctx) => {
  ctx.node = await startHeapNode();
});
flood.after(async ({ node }) => node?.close());

flood('it stays up, evicts, keeps every surviving session intact, and its heap bounded', async ({ node }) => {
  const start = Date.now();
  const baseline = await node.memory();
  const visitors: { jar: Jar; id: string; value: (i: number) => string; i: number }[] = [];
  let peakHeap = 0;
  const statuses = new Map<number, number>();
  for (const [count, value] of [
    [ASCII_WRITERS, ascii],
    [WIDE_WRITERS, wide],
  ] as const) {
    const offset = visitors.length;
    const jobs = Array.from({ length: count }, (_, k) => offset + k);
    await inBatches(jobs, CONCURRENCY, async (i) => {
      const jar = new Jar(node.url);
      const res = await jar.fetch('/w', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'page', value: value(i) }),
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const body = (await res.json()) as { id: string };
      visitors.push({ jar, id: body.id, value, i });
    });
    const now = await node.memory();
    peakHeap = Math.max(peakHeap, now.heapUsed);
  }
  const flooded = Date.now() - start;
  assert.equal([...statuses], [[200, ASCII_WRITERS + WIDE_WRITERS]], 'every writer was answered 200');
  assert.is(node.child.exitCode, null, 'the server is up');
  const after = await node.memory();
  // Survivors are intact; the evicted read nothing.
  let survivors = 0;
  let wrong = 0;
  await inBatches(visitors, 32, async (v) => {
    const record = (await (await fetch(`${node.url}/_admin/session/${v.id}`)).json()) as {
      data: { page: string };
    } | null;
    if (record === null) return;
    survivors++;
    if (record.data.page !== v.value(v.i) || Object.keys(record.data).length !== 1) wrong++;
  });
  const evicted = visitors.length - survivors;
  for (const v of visitors.slice(0, 20)) {
    const seen = (await v.jar.json('/get/session')) as { version: number; data: object };
    assert.equal([seen.version, seen.data], [0, {}], 'an evicted visitor’s cookie reads no data');
  }
  assert.is(wrong, 0, 'every surviving session is exactly what its visitor wrote');
  assert.ok(survivors > 100, `sessions survive (${survivors})`);
  assert.ok(evicted > 0, `the store evicted (${evicted})`);
  assert.is(after.sessions, survivors);
  const warnings = node.output().match(/evicts the longest-idle/g) ?? [];
  assert.is(warnings.length, 1, 'one warning when eviction starts');
  assert.ok(
    after.storeBytes <= after.heapLimit / 4,
    `the store's count stays within maxBytes (${mb(after.storeBytes)})`,
  );
  const peak = Math.max(peakHeap, after.heapUsed);
  assert.ok(
    peak < after.heapLimit / 2,
    `the heap after GC stays under half the heap limit: ${mb(peak)} of ${mb(after.heapLimit)}`,
  );
  // What the store counts is what its contents cost: the heap grows by little more than maxBytes.
  assert.ok(
    peak - baseline.heapUsed < 1.5 * (after.heapLimit / 4),
    `the heap grew by ${mb(peak - baseline.heapUsed)}, within 1.5 × maxBytes (${mb(after.heapLimit / 4)})`,
  );
  assert.ok(flooded < 50_000, `bounded in time (${(flooded / 1000).toFixed(1)} s)`);
  console.log(
    `  heap flood: ${visitors.length} writers at the size limit (${ASCII_WRITERS} ASCII, ${WIDE_WRITERS} two-byte) in ${(flooded / 1000).toFixed(1)} s ` +
      `against --max-old-space-size=${HEAP_MB} (heap limit ${mb(after.heapLimit)}): ${survivors} kept intact, ${evicted} evicted; ` +
      `heap after GC ${mb(baseline.heapUsed)} -> peak ${mb(Math.max(peakHeap, after.heapUsed))}, store counts ${mb(after.storeBytes)} (maxBytes ${mb(after.heapLimit / 4)})`,
  );
});

flood.run();
