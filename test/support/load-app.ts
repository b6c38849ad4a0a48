/**
 * The app the reliability suites load: what an app built on session-sync serves, with every write
 * also rewriting the server-only `_canary` key so a leak of server-only data can be searched for
 * in what visitors receive. Used by the child app node (./app-node.ts) and by in-process servers
 * (`startLocal` in ./load.ts), so both serve exactly the same routes and handlers.
 */
import express, { type Express } from 'express';
import type { Server } from 'socket.io';
import type { SessionSync } from '../../src/server/index.js';
import type { JsonObject } from '../../src/shared/index.js';

/**
 * Builds the Express app: JSON bodies, `sync.express()` (with the JSON route), and
 * - `POST /w {key, value}`: `req.session.val[key] = value` plus the canary, in one change;
 * - `POST /secret`: a change of the canary alone (its patch reaches sockets with `ops: []`);
 * - `POST /login {user}`: `regenerate()` (against fixation), then `user` is written;
 * - `POST /logout`: `destroy()`.
 * Routes added by `more` go before the error handler, which answers `{ error, code }`.
 *
 * @param sync - the session layer
 * @param canary - the server-only value (a counter is appended on every write)
 * @param more - the caller's own routes
 * @param canaryKey - the top-level key of the canary (server-only under the server's `expose`)
 * @returns the app
 * @example
 * const app = loadApp(sync, 'canary-xyz')
 */
export function loadApp(
  sync: SessionSync,
  canary: string,
  more?: (app: Express) => void,
  canaryKey = '_canary',
): Express {
  let counter = 0;
  const secret = (): string => `${canary}:${++counter}`;
  const app = express();
  app.use(express.json({ limit: '2mb' }));
  app.use(sync.express());
  app.post('/w', async (req, res, next) => {
    try {
      const { key, value } = req.body as { key: string; value: JsonObject[string] };
      const val = req.session.val as JsonObject;
      val[key] = value;
      val[canaryKey] = secret();
      await req.session.synchronize();
      res.json({ version: req.session.version });
    } catch (err) {
      next(err);
    }
  });
  app.post('/secret', async (req, res, next) => {
    try {
      (req.session.val as JsonObject)[canaryKey] = secret();
      await req.session.synchronize();
      res.json({ version: req.session.version });
    } catch (err) {
      next(err);
    }
  });
  app.post('/login', async (req, res, next) => {
    try {
      await req.session.regenerate();
      const val = req.session.val as JsonObject;
      val.user = (req.body as { user: string }).user;
      val[canaryKey] = secret();
      await req.session.synchronize();
      res.json({ version: req.session.version, tag: req.session.tag });
    } catch (err) {
      next(err);
    }
  });
  app.post('/logout', async (req, res, next) => {
    try {
      await req.session.destroy();
      res.json({ ok: true });
    } catch (err) {
      next(err);
    }
  });
  more?.(app);
  app.use((err: any, _req: unknown, res: any, _next: unknown) => {
    res.status(err?.status ?? 500).json({ error: String(err?.message ?? err), code: err?.code });
  });
  return app;
}

/**
 * Adds the app's socket handler: `load:write {key, value}` writes `socket.session.val[key]`
 * (and the canary) and acks `{ version }` or `{ error, code }`.
 *
 * @param io - the Socket.IO server (session-sync already attached)
 * @param canary - the server-only value
 * @param canaryKey - the top-level key of the canary
 * @example
 * loadHandlers(io, 'canary-xyz')
 */
export function loadHandlers(io: Server, canary: string, canaryKey = '_canary'): void {
  let counter = 0;
  io.on('connection', (socket) => {
    socket.on(
      'load:write',
      async (body: { key: string; value: JsonObject[string] }, ack: (answer: unknown) => void) => {
        if (typeof ack !== 'function') return;
        try {
          const val = socket.session.val as JsonObject;
          val[body.key] = body.value;
          val[canaryKey] = `${canary}:s${++counter}`;
          await socket.session.synchronize();
          ack({ version: socket.session.version });
        } catch (err) {
          ack({ error: String((err as Error)?.message ?? err), code: (err as { code?: string })?.code });
        }
      },
    );
  });
}
