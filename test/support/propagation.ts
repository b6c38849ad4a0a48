/**
 * Measures propagation: an HTTP write on one node → the `session:patch` arriving at a
 * socket of the same session, on the same node or on another node of one Redis. Sequential
 * writes (each waits for its patch), after a warm-up; prints p50/p95/p99/max per setup.
 * Not a test (no assertions on time): run it by hand.
 *
 *   npx tsx test/support/propagation.ts [writes=300]
 */
import { performance } from 'node:perf_hooks';
import type { Socket as ClientSocket } from 'socket.io-client';
import { post, startNodes, type AppNode, type Nodes } from './nodes.js';
import { startRedis } from './redis.js';

interface Row {
  setup: string;
  /** write start → patch at the socket, ms */
  patch: number[];
  /** write start → HTTP response, ms */
  http: number[];
}

const WARMUP = 30;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function nextPatch(socket: ClientSocket, version: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no patch ${version} within 5 s`)), 5000);
    const on = (patch: { version: number }): void => {
      if (patch.version !== version) return;
      clearTimeout(timer);
      socket.off('session:patch', on);
      resolve(performance.now());
    };
    socket.on('session:patch', on);
  });
}

async function measure(
  setup: string,
  cluster: Nodes,
  writeTo: AppNode,
  listenOn: AppNode,
  writes: number,
): Promise<Row> {
  const jar = cluster.visitor();
  await jar.fetch(`${writeTo.url}/write`, post({ n: 0 }));
  const socket = await cluster.connect(listenOn, jar);
  const row: Row = { setup, patch: [], http: [] };
  let version = 1;
  for (let i = 1; i <= WARMUP + writes; i++) {
    version++;
    const arrived = nextPatch(socket, version);
    const started = performance.now();
    const res = await jar.fetch(`${writeTo.url}/write`, post({ n: i }));
    await res.arrayBuffer();
    const answered = performance.now();
    const at = await arrived;
    if (i > WARMUP) {
      row.patch.push(at - started);
      row.http.push(answered - started);
    }
  }
  socket.disconnect();
  return row;
}

function print(rows: Row[]): void {
  const fmt = (n: number): string => n.toFixed(2).padStart(7);
  console.log(
    `\n${'setup'.padEnd(56)} ${'p50'.padStart(7)} ${'p95'.padStart(7)} ${'p99'.padStart(7)} ${'max'.padStart(7)}   (ms, n=${rows[0]!.patch.length})`,
  );
  for (const row of rows) {
    for (const [what, values] of [
      ['write → patch', row.patch],
      ['write → HTTP response', row.http],
    ] as const) {
      const sorted = [...values].sort((a, b) => a - b);
      console.log(
        `${`${row.setup}: ${what}`.padEnd(56)} ${fmt(percentile(sorted, 50))} ${fmt(percentile(sorted, 95))} ${fmt(percentile(sorted, 99))} ${fmt(sorted.at(-1)!)}`,
      );
    }
  }
}

async function main(): Promise<void> {
  const writes = Number(process.argv[2] ?? 300);
  const rows: Row[] = [];

  const memory = await startNodes({ count: 1 });
  try {
    rows.push(await measure('1 node, MemoryStore', memory, memory.nodes[0]!, memory.nodes[0]!, writes));
  } finally {
    await memory.close();
  }

  const redis = await startRedis();
  try {
    const plain = await startNodes({ redisUrl: redis.url, count: 2 });
    try {
      const [a, b] = plain.nodes;
      rows.push(await measure('1 node, RedisStore (A → A)', plain, a!, a!, writes));
      rows.push(await measure('2 nodes, RedisStore (A → B)', plain, a!, b!, writes));
    } finally {
      await plain.close();
    }
    const adapted = await startNodes({ redisUrl: redis.url, count: 2, adapter: true });
    try {
      const [a, b] = adapted.nodes;
      rows.push(await measure('2 nodes + redis-adapter (A → B)', adapted, a!, b!, writes));
    } finally {
      await adapted.close();
    }
  } finally {
    await redis.stop();
  }
  print(rows);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
