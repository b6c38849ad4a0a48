/**
 * The app of the lifecycle attack scenes (./lifecycle.ts): what an attacker needs to race.
 * Routes: `GET /read` → `{ id, version, data }`; `POST /write` (JSON object merged in) →
 * `{ id, version }`; `POST /slow-write/:gate` reads, waits at the gate, then writes;
 * `POST /login {user}` signs in with `regenerate()` (`?keep=` JSON, `?gate=` holds the
 * response after the new id exists); `POST /destroy`; `POST /logout-others`; `POST /csrf
 * {token}` plants a server-only token; `POST /transfer {token}` passes only with the
 * session's token.
 */
import express, { type Express } from 'express';
import type { Socket as ServerSocket } from 'socket.io';
import type { JsonObject } from '../../src/shared/index.js';
import type { Gates } from './gates.js';

/**
 * Adds the routes.
 *
 * @param app - the Express app (after `sync.express()`)
 * @param gates - the scene's gates
 */
export function routes(app: Express, gates: Gates): void {
  const safe =
    (fn: (req: express.Request, res: express.Response) => Promise<unknown>) =>
    (req: express.Request, res: express.Response, next: express.NextFunction): void =>
      void fn(req, res).catch(next);
  app.get(
    '/read',
    (req, res) => void res.json({ id: req.session.id ?? null, version: req.session.version, data: req.session.val }),
  );
  app.post(
    '/write',
    safe(async (req, res) => {
      Object.assign(req.session.val, req.body);
      await req.session.synchronize();
      res.json({ id: req.session.id, version: req.session.version });
    }),
  );
  // Read, await something slow, then write: the classic resurrection race.
  app.post(
    '/slow-write/:gate',
    safe(async (req, res) => {
      const seen = JSON.stringify(req.session.val);
      await gates.wait(String(req.params.gate));
      Object.assign(req.session.val, req.body);
      await req.session.synchronize();
      res.json({ id: req.session.id, version: req.session.version, seen: JSON.parse(seen) });
    }),
  );
  // Sign-in: a new id against fixation, then the user. `?keep=` is JSON (true, false, a list).
  app.post(
    '/login',
    safe(async (req, res) => {
      const keep = typeof req.query.keep === 'string' ? JSON.parse(req.query.keep) : undefined;
      await req.session.regenerate(keep === undefined ? undefined : { keep });
      // `?gate=` holds the response after the new id exists: the window before the old id's
      // sockets are told (they are told once this response has finished).
      if (typeof req.query.gate === 'string') await gates.wait(req.query.gate);
      req.session.val.user = { id: (req.body as { user: string }).user };
      await req.session.synchronize();
      res.json({ id: req.session.id, data: req.session.val });
    }),
  );
  app.post(
    '/destroy',
    safe(async (req, res) => {
      await req.session.destroy();
      res.json({ ok: true });
    }),
  );
  app.post(
    '/logout-others',
    safe(async (req, res) => {
      res.json({ ended: await req.session.logoutOthers() });
    }),
  );
  // A page that gives the visitor a CSRF token kept on the server only.
  app.post(
    '/csrf',
    safe(async (req, res) => {
      req.session.val._csrf = (req.body as { token: string }).token;
      await req.session.synchronize();
      res.json({ ok: true });
    }),
  );
  // A form protected by the token: passes only when the posted token is the session's.
  app.post('/transfer', (req, res) => {
    const ok =
      typeof req.session.val._csrf === 'string' && req.session.val._csrf === (req.body as { token: string }).token;
    res.status(ok ? 200 : 403).json({ ok });
  });
}

/** The final error handler: `{ error, code }` with the error's status (or 500). */
export function errors(app: Express): void {
  app.use((err: any, _req: unknown, res: any, _next: unknown) => {
    res.status(err?.status ?? 500).json({ error: String(err?.message ?? err), code: err?.code });
  });
}

/**
 * Socket handlers (all with an ack): `test:whoami` → `{ id, tag, version }`, `test:read` →
 * the data, `test:write` (object) → merged in, `{ ok, version }` or `{ ok: false, code, error }`.
 */
export function handlers(socket: ServerSocket): void {
  socket.on('test:whoami', (ack: (v: unknown) => void) =>
    ack({ id: socket.session.id ?? null, tag: socket.session.tag, version: socket.session.version }),
  );
  socket.on('test:read', (ack: (v: unknown) => void) => ack(socket.session.val));
  socket.on('test:write', async (patch: JsonObject, ack: (v: unknown) => void) => {
    try {
      Object.assign(socket.session.val, patch);
      await socket.session.synchronize();
      ack({ ok: true, version: socket.session.version });
    } catch (err) {
      ack({ ok: false, code: (err as { code?: string }).code, error: String((err as Error).message) });
    }
  });
}
