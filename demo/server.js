/**
 * The demo app: one page that shows the visitor's live session and changes it in the three
 * ways session-sync offers — an Express handler, a Socket.IO handler and a browser write.
 *
 * Plain JavaScript over the BUILT package (dist/), so `node demo/start.js` needs no compiler
 * and runs exactly what a user would install.
 */
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { Server } from 'socket.io';
import { createSessionSync } from '../dist/server.js';
import { addDevices } from './devices.js';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

/** The IIFE build (package.json "unpkg"): the global `SessionSync` for a plain <script>. */
export const BROWSER_BUNDLE = here('../dist/session-sync.iife.min.js');

// Stable across restarts and shared by every node of a multi-node demo, so cookies stay valid.
// A real app reads its secret from the environment and never commits one.
const DEMO_SECRET = 'session-sync demo secret: never use a committed secret in production';

/**
 * Starts the demo server.
 *
 * @param {object} [options]
 * @param {number} [options.port] - port to listen on (default 3000; 0 picks a free one)
 * @param {string} [options.host] - interface to listen on (default: all)
 * @param {import('../dist/server.js').SessionStore} [options.store] - where sessions live (default: a MemoryStore)
 * @param {string} [options.secret] - cookie secret (default: $SESSION_SECRET or the demo's own)
 * @returns {Promise<import('./server.d.ts').Demo>} the running demo (typed in server.d.ts)
 * @example
 * const demo = await startDemo({ port: 0, host: '127.0.0.1' })
 * console.log(demo.url)
 * await demo.close()
 */
export async function startDemo({ port = 3000, host, store, secret = process.env.SESSION_SECRET || DEMO_SECRET } = {}) {
  const sync = createSessionSync({
    secret,
    store,
    defaults: { counter: 0, prefs: { theme: 'light' } },
    // The browser may change its preferences itself; everything else goes through the server.
    clientWritable: ['prefs'],
    // Sessions are indexed by user, for the device list and "sign out everywhere else".
    user: 'user.id',
  });

  const app = express();
  app.disable('x-powered-by');
  const server = createServer(app);
  const io = new Server(server);
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  // Test hook (see `setReachable`): while unreachable, the sync channels fail as they would
  // with the network down, but the page itself is still served, as a browser's cache would.
  let reachable = true;
  const pageFiles = new Set(['/', '/app.js', '/style.css', '/session-sync.js', '/socket.io/socket.io.min.js']);
  app.use((req, res, next) => {
    if (reachable || (req.method === 'GET' && pageFiles.has(req.path))) return next();
    req.socket.destroy();
  });

  app.use(sync.express());
  app.use(express.json({ limit: '2kb' }));
  app.use(express.urlencoded({ extended: false, limit: '2kb' }));

  app.get('/', (req, res) => {
    // Server-only (a top-level key starting with `_` is outside the default `expose`): stored
    // with the session, never sent to the browser by the route or a socket.
    // (Not counted while the test hook plays unreachable: the page then stands for a cached copy.)
    if (reachable) req.session.val._visits = (req.session.val._visits ?? 0) + 1;
    res.sendFile(here('public/index.html'));
  });
  app.get('/app.js', (req, res) => res.sendFile(here('public/app.js')));
  app.get('/style.css', (req, res) => res.sendFile(here('public/style.css')));
  app.get('/session-sync.js', (req, res) => res.sendFile(BROWSER_BUNDLE));

  // The HTTP way: an ordinary Express handler. The write is committed before the response
  // goes out and reaches every tab of this visitor live.
  app.post('/api/counter', (req, res) => {
    const counter = (req.session.val.counter ?? 0) + 1;
    req.session.val.counter = counter;
    reply(req, res, { counter });
  });

  app.post('/api/sign-in', async (req, res, next) => {
    try {
      const name = String(req.body?.name ?? '')
        .trim()
        .slice(0, 40);
      if (!name) return res.status(400).json({ error: 'a name is needed' });
      // A new id on sign-in (against session fixation); the data comes along, the old id is
      // dead and its sockets are told to follow once this response has set the new cookie.
      await req.session.regenerate();
      req.session.val.user = { id: userIdOf(name), name };
      reply(req, res, { user: req.session.val.user });
    } catch (err) {
      next(err);
    }
  });

  app.post('/api/sign-out', async (req, res, next) => {
    try {
      // Record gone, cookie cleared, every tab told: their caches are wiped.
      await req.session.destroy();
      reply(req, res, { ok: true });
    } catch (err) {
      next(err);
    }
  });

  sync.attach(io);

  // Refuse Engine.IO handshakes (polling and WebSocket) while unreachable (wrapping whatever
  // attach() or the app set, so it runs first).
  const allowRequest = io.engine.opts.allowRequest;
  io.engine.opts.allowRequest = (req, callback) => {
    if (!reachable) return callback('unreachable (demo test hook)', false);
    if (allowRequest) return allowRequest(req, callback);
    callback(null, true);
  };

  // The Socket.IO way: a socket handler. `socket.session.val` is always current, whoever
  // changed it last.
  io.on('connection', (socket) => {
    socket.on('counter:add', (ack) => {
      const counter = (socket.session.val.counter ?? 0) + 1;
      socket.session.val.counter = counter;
      socket.session.synchronize().then(
        () => typeof ack === 'function' && ack({ ok: true, counter }),
        (err) => typeof ack === 'function' && ack({ ok: false, message: String(err?.message ?? err) }),
      );
    });
  });

  // "Your devices", "Sign out" of one and "Sign out everywhere else": see devices.js.
  addDevices({ app, io, sync, reply });

  app.use((err, req, res, next) => {
    if (res.headersSent) return next(err);
    const status = err?.status ?? 500;
    res.status(status).json({ error: err?.code ?? 'internal', message: status < 500 ? err.message : 'server error' });
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const shownHost =
    !host || host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;

  return {
    /** The page's URL. */
    url: `http://${shownHost}:${address.port}/`,
    /** The port listened on. */
    port: address.port,
    /** The session layer (for out-of-band reads: `sync.get(id)`). */
    sync,
    /** The Socket.IO server. */
    io,
    /** The HTTP server. */
    server,
    /**
     * Test hook: `false` makes the server unreachable for the session's channels (route,
     * API, Socket.IO handshakes fail at the network level and open sockets are dropped);
     * `true` restores them.
     *
     * @param {boolean} on
     */
    setReachable(on) {
      reachable = on;
      if (on) return;
      // Drop the transport, not the Socket.IO session: the client sees a lost connection
      // ("transport close") and reconnects by itself, as after a network failure.
      for (const socket of io.of('/').sockets.values()) socket.conn.close();
    },
    /** Stops everything: sockets, the HTTP server, the session layer (not a store passed in). */
    async close() {
      // io.close() closes the HTTP server too; open keep-alive connections would hold it.
      const closed = new Promise((resolve) => io.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      await sync.close();
    },
  };
}

/** A stable user id per name, so two devices signing in as one name are one user (issue 10). */
function userIdOf(name) {
  return 'u-' + encodeURIComponent(name.toLowerCase()).replace(/%/g, '').slice(0, 48);
}

/** Answers a fetch with JSON and a plain form post (no JavaScript) with a redirect to the page. */
function reply(req, res, body) {
  if (req.accepts(['html', 'json']) === 'json') res.json(body);
  else res.redirect(303, '/');
}
