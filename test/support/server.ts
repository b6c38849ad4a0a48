/**
 * A real session-sync server for the browser-SDK tests: Express with `sync.express()` and
 * a Socket.IO server with `sync.attach(io)` on one HTTP server, port 0, loopback only,
 * plus a few routes that change the session the ways an app does (an HTTP write,
 * regenerate, destroy).
 */
import express from 'express';
import { Server as IOServer } from 'socket.io';
import { createSessionSync, type SessionSyncOptions } from '../../src/server/index.js';
import type { JsonObject } from '../../src/shared/index.js';
import { browser, type Browser } from './cookie-fetch.js';
import { serve } from './http.js';

/** A running server and its handles. */
export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  sync: ReturnType<typeof createSessionSync>;
  io: IOServer;
  /** A new simulated browser (empty cookie jar). */
  browser(): Browser;
  /** Sockets connected right now (to wait for reconnects). */
  sockets(): number;
  /** Closes Socket.IO, the HTTP server and the session layer. */
  close(): Promise<void>;
}

/**
 * Starts the server. Routes, all on the visitor's session:
 * - `POST /merge` with a JSON object: assigns its keys to the session (an Express write);
 * - `POST /regenerate` (`?keep=false` to drop the data): new id, cookie rotated;
 * - `POST /destroy`: record gone, cookie cleared;
 * - `GET /get/session`: the JSON route, served by `sync.express()` itself.
 *
 * @param options - createSessionSync options (a secret and `clientWritable: ['prefs', 'draft', 'n', 'list']` by default)
 * @returns the running server
 * @example
 * const t = await startServer()
 * const b = t.browser()
 * const s = createSession({ url: t.url, fetch: b.fetch, socket: b.socket(), name: 'x' })
 */
export async function startServer(options: SessionSyncOptions = {}): Promise<TestServer> {
  const sync = createSessionSync({
    secret: 'a test secret that is long enough to sign with',
    clientWritable: ['prefs', 'draft', 'n', 'list', 'cart'],
    ...options,
  });
  const app = express();
  app.use(sync.express());
  app.post('/merge', express.json(), async (req, res) => {
    Object.assign(req.session.val as JsonObject, req.body as JsonObject);
    await req.session.synchronize();
    res.json({ version: req.session.version });
  });
  app.post('/regenerate', async (req, res) => {
    await req.session.regenerate({ keep: req.query.keep !== 'false' });
    res.json({ tag: req.session.tag });
  });
  app.post('/destroy', async (req, res) => {
    await req.session.destroy();
    res.json({ ok: true });
  });
  const served = await serve(app);
  const io = new IOServer(served.server);
  sync.attach(io);
  return {
    url: served.url,
    sync,
    io,
    browser: () => browser(served.url),
    sockets: () => io.of('/').sockets.size,
    close: async () => {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await served.close().catch(() => {});
      await sync.close();
    },
  };
}
