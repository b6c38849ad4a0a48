/**
 * The load app (./load-app.ts) in this process, for suites that reach into the session layer
 * (its store, its change feed) or the process itself (Object.prototype, unhandled rejections).
 */
import type { Express } from 'express';
import { Server as IOServer } from 'socket.io';
import { createSessionSync, type SessionSync, type SessionSyncOptions } from '../../src/server/index.js';
import type { JsonObject } from '../../src/shared/index.js';
import { Jar, serve } from './http.js';
import { Visitor } from './visitor.js';
import { loadApp, loadHandlers } from './load-app.js';
import { randomText, type Capture } from './reliability.js';

/** A session-sync server in this process. */
export interface LocalServer {
  url: string;
  sync: SessionSync;
  io: IOServer;
  /** The store's record of a session (as {@link AppNode.record}). */
  record(id: string): Promise<{ version: number; data: JsonObject } | null>;
  /** A visitor with a fresh jar whose bodies go to `capture`. */
  visitor(capture?: Capture): Visitor;
  close(): Promise<void>;
}

/**
 * Starts the load app (./load-app.ts: the same routes and socket handler as an app node) with
 * `sync.attach(io)` on a loopback port, in this process.
 *
 * @param options - session-sync options (a secret is added when missing)
 * @param start - the canary (and its key, `_canary` by default), and the test's own routes
 * @returns the server
 * @example
 * const t = await startLocal({ store: new MemoryStore({ max: 100 }) })
 */
export async function startLocal(
  options: SessionSyncOptions = {},
  start: { canary?: string; canaryKey?: string; routes?: (app: Express, sync: SessionSync) => void } = {},
): Promise<LocalServer> {
  const sync = createSessionSync({ secret: randomText(24), ...options });
  const canary = start.canary ?? `canary-${randomText()}`;
  const app = loadApp(sync, canary, (app) => start.routes?.(app, sync), start.canaryKey);
  const served = await serve(app);
  const io = new IOServer(served.server);
  sync.attach(io);
  loadHandlers(io, canary, start.canaryKey);
  return {
    url: served.url,
    sync,
    io,
    record: async (id) => (await sync.get(id)) ?? null,
    visitor: (capture) => new Visitor(new Jar(served.url), served.url, capture),
    async close() {
      io.disconnectSockets(true);
      const closing = new Promise<void>((resolve) => io.close(() => resolve()));
      served.server.closeAllConnections();
      await closing;
      await sync.close();
    },
  };
}
