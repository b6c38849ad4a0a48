/**
 * A session-sync app with DEFAULT options (the embedded MemoryStore as it comes), run as its
 * own process so a test can start it with a small heap and flood it:
 *
 *   node --max-old-space-size=160 --expose-gc --import tsx test/support/heap-node.ts
 *
 * Routes: `POST /w {key, value}` writes `req.session.val[key]`; the JSON route; and
 * `GET /_admin/memory` → `{ heapUsed (after GC), heapLimit, storeBytes, sessions }`; `GET
 * /_admin/session/:id` → the store's record. Prints `READY <port>` once listening.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';
import express from 'express';
import { createSessionSync, MemoryStore } from '../../src/server/index.js';
import type { JsonObject } from '../../src/shared/index.js';

const store = new MemoryStore(); // the default store, with its default bounds
const sync = createSessionSync({ secret: 'a heap test secret, long enough to sign', store });
const gc = (globalThis as { gc?: () => void }).gc;

const app = express();
app.use(express.json({ limit: '1mb' }));
app.use(sync.express());
app.post('/w', async (req, res, next) => {
  try {
    const { key, value } = req.body as { key: string; value: JsonObject[string] };
    (req.session.val as JsonObject)[key] = value;
    await req.session.synchronize();
    res.json({ id: req.session.id, version: req.session.version });
  } catch (err) {
    next(err);
  }
});
app.get('/_admin/memory', async (_req, res) => {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await sleep(10);
  }
  res.json({
    heapUsed: process.memoryUsage().heapUsed,
    heapLimit: getHeapStatistics().heap_size_limit,
    storeBytes: store.bytes,
    sessions: store.size,
  });
});
app.get('/_admin/session/:id', async (req, res) => void res.json((await sync.get(req.params.id)) ?? null));
app.use((err: any, _req: unknown, res: any, _next: unknown) => {
  res.status(err?.status ?? 500).json({ error: String(err?.message ?? err), code: err?.code });
});

const http = app.listen(0, '127.0.0.1', () => {
  const address = http.address();
  process.stdout.write(`READY ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => {
  http.closeAllConnections();
  void sync.close().finally(() => process.exit(0));
});
