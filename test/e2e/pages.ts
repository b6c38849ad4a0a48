/**
 * A small app over the BUILT package for the browser-lifecycle e2e tests, where the demo is
 * too fixed: a page with the SDK and nothing else (optionally rendered with the server's
 * `snapshot(req)` as `initial`), a sign-in that regenerates, a short idle lifetime when asked,
 * a restart on the same port with the same secret, and hooks that play the network: the
 * server unreachable, or the next browser write held back until the test lets it go.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { Server as IoServer } from 'socket.io';
import type { SessionSync } from '../../dist/server.js';
import { ensureBuilt } from './harness.js';

const BUNDLE = fileURLToPath(new URL('../../dist/session-sync.iife.min.js', import.meta.url));

/** The page: the SDK, `window.demo.session` for the harness, and `window.seen`: every data it showed. */
function page(initial: unknown): string {
  // The same escaping the README shows for embedding a snapshot.
  const embedded = JSON.stringify(initial ?? null).replace(/</g, '\\u003c');
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body>
<script src="/session-sync.js"></script>
<script>
  const initial = ${embedded};
  const session = initial ? SessionSync.createSession({ initial }) : SessionSync.session;
  window.seen = [];
  session.subscribe((data) => window.seen.push(JSON.stringify(data)));
  window.demo = { session };
</script></body></html>`;
}

/** Options of {@link startPages}. */
export interface PagesOptions {
  /** The port (default: a free one); a restart passes the old one. */
  port?: number;
  /** The idle lifetime in ms (default the library's). */
  ttl?: number;
}

/** The running app. */
export interface Pages {
  url: string;
  port: number;
  sync: SessionSync;
  io: IoServer;
  /** Plays the network: false fails the route and every handshake and drops open sockets. */
  setReachable(on: boolean): void;
  /** Holds the next `session:mutate` back; the returned function lets it go on. */
  holdNextWrite(): { arrived: Promise<void>; release(): void };
  close(): Promise<void>;
}

/** The secret every start shares, so a restart on the same port keeps the cookies valid. */
const SECRET = 'session-sync e2e pages secret, long enough to sign with';

/**
 * Starts the app on 127.0.0.1. Routes: `/` (the SDK's default session), `/ssr` (an instance
 * made with `initial: await sync.snapshot(req)`), `POST /sign-in?name=` (regenerate, then
 * `user`), `POST /write` (a JSON object merged into the session by Express).
 *
 * @param options - port and idle lifetime
 * @returns the app
 */
export async function startPages(options: PagesOptions = {}): Promise<Pages> {
  ensureBuilt();
  const { createSessionSync } = await import('../../dist/server.js');
  const sync = createSessionSync({
    secret: SECRET,
    clientWritable: ['prefs', 'counter'],
    user: 'user.id',
    ...(options.ttl ? { ttl: options.ttl } : {}),
  });
  const app = express();
  const server: HttpServer = createServer(app);
  const io = new IoServer(server);
  const open = new Set<Socket>();
  server.on('connection', (socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  let reachable = true;
  app.use((req, res, next) => {
    if (reachable || req.path === '/' || req.path === '/ssr' || req.path === '/session-sync.js') return next();
    req.socket.destroy();
  });
  app.use(sync.express());
  app.get('/session-sync.js', (_req, res) => res.sendFile(BUNDLE));
  app.get('/', (_req, res) => res.type('html').send(page(null)));
  app.get('/ssr', async (req, res) => res.type('html').send(page(await sync.snapshot(req))));
  app.post('/sign-in', async (req, res) => {
    await req.session.regenerate();
    req.session.val.user = { id: String(req.query.name ?? 'someone') };
    await req.session.synchronize();
    res.json({ tag: req.session.tag });
  });
  app.post('/write', express.json(), async (req, res) => {
    Object.assign(req.session.val, req.body);
    await req.session.synchronize();
    res.json({ version: req.session.version });
  });
  sync.attach(io);
  const allowRequest = io.engine.opts.allowRequest;
  io.engine.opts.allowRequest = (req, callback) => {
    if (!reachable) return callback('unreachable (test hook)', false);
    if (allowRequest) return allowRequest(req, callback);
    callback(null, true);
  };
  let hold: ((go: () => void) => void) | undefined;
  io.on('connection', (socket) =>
    socket.use((packet, next) => {
      const take = packet[0] === 'session:mutate' ? hold : undefined;
      if (!take) return next();
      hold = undefined;
      take(next);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    sync,
    io,
    setReachable(on) {
      reachable = on;
      if (!on) for (const socket of io.of('/').sockets.values()) socket.conn.close();
    },
    holdNextWrite() {
      let arrived!: () => void;
      let go: (() => void) | undefined;
      let released = false;
      const promise = new Promise<void>((resolve) => (arrived = resolve));
      hold = (next) => {
        go = next;
        arrived();
        if (released) next();
      };
      return {
        arrived: promise,
        release() {
          released = true;
          go?.();
        },
      };
    },
    async close() {
      const closed = new Promise<void>((resolve) => io.close(() => resolve()));
      for (const socket of open) socket.destroy();
      await closed;
      await sync.close();
    },
  };
}
