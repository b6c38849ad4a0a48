/**
 * The load harness of the reliability suites: app nodes in child processes (./app-node.ts),
 * visitors with a cookie jar and socket.io-client sockets that mirror their session the way the
 * browser SDK does (hello snapshot, then every `session:patch` in order), mixed writers (HTTP
 * handlers, socket handlers, browser-style `session:mutate`), and a capture that scans every HTTP
 * body and every socket frame the visitors receive for a needle (the server-only canary).
 *
 * Writes put distinct keys, so "no acknowledged write is missing" is a lookup per write.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Express } from 'express';
import { Server as IOServer } from 'socket.io';
import { io as connectClient, type Socket } from 'socket.io-client';
import { createSessionSync, type SessionSync, type SessionSyncOptions } from '../../src/server/index.js';
import {
  applyOps,
  getIn,
  jsonEqual,
  PROTOCOL_VERSION,
  type JsonObject,
  type Op,
  type PatchMessage,
} from '../../src/shared/index.js';
import type { NodeConfig } from './app-node.js';
import { Jar, serve } from './http.js';
import { loadApp, loadHandlers } from './load-app.js';

export { Jar };

/** Waits `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether the long (soak) mode was asked for (`npm run test:reliability -- --soak`). */
export const SOAK = process.env.SESSION_SYNC_SOAK === '1';

/** A fresh random string, for canaries and ids. */
export const randomText = (bytes = 12): string => randomBytes(bytes).toString('base64url');

/**
 * Waits until `check` holds, polling; fails after `ms` naming `what`.
 *
 * @param check - the condition (may be async)
 * @param ms - the deadline
 * @param what - named in the failure
 * @example
 * await until(() => node.sockets() === 0, 10_000, 'every socket closed')
 */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

/**
 * What the browser may see with the default `expose`: all but top-level keys starting with `_`.
 * Written here again, not imported from src/server, so the tests check the server against an
 * independent oracle.
 *
 * @param data - the whole session
 * @returns the projected data
 */
export function visible(data: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(data)) if (!key.startsWith('_')) out[key] = data[key]!;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Capture

/**
 * Scans text for a needle and keeps the figures: frames and bytes seen, and every hit.
 *
 * @example
 * const leaks = new Capture(canary); leaks.scan('http /get/session', body)
 */
export class Capture {
  frames = 0;
  bytes = 0;
  readonly hits: string[] = [];

  /** @param needle - what must never appear */
  constructor(readonly needle: string) {}

  /**
   * Scans one body or frame.
   *
   * @param where - names the source in a hit
   * @param text - the text
   */
  scan(where: string, text: string): void {
    this.frames++;
    this.bytes += text.length;
    if (text.includes(this.needle)) this.hits.push(`${where}: ${text.slice(0, 300)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// App nodes

/** Where a load goes: a base URL, and a way to read the store's record of a session. */
export interface Target {
  url: string;
  record(id: string): Promise<{ version: number; data: JsonObject } | null>;
}

/** A running app node (child process). */
export interface AppNode {
  url: string;
  port: number;
  child: ChildProcess;
  /** GET/POST to the node's `/_admin/*` routes (never captured). */
  admin<T = any>(path: string, method?: 'GET' | 'POST'): Promise<T>;
  /** heapUsed after repeated GC, in bytes. */
  heap(): Promise<number>;
  /** Problems the node recorded (unhandled rejections, uncaught exceptions, sync errors) and its socket count. */
  stats(): Promise<{ problems: string[]; sockets: number; protoClean: boolean }>;
  /** The store's record of a session (server-only data included), or null. */
  record(id: string): Promise<{ version: number; data: JsonObject } | null>;
  /** SIGKILLs the node and waits for its exit. */
  kill(): Promise<void>;
  /** Stops the node gracefully (SIGTERM, then SIGKILL after 5 s). */
  close(): Promise<void>;
}

const NODE_SCRIPT = fileURLToPath(new URL('./app-node.ts', import.meta.url));
const nodes = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of nodes) child.kill('SIGKILL');
});

/**
 * Starts an app node in a child process (`node --expose-gc --import tsx`).
 *
 * @param config - secret, store, canary, limits
 * @returns the node once it listens
 * @example
 * const node = await startNode({ secret, canary: randomText() })
 */
export async function startNode(config: NodeConfig): Promise<AppNode> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', NODE_SCRIPT], {
    env: { ...process.env, SESSION_SYNC_NODE: JSON.stringify(config), NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  nodes.add(child);
  let output = '';
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      nodes.delete(child);
      resolve();
    }),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the app node did not start within 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-8000);
      const match = /READY (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', onData);
    // The node's warnings (an unset secret, debug output) are kept for a failure message only.
    child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000)));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the app node exited at start (${code ?? signal}):\n${output}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const admin = async <T>(path: string, method: 'GET' | 'POST' = 'GET'): Promise<T> => {
    const res = await fetch(url + '/_admin/' + path, { method });
    if (!res.ok) throw new Error(`admin ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  return {
    url,
    port,
    child,
    admin,
    heap: async () => (await admin<{ heapUsed: number }>('heap')).heapUsed,
    stats: () => admin('stats'),
    record: (id) => admin(`session/${id}`),
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Mirrors

/**
 * A session mirrored from the protocol alone, as the browser SDK does it: the hello answer,
 * then every patch in order; patches that arrive before the answer are held; a gap is
 * counted and healed by saying hello again with the version held.
 */
export class Mirror {
  version = 0;
  data: JsonObject = {};
  tag: string | null | undefined;
  ready = false;
  gaps = 0;
  patches = 0;
  private held: PatchMessage[] = [];

  /** @param resync - says hello again after a gap */
  constructor(private readonly resync: () => void) {}

  /**
   * Takes a hello answer.
   *
   * @param ack - the answer (checked by the caller to be `ok`)
   */
  hello(ack: {
    version: number;
    tag: string | null;
    data?: JsonObject;
    patches?: PatchMessage[];
    unchanged?: true;
  }): void {
    if (ack.data) this.data = ack.data;
    else if (ack.patches) {
      for (const p of ack.patches) {
        if (p.base !== this.version) throw new Error(`hello patches do not continue ${this.version}: base ${p.base}`);
        this.data = applyOps(this.data, p.ops).data;
        this.version = p.version;
      }
    }
    this.version = ack.version;
    this.tag = ack.tag;
    this.ready = true;
    const held = this.held;
    this.held = [];
    for (const p of held) this.patch(p);
  }

  /**
   * Takes a `session:patch`.
   *
   * @param p - the patch
   */
  patch(p: PatchMessage): void {
    this.patches++;
    if (!this.ready) {
      this.held.push(p);
      return;
    }
    if (p.version <= this.version) return;
    if (p.base !== this.version) {
      this.gaps++;
      this.ready = false;
      this.held.push(p);
      this.resync();
      return;
    }
    this.data = applyOps(this.data, p.ops).data;
    this.version = p.version;
  }
}

/** A browser-style write still waiting for its ack (replayed with the same id after a reconnect). */
interface Pending {
  message: { mutation: string; base: number; ops: Op[] };
  done(answer: { ok: boolean; version?: number; code?: string }): void;
}

/**
 * One socket of a visitor: connects with the visitor's cookie, says hello, mirrors the session,
 * sends browser-style mutations (kept until acked and replayed on a reconnect), and feeds every
 * frame it receives to the capture.
 */
export class LoadClient {
  socket: Socket | undefined;
  readonly mirror: Mirror;
  readonly pending = new Map<string, Pending>();
  /** `session:ended` reasons received. */
  readonly ended: string[] = [];
  disconnects = 0;
  private url = '';

  /**
   * @param jar - the visitor's cookies
   * @param capture - scans every frame received (optional)
   */
  constructor(
    readonly jar: Jar,
    private readonly capture?: Capture,
  ) {
    this.mirror = new Mirror(() => void this.hello().catch(() => {}));
  }

  /** Whether the socket is connected now. */
  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  /**
   * Connects to a node (again, after a drop or to another node), says hello with the version
   * held, and replays the writes still waiting for an ack.
   *
   * @param url - the node's base URL
   * @param origin - the Origin header to send (none by default)
   * @returns when the hello is answered
   */
  async connect(url: string, origin?: string): Promise<void> {
    this.socket?.close();
    this.url = url;
    const jar = this.jar;
    const headers = {
      get cookie() {
        return jar.header;
      },
      ...(origin ? { origin } : {}),
    } as Record<string, string>;
    const socket = connectClient(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      extraHeaders: headers,
    });
    this.socket = socket;
    const capture = this.capture;
    if (capture) {
      // Raw engine.io packets: every frame, acks included (onAny does not see acks).
      socket.io.on('open', () => {
        socket.io.engine.on('packet', (packet: { type: string; data?: unknown }) => {
          if (typeof packet.data === 'string') capture.scan(`frame ${packet.type}`, packet.data);
        });
      });
      socket.onAny((event: string, ...args: unknown[]) => capture.scan(`event ${event}`, JSON.stringify(args)));
      socket.onAnyOutgoing((event: string, ...args: unknown[]) => capture.scan(`sent ${event}`, JSON.stringify(args)));
    }
    socket.on('session:patch', (p: PatchMessage) => {
      if (this.socket === socket) this.mirror.patch(p);
    });
    socket.on('session:ended', (m: { reason: string }) => this.ended.push(m.reason));
    socket.on('disconnect', () => {
      this.disconnects++;
      if (this.socket === socket) this.mirror.ready = false;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connect to ${url} within 30 s`)), 30_000);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('connect_error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    await this.hello();
    for (const p of this.pending.values()) this.send(p);
  }

  /**
   * Says hello with the version and tag held (none before the first answer).
   *
   * @returns when answered and applied
   */
  async hello(): Promise<void> {
    const socket = this.socket!;
    const message =
      this.mirror.tag === undefined
        ? { protocol: PROTOCOL_VERSION }
        : { protocol: PROTOCOL_VERSION, version: this.mirror.version, tag: this.mirror.tag };
    this.mirror.ready = false;
    const ack = await socket.timeout(30_000).emitWithAck('session:hello', message);
    if (!ack?.ok) throw new Error(`hello refused: ${JSON.stringify(ack)}`);
    if (this.socket === socket) this.mirror.hello(ack);
  }

  /**
   * Sends a browser-style write and resolves with its ack; kept for replay until then.
   *
   * @param ops - the ops
   * @returns the ack
   */
  mutate(ops: Op[]): Promise<{ ok: boolean; version?: number; code?: string }> {
    const mutation = randomText(9);
    return new Promise((resolve) => {
      const pending: Pending = {
        message: { mutation, base: this.mirror.version, ops },
        done: (answer) => {
          if (!this.pending.delete(mutation)) return;
          resolve(answer);
        },
      };
      this.pending.set(mutation, pending);
      this.send(pending);
    });
  }

  private send(pending: Pending): void {
    const socket = this.socket;
    if (!socket?.connected) return; // replayed on the next connect
    socket.timeout(30_000).emit('session:mutate', pending.message, (err: Error | null, answer: { ok: boolean }) => {
      // A lost ack (disconnect, timeout) keeps the write pending: it goes again after the next hello.
      if (!err) pending.done(answer);
    });
  }

  /**
   * Emits an app event with an ack (timeout 30 s).
   *
   * @param event - the event
   * @param payload - its payload
   * @returns the ack, or `{ error }` when there was none
   */
  async call<T = any>(event: string, payload: unknown): Promise<T | { error: string }> {
    const socket = this.socket;
    if (!socket?.connected) return { error: 'not connected' };
    try {
      return (await socket.timeout(30_000).emitWithAck(event, payload)) as T;
    } catch (err) {
      return { error: String((err as Error).message) };
    }
  }

  /** Gives up on pending writes and closes the socket. */
  close(): void {
    for (const p of this.pending.values()) p.done({ ok: false, code: 'closed' });
    this.socket?.close();
  }

  /** The node this client last connected to. */
  get node(): string {
    return this.url;
  }
}

// ---------------------------------------------------------------------------------------------
// Visitors and the load

/** A write that was acknowledged: `path` holds `value` in the store afterwards. */
export interface Acked {
  path: string[];
  value: number;
}

/** One visitor: a jar (one session), its sockets, the node it talks HTTP to, its acked writes. */
export class Visitor {
  readonly clients: LoadClient[] = [];
  readonly acked: Acked[] = [];

  /**
   * @param jar - the cookie jar
   * @param base - the node its HTTP requests go to
   * @param capture - scans every body
   */
  constructor(
    readonly jar: Jar,
    public base: string,
    private readonly capture?: Capture,
  ) {}

  /** The session id (from the signed cookie). */
  get id(): string {
    return this.jar.id()!;
  }

  /**
   * An HTTP request to the visitor's node with its cookies; the whole answer is captured.
   *
   * @param path - the path
   * @param body - a JSON body (POST), or none (GET)
   * @param headers - extra headers
   * @returns status and parsed body (undefined when not JSON)
   */
  async http(
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: any }> {
    const init: RequestInit =
      body === undefined
        ? { headers }
        : { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
    const url = new URL(path, this.base).href;
    const res = await this.jar.fetch(url, init);
    const text = await res.text();
    if (this.capture) {
      const head = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
      this.capture.scan(`http ${path}`, head + '\n\n' + text);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed };
  }
}

/** Options of {@link Load}. */
export interface LoadOptions {
  /** Scans every body and frame (the canary). */
  capture?: Capture;
  /** Writes per second over all sessions (the writers pick sessions at random). */
  rate: number;
  /** Most writes in flight at once. */
  concurrency?: number;
  /** Share of writes of each kind; the rest of 1 goes to server-only (`/secret`) writes. */
  mix?: { http: number; socket: number; mutate: number };
  /** What the server's `expose` lets visitors see (default {@link visible}: all but `_` keys). */
  project?: (data: JsonObject) => JsonObject;
}

/** Counts per kind of writer. */
export type Counts = Record<'http' | 'socket' | 'mutate' | 'secret', number>;

const zero = (): Counts => ({ http: 0, socket: 0, mutate: 0, secret: 0 });

/**
 * A load: visitors and their sockets, mixed writers at a fixed rate, and the convergence
 * check at the end.
 *
 * @example
 * const load = new Load({ rate: 300, capture })
 * await load.open(node, 200, 5)
 * await load.drive(20_000)
 * await load.verify(node)
 */
export class Load {
  readonly visitors: Visitor[] = [];
  readonly acked = zero();
  readonly failed = zero();
  readonly failures: string[] = [];
  private inflight = 0;
  private next = 0;

  /** @param options - rate, mix, capture */
  constructor(readonly options: LoadOptions) {}

  /** Every socket client of every visitor. */
  get clients(): LoadClient[] {
    return this.visitors.flatMap((v) => v.clients);
  }

  /**
   * Makes `sessions` visitors on a node: each gets its cookie from the route (`X-Session-Sync: 1`),
   * writes once over HTTP (the record, with the canary), and opens `sockets` sockets, in batches.
   *
   * @param node - where visitor `i` sends its HTTP requests: a node, or a function of `i`
   * @param sessions - visitors
   * @param sockets - sockets per visitor
   * @param socketNode - where socket `j` of visitor `i` connects (default: its HTTP node)
   */
  async open(
    node: Target | ((i: number) => Target),
    sessions: number,
    sockets: number,
    socketNode?: (i: number, j: number) => Target,
  ): Promise<void> {
    const pick = typeof node === 'function' ? node : () => node;
    const made: Visitor[] = [];
    for (let i = 0; i < sessions; i++) {
      const url = pick(i).url;
      made.push(new Visitor(new Jar(url), url, this.options.capture));
    }
    await inBatches(made, 25, async (v) => {
      const route = await v.http('/get/session', undefined, { 'x-session-sync': '1' });
      if (route.status !== 200 || !v.id) throw new Error(`no cookie from the route: ${route.status}`);
      const first = await v.http('/w', { key: 'created', value: 1 });
      if (first.status !== 200) throw new Error(`first write failed: ${first.status} ${JSON.stringify(first.body)}`);
      v.acked.push({ path: ['created'], value: 1 });
    });
    this.visitors.push(...made);
    const clients = made.flatMap((v, i) =>
      Array.from({ length: sockets }, (_, j) => ({
        v,
        url: socketNode?.(i, j).url ?? v.base,
        c: new LoadClient(v.jar, this.options.capture),
      })),
    );
    await inBatches(clients, 50, async ({ v, url, c }) => {
      await c.connect(url);
      v.clients.push(c);
    });
  }

  /**
   * Runs the writers for `ms`: every 20 ms a tick issues the writes due (rate × elapsed), each to
   * a random visitor, of a random kind, up to the concurrency cap.
   *
   * @param ms - how long
   * @param during - called every tick with the elapsed ms (to inject a fault)
   */
  async drive(ms: number, during?: (elapsed: number) => void | Promise<void>): Promise<void> {
    const start = Date.now();
    const cap = this.options.concurrency ?? 100;
    let issued = 0;
    let hook = Promise.resolve();
    while (Date.now() - start < ms) {
      const elapsed = Date.now() - start;
      const due = Math.floor((elapsed / 1000) * this.options.rate);
      while (issued < due && this.inflight < cap) {
        issued++;
        void this.write();
      }
      if (during) hook = hook.then(() => during(elapsed));
      await sleep(20);
    }
    await hook;
  }

  /** Waits for every write in flight (each ends acked or failed). */
  async settle(ms = 120_000): Promise<void> {
    await until(() => this.inflight === 0, ms, 'every write to be answered');
  }

  private async write(): Promise<void> {
    this.inflight++;
    const v = this.visitors[Math.floor(Math.random() * this.visitors.length)]!;
    const mix = this.options.mix ?? { http: 0.35, socket: 0.3, mutate: 0.3 };
    const r = Math.random();
    const kind: keyof Counts =
      r < mix.http
        ? 'http'
        : r < mix.http + mix.socket
          ? 'socket'
          : r < mix.http + mix.socket + mix.mutate
            ? 'mutate'
            : 'secret';
    const n = ++this.next;
    try {
      const ok = await this.writeOne(v, kind, n);
      if (ok === true) this.acked[kind]++;
      else {
        this.failed[kind]++;
        if (this.failures.length < 50) this.failures.push(`${kind}: ${ok}`);
      }
    } catch (err) {
      this.failed[kind]++;
      if (this.failures.length < 50) this.failures.push(`${kind}: ${(err as Error).message}`);
    } finally {
      this.inflight--;
    }
  }

  private async writeOne(v: Visitor, kind: keyof Counts, n: number): Promise<true | string> {
    const client = v.clients[n % Math.max(1, v.clients.length)];
    if (kind === 'http' || kind === 'secret' || !client) {
      const key = `h${n}`;
      const res = kind === 'secret' ? await v.http('/secret', {}) : await v.http('/w', { key, value: n });
      if (res.status !== 200) return `${res.status} ${JSON.stringify(res.body)}`;
      if (kind !== 'secret') v.acked.push({ path: [key], value: n });
      return true;
    }
    if (kind === 'socket') {
      const key = `s${n}`;
      const answer = await client.call<{ version: number }>('load:write', { key, value: n });
      if (!('version' in answer)) return JSON.stringify(answer);
      v.acked.push({ path: [key], value: n });
      return true;
    }
    const path = ['draft', `m${n}`];
    const answer = await client.mutate([{ op: 'set', path, value: n }]);
    if (!answer.ok) return JSON.stringify(answer);
    v.acked.push({ path, value: n });
    return true;
  }

  /**
   * Says hello again on every connected socket with the version it holds (what a browser does on
   * every reconnect), and waits for the answers.
   */
  async resync(): Promise<void> {
    await inBatches(
      this.clients.filter((c) => c.connected),
      100,
      (c) => c.hello(),
    );
  }

  /**
   * The end-of-load checks: every socket mirror reaches the store's version with deep-equal
   * projected data; the route agrees; every acknowledged write is in the store.
   *
   * @param node - the node whose store (and route) to ask
   * @param ms - how long mirrors may take to catch up
   * @returns figures for the report
   */
  async verify(
    node: Target,
    ms = 60_000,
  ): Promise<{ sessions: number; sockets: number; acked: number; patches: number; gaps: number }> {
    const project = this.options.project ?? visible;
    const records = new Map<Visitor, { version: number; data: JsonObject }>();
    await inBatches(this.visitors, 25, async (v) => {
      const record = await node.record(v.id);
      if (!record) throw new Error(`session ${v.id} has no record`);
      records.set(v, record);
    });
    const lagging = (): LoadClient[] =>
      this.visitors.flatMap((v) => v.clients.filter((c) => c.mirror.version !== records.get(v)!.version));
    await until(() => lagging().length === 0, ms, 'every mirror to reach the store version').catch((err: Error) => {
      const some = lagging()
        .slice(0, 5)
        .map((c) => `${c.mirror.version} (connected ${c.connected}, gaps ${c.mirror.gaps})`);
      throw new Error(`${err.message}; ${lagging().length} lagging, e.g. ${some.join(', ')}`);
    });
    let acked = 0;
    let patches = 0;
    let gaps = 0;
    const problems: string[] = [];
    for (const v of this.visitors) {
      const record = records.get(v)!;
      const expected = project(record.data);
      for (const c of v.clients) {
        patches += c.mirror.patches;
        gaps += c.mirror.gaps;
        if (!jsonEqual(c.mirror.data, expected))
          problems.push(`mirror of ${v.id} differs from the store at v${record.version}`);
      }
      for (const w of v.acked) {
        acked++;
        if (getIn(record.data, w.path) !== w.value)
          problems.push(`acked write ${w.path.join('.')}=${w.value} missing from ${v.id}`);
      }
    }
    await inBatches(this.visitors, 25, async (v) => {
      const record = records.get(v)!;
      const route = await v.http('/get/session');
      if (
        route.status !== 200 ||
        route.body?.version !== record.version ||
        !jsonEqual(route.body?.data, project(record.data))
      ) {
        problems.push(`the route of ${v.id} says v${route.body?.version}, the store v${record.version}`);
      }
    });
    if (problems.length)
      throw new Error(`${problems.length} convergence problems:\n${problems.slice(0, 10).join('\n')}`);
    return { sessions: this.visitors.length, sockets: this.clients.length, acked, patches, gaps };
  }

  /** Closes every socket. */
  close(): void {
    for (const c of this.clients) c.close();
  }
}

/**
 * Runs `fn` over `items`, `size` at a time.
 *
 * @param items - the items
 * @param size - batch size
 * @param fn - the work per item
 */
export async function inBatches<T>(
  items: readonly T[],
  size: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/**
 * A quick figure for reports: bytes as MB with one decimal.
 *
 * @param bytes - bytes
 * @returns e.g. `'12.3 MB'`
 */
export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

// ---------------------------------------------------------------------------------------------
// An in-process server, for suites that need to reach into the session layer (its store, its
// change feed) or the process itself (Object.prototype, unhandled rejections).

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

/**
 * `gc()` in this process, without `--expose-gc` on the command line (uvu starts the process).
 *
 * @returns a function that runs a full GC a few times and answers heapUsed
 */
export function heapAfterGc(): () => Promise<number> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return async () => {
    for (let i = 0; i < 6; i++) {
      gc();
      await sleep(10);
    }
    return process.memoryUsage().heapUsed;
  };
}
