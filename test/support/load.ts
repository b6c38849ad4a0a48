/**
 * The load of the reliability suites: visitors with a cookie jar and socket clients that mirror
 * their session (./mirror.ts), mixed writers at a fixed rate (HTTP handlers, socket handlers,
 * browser-style `session:mutate`), and the end-of-load convergence check. Every write puts a
 * distinct key, so "no acknowledged write is missing" is a lookup per write.
 *
 * Re-exports the other reliability helpers, so a suite imports from here.
 */
import { getIn, jsonEqual, type JsonObject } from '../../src/shared/index.js';
import type { Target } from './app-nodes.js';
import { Jar } from './http.js';
import { LoadClient } from './mirror.js';
import { Visitor } from './visitor.js';
import { inBatches, sleep, until, visible, type Capture } from './reliability.js';

export { Jar };
export * from './app-nodes.js';
export * from './local-server.js';
export * from './mirror.js';
export * from './reliability.js';
export * from './visitor.js';

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
