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
import { Server } from 'socket.io';
import { createSessionSync, MemoryStore, RedisStore } from '../../src/server/index.js';
import { loadApp, loadHandlers } from './load-app.js';

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

const app = loadApp(sync, config.canary, (app) => {
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
      protoClean: Object.keys(Object.prototype).length === 0,
    });
  });
});

await sync.ready();
const http = app.listen(0, '127.0.0.1', () => {
  const address = http.address();
  process.stdout.write(`READY ${typeof address === 'object' && address ? address.port : 0}\n`);
});
const io = new Server(http);
sync.attach(io);
loadHandlers(io, config.canary);

process.on('SIGTERM', () => {
  io.close();
  http.closeAllConnections();
  void sync.close().finally(() => process.exit(0));
});
