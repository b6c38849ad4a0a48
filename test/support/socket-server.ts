/**
 * For the Socket.IO side's tests: a real Express + Socket.IO server of this package on a
 * free loopback port, mounted the way a test asks (`attach`, `io.use`, Socket.IO options),
 * with handlers that read and write `socket.session`; and visitors that talk to it the way
 * a browser does: the cookie jar of ./http.ts for HTTP, and socket.io-client sockets that
 * send the jar's cookie (and an Origin, if asked) on their handshake. (./server.ts is the
 * browser SDK's simpler server.)
 */
import type { Server as HttpServer } from 'node:http';
import express, { type Express } from 'express';
import { Server, type ServerOptions, type Socket as ServerSocket } from 'socket.io';
import { type Socket as ClientSocket } from 'socket.io-client';
import { createSessionSync, type SessionSync } from '../../src/server/create.js';
import type { SessionSyncOptions } from '../../src/server/options.js';
import { Jar, serve } from './http.js';
import { connectVisitor, type VisitorSocketOptions } from './socket-client.js';

export { Jar };

/** A long enough test secret. */
export const secret = 'a socket test secret that is long enough';

/** How the session layer is mounted on the Socket.IO server. */
export type Mount = 'attach' | 'use' | 'none';

/** Options of {@link startServer}. */
export interface StartOptions {
  /** `attach(io)` (default), `io.use(sync.socketIO())`, or nothing. */
  mount?: Mount;
  /** Socket.IO server options (e.g. `connectionStateRecovery`). */
  io?: Partial<ServerOptions>;
  /** Adds the test's routes (after `express.json()` and `sync.express()`). */
  routes?(app: Express, sync: SessionSync): void;
  /** Adds the test's socket handlers (after the built-in `test:*` ones). */
  connection?(socket: ServerSocket): void;
}

/** Options of {@link TestServer.connect}. */
export interface ConnectOptions extends VisitorSocketOptions {
  /** The Origin header to send (none by default, like a non-browser client). */
  origin?: string;
  /** The namespace (default `/`). */
  nsp?: string;
  /** Another server's base URL (default this one's). */
  url?: string;
}

/** A running server. */
export interface SocketTestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  sync: SessionSync;
  io: Server;
  app: Express;
  http: HttpServer;
  /** Server-side sockets, in connection order. */
  sockets: ServerSocket[];
  /** A new visitor (empty cookie jar). */
  visitor(): Jar;
  /**
   * A socket.io-client socket that sends the jar's cookie on every handshake (read from the
   * jar each time, so a reconnect carries a cookie the jar got meanwhile).
   */
  connect(jar?: Jar, options?: ConnectOptions): Promise<ClientSocket>;
  /** Closes every client, the Socket.IO server, the HTTP server and the session layer. */
  close(): Promise<void>;
}

/**
 * Starts a server with the session layer mounted on Express and Socket.IO.
 *
 * Built-in HTTP routes: `GET /read` → `req.session.val`; `POST /write` (JSON object) →
 * merged into `req.session.val`, answers `{ version }` once stored; `POST /regenerate`,
 * `POST /destroy`. Built-in socket events (all with an ack): `test:read` →
 * `socket.session.val`; `test:write` (object) → merged in, acks `{ version }` or
 * `{ error, code }`; `test:whoami` → `{ id, tag, version }`.
 *
 * @param options - session-sync options (a secret is added when missing)
 * @param start - mount, Socket.IO options, extra routes and handlers
 * @returns the server
 * @example
 * const t = await startSocketServer({ clientWritable: ['prefs'] })
 * const ann = t.visitor(); await ann.fetch('/write', post({ a: 1 }))
 * const socket = await t.connect(ann)
 */
export async function startSocketServer(
  options: SessionSyncOptions = {},
  start: StartOptions = {},
): Promise<SocketTestServer> {
  const sync = createSessionSync({ secret, ...options });
  const app = express();
  app.use(express.json());
  app.use(sync.express());
  app.get('/read', (req, res) => void res.json(req.session.val));
  app.post('/write', async (req, res, next) => {
    try {
      Object.assign(req.session.val, req.body);
      await req.session.synchronize();
      res.json({ version: req.session.version });
    } catch (err) {
      next(err);
    }
  });
  app.post('/regenerate', async (req, res) => {
    await req.session.regenerate();
    res.json({ ok: true });
  });
  app.post('/destroy', async (req, res) => {
    await req.session.destroy();
    res.json({ ok: true });
  });
  start.routes?.(app, sync);
  app.use((err: any, _req: unknown, res: any, _next: unknown) => {
    res.status(err?.status ?? 500).json({ error: String(err?.message ?? err), code: err?.code });
  });

  const served = await serve(app);
  const http = served.server;
  const io = new Server(http, start.io);
  const mount = start.mount ?? 'attach';
  if (mount === 'attach') sync.attach(io);
  else if (mount === 'use') io.use(sync.socketIO());
  const sockets: ServerSocket[] = [];
  io.on('connection', (socket) => {
    sockets.push(socket);
    socket.on('test:read', (ack: (v: unknown) => void) => ack(socket.session.val));
    socket.on('test:whoami', (ack: (v: unknown) => void) =>
      ack({ id: socket.session.id ?? null, tag: socket.session.tag, version: socket.session.version }),
    );
    socket.on('test:write', async (patch: Record<string, unknown>, ack: (v: unknown) => void) => {
      try {
        Object.assign(socket.session.val, patch);
        await socket.session.synchronize();
        ack({ version: socket.session.version });
      } catch (err) {
        ack({ error: String((err as Error).message), code: (err as { code?: string }).code });
      }
    });
    start.connection?.(socket);
  });

  const url = served.url;
  const port = Number(new URL(url).port);
  const clients: ClientSocket[] = [];

  return {
    url,
    port,
    sync,
    io,
    app,
    http,
    sockets,
    visitor: () => new Jar(url),
    connect(jar, connectOptions = {}) {
      const { origin, nsp = '', url: base = url, ...rest } = connectOptions;
      return connectVisitor(base + nsp, jar, rest, clients, origin === undefined ? {} : { origin });
    },
    async close() {
      for (const socket of clients) socket.disconnect();
      // io.close() closes the HTTP server too, which waits for keep-alive connections.
      const closing = new Promise<void>((resolve) => io.close(() => resolve()));
      http.closeAllConnections();
      await closing;
      await sync.close();
    },
  };
}

/**
 * A JSON POST for {@link Jar.fetch}.
 *
 * @param body - the JSON body
 * @param headers - extra headers
 * @returns fetch options
 * @example
 * await jar.fetch('/write', post({ a: 1 }))
 */
export function post(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/**
 * Emits with an ack and resolves with the answer (or rejects after `ms`).
 *
 * @param socket - the client socket
 * @param event - the event
 * @param args - the payload arguments
 * @returns the ack's first argument
 * @example
 * const answer = await request(socket, 'session:hello', { protocol: PROTOCOL_VERSION })
 */
export function request<T = any>(socket: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return socket.timeout(2000).emitWithAck(event, ...args) as Promise<T>;
}

/**
 * Collects every event a client socket receives, in order.
 *
 * @param socket - the client socket
 * @returns the list, filled as events arrive
 * @example
 * const frames = record(socket)
 */
export function record(socket: ClientSocket): { event: string; args: unknown[] }[] {
  const frames: { event: string; args: unknown[] }[] = [];
  socket.onAny((event: string, ...args: unknown[]) => frames.push({ event, args }));
  return frames;
}

/**
 * Resolves with the next `event` on the socket (rejects after `ms`).
 *
 * @param socket - the client socket
 * @param event - the event name
 * @param ms - the timeout
 * @returns the event's first argument
 * @example
 * const patch = await next(socket, 'session:patch')
 */
export function next<T = any>(socket: ClientSocket, event: string, ms = 2000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const on = (value: T): void => {
      clearTimeout(timer);
      resolve(value);
    };
    socket.once(event, on);
  });
}

/**
 * Waits until a condition holds (polling every 5 ms), or fails after `ms`.
 *
 * @param check - the condition
 * @param ms - the timeout
 * @param what - named in the failure
 * @example
 * await until(() => frames.length === 2)
 */
export async function until(check: () => boolean, ms = 2000, what = 'the condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Waits `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
