/**
 * The state one `createSessionSync()` call owns: options, store, the live registry and the
 * change feed. The Express and Socket.IO layers are thin views over it.
 */
import { EventEmitter } from 'node:events';
import {
  SessionSyncError,
  applyOps,
  assertJson,
  isPlainObject,
  parseOps,
  type EndReason,
  type JsonObject,
  type JsonValue,
  type Op,
} from '../../shared/index.js';
import { readSessionId, serializeCookie, sign, tagOf } from './cookie.js';
import type { ResolvedOptions, ServerLimits } from '../options.js';
import { Registry } from './registry.js';
import type { ApplyResult, SessionStore, StoredPatch, StoreEvent } from '../stores/store.js';
import { logger } from '../log.js';

const debug = logger('core');

/** A committed change as `on('change')` reports it. */
export type SessionChange = StoredPatch;

/** Options of one commit. */
export interface CommitOptions {
  mutation?: string;
  /** Browser writes are held to the op-count limit; server code is trusted with more. */
  fromClient?: boolean;
}

/**
 * The shared state behind `express()`, `socketIO()` and the out-of-band API.
 *
 * @example
 * const core = new Core(resolveOptions({ secret }))
 */
export class Core extends EventEmitter {
  readonly store: SessionStore;
  readonly registry: Registry;
  private readonly unsubscribe: () => void;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly lastTouch = new Map<string, number>();
  private readonly cookieCache = new Map<string, string | undefined>();
  closed = false;

  /** @param options - resolved options */
  constructor(readonly options: ResolvedOptions) {
    super();
    this.store = options.store;
    this.registry = new Registry(this.store);
    this.serverLimits = { ...options.limits, ops: Number.MAX_SAFE_INTEGER };
    this.unsubscribe = this.store.subscribe((event) => this.onStoreEvent(event));
    // Start connecting now; a failure shows up on first use as store_unavailable.
    this.ready = Promise.resolve(this.store.ready?.()).catch((err: unknown) => debug('store not ready: %o', err));
  }

  // Server code is trusted with more than the browser's op count per change; made once, since
  // every commit is checked against it.
  private readonly serverLimits: ServerLimits;

  /** Resolves once the store's change feed listens (see SessionStore.ready). */
  readonly ready: Promise<void>;

  private onStoreEvent(event: StoreEvent): void {
    this.registry.onEvent(event);
    if (event.type === 'change') {
      const change: SessionChange = { version: event.version, base: event.base, ops: event.ops };
      if (event.mutation !== undefined) change.mutation = event.mutation;
      this.emit('change', event.id, change);
    } else {
      this.emit('end', event.id, event.reason);
    }
    this.emit('event', event);
  }

  /**
   * The verified session id of a `Cookie` header. Verified values are cached (bounded), so
   * a busy visitor's cookie is not HMAC'd on every request.
   *
   * @param header - the raw header
   * @returns the id, or undefined
   */
  readId(header: string | string[] | undefined): string | undefined {
    if (header === undefined) return undefined;
    if (typeof header === 'string') {
      const cached = this.cookieCache.get(header);
      if (cached !== undefined || this.cookieCache.has(header)) return cached;
    }
    const id = readSessionId(header, this.options.cookie.name, this.options.secrets);
    if (typeof header === 'string' && header.length < 1024) {
      if (this.cookieCache.size >= 10_000) this.cookieCache.delete(this.cookieCache.keys().next().value!);
      this.cookieCache.set(header, id);
    }
    return id;
  }

  /**
   * The `Set-Cookie` value for an id, or its clearing.
   *
   * @param id - the id, or null to clear
   * @param secure - whether the request is HTTPS
   * @returns the header value
   */
  cookieFor(id: string | null, secure: boolean): string {
    return serializeCookie(this.options.cookie, id === null ? null : sign(id, this.options.secrets[0]!), secure);
  }

  /** The tag of an id: the first 22 characters of base64url(SHA-256(`"session-sync/tag/" + id`)). */
  tagOf(id: string): string {
    return tagOf(id);
  }

  /**
   * Checks ops written by server code: JSON only (a `TypeError` naming the path) and the
   * limits (`too_large` / `invalid`).
   *
   * @param ops - the ops
   * @param fromClient - hold them to the op-count limit too
   * @returns the checked ops
   */
  checkOps(ops: readonly Op[], fromClient = false): Op[] {
    for (const op of ops) if (op.op === 'set') assertJson(op.value, op.path);
    const parsed = parseOps(ops, fromClient ? this.options.limits : this.serverLimits);
    if (!parsed.ok) throw new SessionSyncError(parsed.code, `session-sync: ${parsed.message}`);
    return parsed.value;
  }

  /**
   * Commits ops to a session: checked, applied atomically by the store to its current
   * data (never a whole-object save), published, and recorded in the live registry.
   *
   * @param id - the session id
   * @param ops - the change
   * @param options - mutation id, origin
   * @returns the store's answer
   * @throws TypeError for non-JSON values; SessionSyncError for limits and store failures
   */
  async commit(id: string, ops: readonly Op[], options: CommitOptions = {}): Promise<ApplyResult> {
    const checked = this.checkOps(ops, options.fromClient);
    const { ttl, absolute, limits, user } = this.options;
    const applyOptions: Parameters<SessionStore['apply']>[2] = { ttl, absolute, maxSize: limits.size };
    if (options.mutation !== undefined) applyOptions.mutation = options.mutation;
    if (user) applyOptions.user = user;
    const work = this.store.apply(id, checked, applyOptions).then(
      (result) => {
        if (result.changed) this.registry.applied(id, result.version - 1, result.version, result.ops);
        this.touched(id);
        return result;
      },
      (err: unknown) => {
        throw wrapStoreError(err);
      },
    );
    this.inflight.add(work);
    const done = (): void => void this.inflight.delete(work);
    work.then(done, done);
    return work;
  }

  /**
   * Counts activity of a session (an HTTP request, a socket message) by refreshing its idle
   * lifetime, at most once per `ttl / 100` (and per minute at most) per session.
   *
   * @param id - the session id
   */
  touch(id: string): void {
    const now = Date.now();
    const last = this.lastTouch.get(id);
    if (last !== undefined && now - last < Math.min(this.options.ttl / 100, 60_000)) return;
    this.touched(id, now);
    this.store.touch(id, this.options.ttl).catch((err: unknown) => debug('touch of %s failed: %o', id, err));
  }

  private touched(id: string, now = Date.now()): void {
    if (this.lastTouch.size >= 10_000) this.lastTouch.delete(this.lastTouch.keys().next().value!);
    this.lastTouch.delete(id);
    this.lastTouch.set(id, now);
  }

  /**
   * Ends a session everywhere: record gone, every mirror told.
   *
   * @param id - the session id
   * @param reason - why
   * @param announceAfter - tell the mirrors only once this settles
   * @returns true when there was a record
   */
  async destroy(id: string, reason: EndReason, announceAfter?: PromiseLike<unknown>): Promise<boolean> {
    try {
      return await this.store.destroy(id, reason, announceAfter ? { announceAfter } : undefined);
    } catch (err) {
      throw wrapStoreError(err);
    }
  }

  /** Waits for every commit in flight. */
  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Stops the feed and closes the store when this instance created it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.settle();
    this.unsubscribe();
    if (this.options.ownsStore) await this.store.close();
  }
}

/**
 * Store failures that are not ours to explain become `store_unavailable`.
 *
 * @param err - what the store threw
 * @returns an error with a code
 */
export function wrapStoreError(err: unknown): Error {
  if (err instanceof SessionSyncError || err instanceof TypeError) return err;
  return new SessionSyncError(
    'store_unavailable',
    `session-sync: the session store failed: ${(err as Error)?.message ?? err}`,
    {
      cause: err,
    },
  );
}

const merged = new WeakMap<JsonObject, WeakMap<JsonObject, JsonObject>>();

/**
 * Fills keys missing from `data` with `defaults`, recursively through plain objects, without
 * copying when nothing is missing. Cached per (defaults, data) pair.
 *
 * @param data - the session data
 * @param defaults - the middleware's defaults
 * @returns data with defaults filled in
 * @example
 * withDefaults({ a: 1 }, { a: 0, cart: [] }) // { a: 1, cart: [] }
 */
export function withDefaults(data: JsonObject, defaults: JsonObject): JsonObject {
  if (Object.keys(defaults).length === 0) return data;
  let byData = merged.get(defaults);
  if (!byData) merged.set(defaults, (byData = new WeakMap()));
  const hit = byData.get(data);
  if (hit) return hit;
  const fill = (d: JsonObject, f: JsonObject): JsonObject => {
    let out: JsonObject | undefined;
    for (const key of Object.keys(f)) {
      const have = d[key];
      let value: JsonValue | undefined;
      if (!Object.prototype.hasOwnProperty.call(d, key)) value = f[key];
      else if (isPlainObject(have) && isPlainObject(f[key])) {
        const inner = fill(have, f[key] as JsonObject);
        if (inner !== have) value = inner;
      }
      if (value !== undefined) (out ??= { ...d })[key] = value;
    }
    return out ?? d;
  };
  const result = fill(data, defaults);
  byData.set(data, result);
  return result;
}

/**
 * Applies in-flight ops over committed data for reads (cheap when there are none).
 *
 * @param data - committed data
 * @param batches - ops sent to the store and not yet acknowledged
 * @returns the data as it will be once they land
 */
export function overlay(data: JsonObject, batches: readonly (readonly Op[])[]): JsonObject {
  let out = data;
  for (const ops of batches) {
    try {
      out = applyOps(out, ops).data;
    } catch {
      // The store will refuse this batch as invalid; reads just do not show it.
    }
  }
  return out;
}
