/**
 * For the lifecycle and input-integrity attack tests (an ended id never comes back; validators
 * judge the data they apply to): one app served by one node on MemoryStore, or by two nodes on
 * one real Redis (each its own `createSessionSync`, RedisStore, HTTP and Socket.IO server;
 * they share only the secret and the Redis, as separate processes would). Tests are written
 * once against `a` and `b`: on MemoryStore both are the one node.
 *
 * The app has what an attacker needs to race: a write that reads the session, then waits at a
 * gate the test opens (a DB call, a slow upload), then writes; sign-in with `regenerate()`;
 * sign-out; "sign out everywhere else"; a page that plants a server-only CSRF token.
 */
import type { Server as HttpServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import express, { type Express } from 'express';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { type Socket as ClientSocket } from 'socket.io-client';
import { createSessionSync, type SessionSync } from '../../src/server/create.js';
import type { SessionSyncOptions } from '../../src/server/options.js';
import { MemoryStore, type MemoryStoreOptions } from '../../src/server/stores/memory/memory-store.js';
import { RedisStore } from '../../src/server/stores/redis/redis-store.js';
import type { SessionStore } from '../../src/server/stores/store.js';
import * as assert from 'uvu/assert';
import { Jar, serve } from './http.js';
import { connectVisitor, type VisitorSocketOptions } from './socket-client.js';
import { startRedis, type TestRedis } from './redis.js';
import { Gates } from './gates.js';
import { errors, handlers, routes } from './lifecycle-app.js';

export { Gates };

/** The secret every node shares. */
export const secret = 'the lifecycle attack tests secret, long enough to sign';

/** Which store the scene runs on. */
export type Kind = 'memory' | 'redis';

/** One node of the scene. */
export interface LifecycleNode {
  name: string;
  url: string;
  sync: SessionSync;
  store: SessionStore;
  io: Server;
  http: HttpServer;
  /** Server-side sockets, in connection order. */
  sockets: ServerSocket[];
}

/** Options of {@link startScene}. */
export interface SceneOptions {
  /** session-sync options of every node (the secret and the store are added). */
  options?: SessionSyncOptions;
  /** `attach(io)` (default) or `io.use(sync.socketIO())` alone. */
  mount?: 'attach' | 'use';
  /** MemoryStore options (memory scenes). */
  memory?: MemoryStoreOptions;
  /** More routes, added after the built-in ones. */
  routes?(app: Express, node: { sync: SessionSync; gates: Gates }): void;
}

/** Options of {@link Scene.connect}. */
export type SceneConnectOptions = VisitorSocketOptions;

/** A running scene. */
export interface Scene {
  kind: Kind;
  /** Every node (one on MemoryStore, two on Redis). */
  nodes: LifecycleNode[];
  /** The first node. */
  a: LifecycleNode;
  /** The second node on Redis; the same node as `a` on MemoryStore. */
  b: LifecycleNode;
  /** A new visitor (one cookie jar for every node: cookies are per host, not per port). */
  visitor(): Jar;
  /** A socket.io-client socket to `node` sending the jar's cookie on every handshake (websocket, no reconnection). */
  connect(node: LifecycleNode, jar?: Jar, options?: SceneConnectOptions): Promise<ClientSocket>;
  /** Gates the slow routes wait at. */
  gates: Gates;
  close(): Promise<void>;
}

let sharedRedis: TestRedis | undefined;

/**
 * The one redis-server of this test process (started on first use, killed at exit).
 *
 * @returns the running Redis
 */
export async function testRedis(): Promise<TestRedis> {
  sharedRedis ??= await startRedis();
  return sharedRedis;
}

/** Stops the shared Redis, when one was started (call in the last suite's `after`). */
export async function stopTestRedis(): Promise<void> {
  const redis = sharedRedis;
  sharedRedis = undefined;
  await redis?.stop();
}

/**
 * Starts the scene: one MemoryStore node, or two RedisStore nodes on the shared test Redis
 * (a fresh key prefix per scene, so scenes never see each other's keys).
 *
 * @param kind - `'memory'` or `'redis'`
 * @param options - session-sync options, mount, extra routes
 * @returns the running scene
 * @example
 * const s = await startScene('redis', { options: { user: 'user.id' } })
 * const ann = s.visitor(); await ann.fetch(`${s.a.url}/write`, post({ n: 1 }))
 */
export async function startScene(kind: Kind, options: SceneOptions = {}): Promise<Scene> {
  const gates = new Gates();
  const prefix = `lc${randomBytes(4).toString('hex')}:`;
  const redis = kind === 'redis' ? await testRedis() : undefined;
  const count = kind === 'redis' ? 2 : 1;
  const nodes: LifecycleNode[] = [];
  for (let i = 0; i < count; i++) {
    const store: SessionStore = redis
      ? new RedisStore({ url: redis.url }, { prefix, watchInterval: 50 })
      : new MemoryStore(options.memory);
    const sync = createSessionSync({ secret, ...options.options, store });
    await sync.ready();
    const app = express();
    app.use(express.json({ limit: '1mb' }));
    app.use(sync.express());
    routes(app, gates);
    options.routes?.(app, { sync, gates });
    errors(app);
    const served = await serve(app);
    const io = new Server(served.server);
    if ((options.mount ?? 'attach') === 'attach') sync.attach(io);
    else io.use(sync.socketIO());
    const sockets: ServerSocket[] = [];
    io.on('connection', (socket) => {
      sockets.push(socket);
      handlers(socket);
    });
    nodes.push({ name: String.fromCharCode(65 + i), url: served.url, sync, store, io, http: served.server, sockets });
  }
  const clients: ClientSocket[] = [];
  const a = nodes[0]!;
  return {
    kind,
    nodes,
    a,
    b: nodes[1] ?? a,
    gates,
    visitor: () => new Jar(a.url),
    connect: (node, jar, connectOptions = {}) => connectVisitor(node.url, jar, connectOptions, clients),
    async close() {
      for (const socket of clients) socket.disconnect();
      for (const node of nodes) {
        const closing = new Promise<void>((resolve) => node.io.close(() => resolve()));
        node.http.closeAllConnections();
        await closing;
        await node.sync.close();
        await node.store.close();
      }
    },
  };
}

/**
 * A JSON POST for {@link Jar.fetch}.
 *
 * @param body - the JSON body
 * @returns fetch options
 */
export function post(body: unknown = {}): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/**
 * What a client socket was told: every event in order, and a promise of its `session:ended`.
 *
 * @param socket - the client socket
 * @returns the log and the notice
 */
export function listen(socket: ClientSocket): { log: string[]; ended: Promise<{ reason: string }> } {
  const log: string[] = [];
  socket.onAny((event: string, ...args: unknown[]) => log.push(`${event} ${JSON.stringify(args[0])}`));
  socket.on('disconnect', (reason) => log.push(`disconnect ${reason}`));
  const ended = new Promise<{ reason: string }>((resolve) => socket.once('session:ended', resolve));
  return { log, ended };
}

/**
 * Emits with an ack (rejects after `ms`).
 *
 * @param socket - the client socket
 * @param event - the event
 * @param args - the payload arguments
 * @returns the ack's first argument
 */
export function ask<T = any>(socket: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return socket.timeout(5000).emitWithAck(event, ...args) as Promise<T>;
}

/**
 * A browser mutation over a socket.
 *
 * @param socket - the client socket
 * @param mutation - its id
 * @param ops - the ops
 * @returns the ack
 */
export function mutate(socket: ClientSocket, mutation: string, ops: unknown[]): Promise<any> {
  return ask(socket, 'session:mutate', { mutation, base: 0, ops });
}

/** Waits `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until `check` holds (polling), or fails after `ms`.
 *
 * @param check - the condition (may be async)
 * @param what - named in the failure
 * @param ms - the timeout
 */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Every store the scene has, for "no node sees a record": the record of `id` as each node's
 * store reads it (all undefined when the id has none).
 *
 * @param scene - the scene
 * @param id - the session id
 * @returns one read per node
 */
export async function recordsOf(scene: Scene, id: string): Promise<unknown[]> {
  return Promise.all(scene.nodes.map((n) => n.store.get(id)));
}

/**
 * A visitor whose browser holds an id planted by an attacker: the attacker got it issued early
 * (the route's `X-Session-Sync` GET on node B) and put the same cookie in the victim's browser.
 *
 * @param s - the scene
 * @returns the attacker's and the victim's jars, and the planted id
 */
export async function planted(s: Scene): Promise<{ attacker: Jar; victim: Jar; id: string }> {
  const attacker = s.visitor();
  await attacker.fetch(`${s.b.url}/get/session`, { headers: { 'x-session-sync': '1' } });
  const id = attacker.id()!;
  assert.ok(id, 'the attacker got an id');
  return { attacker, victim: attacker.clone(), id };
}

/**
 * Asserts that no node's store has a record of `id`.
 *
 * @param s - the scene
 * @param id - the session id
 * @param what - the assertion's message
 */
export async function assertNoRecord(s: Scene, id: string, what: string): Promise<void> {
  assert.equal(
    await recordsOf(s, id),
    s.nodes.map(() => undefined),
    what,
  );
}
