/**
 * Many app nodes on one Redis, in this process: each node is what one server of a
 * scaled-out deployment runs — its own `createSessionSync({ store: new RedisStore({ url }) })`,
 * Express app, HTTP server on a free loopback port and Socket.IO server with `sync.attach(io)`,
 * optionally with `@socket.io/redis-adapter`. Nodes share only the secret and the Redis, as
 * separate processes would. Visitors are one cookie jar (cookies are per host, not per port,
 * so one jar talks to every node like a browser behind a load balancer) and socket.io-client
 * sockets that send the jar's cookie on their handshake.
 */
import type { Server as HttpServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import express, { type Express } from 'express';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { type Socket as ClientSocket } from 'socket.io-client';
import { RedisStore, type RedisStoreOptions } from '../../src/server/stores/redis/redis-store.js';
import { createSessionSync, type SessionSync } from '../../src/server/create.js';
import type { SessionSyncOptions } from '../../src/server/options.js';
import { Jar, serve } from './http.js';
import { connectVisitor, type VisitorSocketOptions } from './socket-client.js';

export { Jar };

/** The secret every node shares (as a real deployment must). */
export const secret = 'the multi-node test secret, shared by every node';

/** One app node. */
export interface AppNode {
  /** 'A', 'B', 'C', … */
  name: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  sync: SessionSync;
  /** The node's RedisStore (undefined on a MemoryStore node). */
  store: RedisStore | undefined;
  io: Server;
  app: Express;
  http: HttpServer;
  /** Closes the node's sockets, servers, adapter clients and store. */
  close(): Promise<void>;
}

/** Options of {@link startNodes}. */
export interface NodesOptions {
  /** The Redis every node uses; absent: one node with the default MemoryStore (for comparisons). */
  redisUrl?: string;
  /** How many nodes (default 2). */
  count?: number;
  /** Attach `@socket.io/redis-adapter` on every node (default false). */
  adapter?: boolean;
  /** session-sync options of every node (the shared secret is added). */
  options?: SessionSyncOptions;
  /** RedisStore options of every node (default `watchInterval: 50` so expiry tests are quick). */
  store?: RedisStoreOptions;
  /** Makes each node's store instead of `redisUrl` (a RedisStore on a Redis Cluster, say). */
  makeStore?: () => RedisStore;
}

/** Options of {@link Nodes.connect}. */
export type NodeConnectOptions = VisitorSocketOptions;

/** A running set of nodes. */
export interface Nodes {
  nodes: AppNode[];
  /** A new visitor (empty cookie jar), based at the first node. */
  visitor(): Jar;
  /** A socket to `node` that sends the jar's cookie on every handshake (websocket only, no reconnection). */
  connect(node: AppNode, jar: Jar, options?: NodeConnectOptions): Promise<ClientSocket>;
  /** Closes every client socket and every node. */
  close(): Promise<void>;
}

/**
 * Builds the app of one node. Routes: `GET /ping` (never touches the session), `GET /read`
 * → `{ version, data }`, `POST /write` (JSON object merged into `req.session.val`, answers
 * `{ version }` once stored), `POST /increment` (`{ path, by }` through `req.session.increment`),
 * `POST /regenerate`, `POST /destroy`; errors answer `{ error, code }` with `err.status`. Sockets
 * answer `test:read` with `{ version, data }` of `socket.session` and `test:increment(path, by)`.
 */
function buildApp(sync: SessionSync): Express {
  const app = express();
  app.use(express.json());
  app.get('/ping', (_req, res) => void res.send('pong'));
  app.use(sync.express());
  app.get('/read', (req, res) => void res.json({ version: req.session.version, data: req.session.val }));
  app.post('/write', async (req, res, next) => {
    try {
      Object.assign(req.session.val, req.body);
      await req.session.synchronize();
      res.json({ version: req.session.version });
    } catch (err) {
      next(err);
    }
  });
  app.post('/increment', async (req, res, next) => {
    try {
      await req.session.increment(req.body.path, req.body.by);
      res.json({ version: req.session.version });
    } catch (err) {
      next(err);
    }
  });
  app.post('/regenerate', async (req, res, next) => {
    try {
      await req.session.regenerate();
      res.json({ version: req.session.version });
    } catch (err) {
      next(err);
    }
  });
  app.post('/destroy', async (req, res, next) => {
    try {
      await req.session.destroy();
      res.json({ ok: true });
    } catch (err) {
      next(err);
    }
  });
  app.use((err: any, _req: unknown, res: any, _next: unknown) => {
    res.status(err?.status ?? 500).json({ error: String(err?.message ?? err), code: err?.code });
  });
  return app;
}

async function startNode(name: string, options: NodesOptions): Promise<AppNode> {
  const { redisUrl } = options;
  const store =
    options.makeStore?.() ??
    (redisUrl ? new RedisStore({ url: redisUrl }, { watchInterval: 50, ...options.store }) : undefined);
  const sync = createSessionSync({ secret, ...options.options, ...(store ? { store } : {}) });
  // A node takes traffic only once it hears the other nodes' changes.
  await sync.ready();
  const app = buildApp(sync);
  const served = await serve(app);
  const io = new Server(served.server);
  const adapterClients: Redis[] = [];
  if (options.adapter && redisUrl) {
    const pub = new Redis(redisUrl);
    const sub = pub.duplicate();
    for (const client of [pub, sub]) {
      // An outage must not print ioredis' "Unhandled error event" for the adapter's clients.
      client.on('error', () => undefined);
      adapterClients.push(client);
    }
    io.adapter(createAdapter(pub, sub));
  }
  sync.attach(io);
  // What a handler of this node sees in `socket.session` right now.
  io.on('connection', (socket) => {
    socket.on('test:read', (ack: (v: unknown) => void) =>
      ack({ version: socket.session.version, data: socket.session.val }),
    );
    socket.on('test:increment', (path: string, by: number, ack: (v: unknown) => void) =>
      socket.session.increment(path, by).then(
        () => ack({ version: socket.session.version }),
        (err: { code?: string }) => ack({ error: err.code }),
      ),
    );
  });
  return {
    name,
    url: served.url,
    sync,
    store,
    io,
    app,
    http: served.server,
    async close() {
      // io.close() closes the adapter and the HTTP server, which waits for keep-alive connections.
      const closing = io.close();
      served.server.closeAllConnections();
      await closing;
      await sync.close();
      await store?.close();
      for (const client of adapterClients) client.disconnect();
    },
  };
}

/**
 * Starts `count` nodes on one Redis.
 *
 * @param options - the Redis URL, node count, adapter, session-sync and store options
 * @returns the nodes, a visitor factory, a socket factory and the closer
 * @example
 * const redis = await startRedis()
 * const { nodes: [a, b], visitor, connect, close } = await startNodes({ redisUrl: redis.url })
 * const ann = visitor()
 * await ann.fetch(`${a.url}/write`, post({ n: 1 }))
 * const socket = await connect(b, ann)
 */
export async function startNodes(options: NodesOptions): Promise<Nodes> {
  const count = options.count ?? 2;
  if (!options.redisUrl && !options.makeStore && count > 1)
    throw new TypeError('startNodes: more than one node needs redisUrl or makeStore');
  const nodes: AppNode[] = [];
  try {
    for (let i = 0; i < count; i++) nodes.push(await startNode(String.fromCharCode(65 + i), options));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.close()));
    throw err;
  }
  const clients: ClientSocket[] = [];
  return {
    nodes,
    visitor: () => new Jar(nodes[0]!.url),
    connect: (node, jar, connectOptions = {}) => connectVisitor(node.url, jar, connectOptions, clients),
    async close() {
      for (const socket of clients) socket.disconnect();
      await Promise.all(nodes.map((n) => n.close()));
    },
  };
}

/**
 * A JSON POST for {@link Jar.fetch}.
 *
 * @param body - the JSON body
 * @returns fetch options
 * @example
 * await jar.fetch(`${node.url}/write`, post({ a: 1 }))
 */
export function post(body: unknown): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** One event a client socket received. */
export interface Frame {
  event: string;
  payload: any;
  /** `performance.now()` at arrival. */
  at: number;
}

/**
 * Collects every event a client socket receives, plus its disconnect, in order.
 *
 * @param socket - the client socket
 * @returns the list, filled as events arrive
 * @example
 * const frames = record(socket)
 */
export function record(socket: ClientSocket): Frame[] {
  const frames: Frame[] = [];
  socket.onAny((event: string, payload: unknown) => frames.push({ event, payload, at: performance.now() }));
  socket.on('disconnect', (reason) => frames.push({ event: 'disconnect', payload: reason, at: performance.now() }));
  return frames;
}

/**
 * The `session:patch` payloads among recorded frames.
 *
 * @param frames - what {@link record} collected
 * @returns the patches, in arrival order
 */
export function patches(frames: Frame[]): { version: number; base: number; ops: any[]; mutation?: string }[] {
  return frames.filter((f) => f.event === 'session:patch').map((f) => f.payload);
}

/**
 * Waits until a condition holds (polling every 5 ms), or fails after `ms`.
 *
 * @param check - the condition
 * @param what - named in the failure
 * @param ms - the timeout (default 3000)
 * @example
 * await until(() => patches(frames).length === 3, 'three patches')
 */
export async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Resolves after `ms`.
 *
 * @param ms - milliseconds
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Emits with an ack and resolves with the answer (or rejects after 2 s).
 *
 * @param socket - the client socket
 * @param event - the event
 * @param args - the payload arguments
 * @returns the ack's first argument
 * @example
 * const ack = await request(socket, 'session:hello', { protocol: PROTOCOL_VERSION, version: 3 })
 */
export function request<T = any>(socket: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return socket.timeout(2000).emitWithAck(event, ...args) as Promise<T>;
}
