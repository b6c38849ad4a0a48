/**
 * One app node for the reliability suites, run as its own process so a test can SIGKILL it,
 * read its heap after a real GC, and keep the load's clients on another core:
 *
 *   node --expose-gc --import tsx test/support/app-node.ts   (config in env SESSION_SYNC_NODE)
 *
 * It serves what an app built on session-sync serves: `sync.express()` (with the JSON route),
 * `sync.attach(io)`, an HTTP write route and a socket handler that writes `socket.session.val`.
 * Every write also rewrites the server-only `_canary` key, so a leak of server-only data into
 * any body or frame can be searched for. `/_admin/*` is the test's back door (store reads, heap,
 * destroy); the load harness never captures it. Prints `READY <port>` once listening.
 * Start it with {@link startNode} from ./load.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { writeHeapSnapshot } from 'node:v8';
import express from 'express';
import { Server } from 'socket.io';
import { createSessionSync, MemoryStore, RedisStore } from '../../src/server/index.js';
import type { JsonObject } from '../../src/shared/index.js';

/** What the node is told by its parent. */
export interface NodeConfig {
  secret: string;
  /** A RedisStore at this URL; MemoryStore otherwise. */
  redis?: string;
  /** MemoryStore `max`. */
  max?: number;
  /** The server-only value written into `_canary` (with a counter after it). */
  canary: string;
  /** session-sync `limits` (rate and burst for the load's browser-style writers). */
  limits?: Record<string, number>;
}

const config = JSON.parse(process.env.SESSION_SYNC_NODE ?? '{}') as NodeConfig;
const gc = (globalThis as { gc?: () => void }).gc;
const problems: string[] = [];
process.on('unhandledRejection', (reason) =>
  problems.push(`unhandledRejection: ${String((reason as Error)?.stack ?? reason)}`),
);
process.on('uncaughtException', (err) => problems.push(`uncaughtException: ${String(err?.stack ?? err)}`));

const store = config.redis
  ? new RedisStore({ url: config.redis }, { timeout: 1000 })
  : new MemoryStore(config.max ? { max: config.max } : {});
const sync = createSessionSync({
  secret: config.secret,
  store,
  clientWritable: ['prefs', 'draft'],
  ...(config.limits ? { limits: config.limits } : {}),
});
// A late commit nobody awaited must not crash the node; it is counted instead.
sync.on('error', (err) => problems.push(`sync error: ${String((err as Error)?.message ?? err)}`));
let counter = 0;
const canary = (): string => `${config.canary}:${++counter}`;

const app = express();
app.use(express.json({ limit: '1mb' }));
app.use(sync.express());

// An Express write: one visible key, and the server-only canary in the same change.
app.post('/w', async (req, res, next) => {
  try {
    const { key, value } = req.body as { key: string; value: unknown };
    const val = req.session.val as JsonObject;
    val[key] = value as JsonObject[string];
    val._canary = canary();
    await req.session.synchronize();
    res.json({ version: req.session.version });
  } catch (err) {
    next(err);
  }
});

// A change of server-only data alone: its patch reaches the sockets with `ops: []`.
app.post('/secret', async (req, res, next) => {
  try {
    (req.session.val as JsonObject)._canary = canary();
    await req.session.synchronize();
    res.json({ version: req.session.version });
  } catch (err) {
    next(err);
  }
});

app.get('/_admin/session/:id', async (req, res, next) => {
  try {
    res.json((await sync.get(req.params.id)) ?? null);
  } catch (err) {
    next(err);
  }
});
app.post('/_admin/destroy/:id', async (req, res, next) => {
  try {
    res.json({ destroyed: await sync.destroy(req.params.id) });
  } catch (err) {
    next(err);
  }
});
app.get('/_admin/heap', async (_req, res) => {
  // Several rounds with turns of the loop between them: finalizers and weak maps settle.
  for (let i = 0; i < 6; i++) {
    gc?.();
    await sleep(20);
  }
  res.json({ heapUsed: process.memoryUsage().heapUsed, gc: Boolean(gc) });
});
// For investigating a heap figure by hand: writes a snapshot after GC and answers its path.
app.post('/_admin/snapshot', async (_req, res) => {
  for (let i = 0; i < 6; i++) {
    gc?.();
    await sleep(20);
  }
  res.json({ file: writeHeapSnapshot() });
});
app.get('/_admin/stats', (_req, res) => {
  res.json({
    problems,
    sockets: io.of('/').sockets.size,
    counter,
    protoClean: Object.keys(Object.prototype).length === 0,
  });
});

app.use((err: any, _req: unknown, res: any, _next: unknown) => {
  res.status(err?.status ?? 500).json({ error: String(err?.message ?? err), code: err?.code });
});

await sync.ready();
const http = app.listen(0, '127.0.0.1', () => {
  const address = http.address();
  process.stdout.write(`READY ${typeof address === 'object' && address ? address.port : 0}\n`);
});
const io = new Server(http);
sync.attach(io);
io.on('connection', (socket) => {
  // A socket handler that writes the session, as an app's would.
  socket.on('load:write', async (body: { key: string; value: unknown }, ack: (answer: unknown) => void) => {
    if (typeof ack !== 'function') return;
    try {
      const val = socket.session.val as JsonObject;
      val[body.key] = body.value as JsonObject[string];
      val._canary = canary();
      await socket.session.synchronize();
      ack({ version: socket.session.version });
    } catch (err) {
      ack({ error: String((err as Error)?.message ?? err), code: (err as { code?: string })?.code });
    }
  });
});

process.on('SIGTERM', () => {
  io.close();
  http.closeAllConnections();
  void sync.close().finally(() => process.exit(0));
});
