/**
 * The state one `createSessionSync()` call owns: options, store, cookies, the live registry
 * and the change feed. The Express and Socket.IO layers are thin views over it.
 *
 * The feed is consumed in a fixed, readable order: the registry first (so reads are current),
 * then the consumers added with `consume()` in the order they were added (the socket side),
 * then the public `'change'` / `'end'` events.
 */
import { EventEmitter } from 'node:events';
import {
  assertJson,
  isErrorCode,
  parseOpsShape,
  SessionSyncError,
  type EndReason,
  type Op,
} from '../../shared/index.js';
import type { ResolvedOptions, ServerLimits } from '../options.js';
import type {
  ApplyOptions,
  ApplyResult,
  DestroyOptions,
  SessionStore,
  StoredPatch,
  StoredSession,
  StoreEvent,
  WriteCondition,
  CheckedChange,
} from '../stores/store.js';
import { TIMES } from '../stores/store.js';
import { logger, warn, warnOnce } from '../log.js';
import { Cookies, tagOf, type SignedId } from './cookie.js';
import { DeviceNotes, type DeviceSource } from './device-notes.js';
import { Registry, type LiveSession } from './registry.js';
import { recordLimit, writeCheck } from './write-checks.js';

const debug = logger('core');

/** A committed change as `on('change')` reports it. */
export type SessionChange = StoredPatch;

/** Options of one commit. */
export interface CommitOptions {
  /** When the write may land; see `WriteCondition`. */
  when: WriteCondition;
  mutation?: string;
  /** A browser write: the op-count limit, the visible size only, and `clientWritable`'s validators. */
  fromClient?: boolean;
  /** What the request or handshake behind the write says about the client (its device note). */
  device?: DeviceSource;
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
  readonly cookies: Cookies;
  private readonly consumers: ((event: StoreEvent) => void)[] = [];
  private readonly unsubscribe: () => void;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly lastTouch = new Map<string, number>();
  // When each session's device note was last sent (at most once per ttl / 100).
  private readonly deviceNotes: DeviceNotes;
  // Server code is trusted with more than the browser's op count per change, and its values
  // are bounded by the whole record: visible and server-only sizes are judged each on its
  // own inside the apply, so one change may fill both (a 40 KiB token beside 40 KiB of page).
  private readonly serverLimits: ServerLimits;
  // The check of every server write: sizes only, the same for every change.
  private readonly serverCheck: (change: CheckedChange) => void | Promise<void>;
  private ignoredChecks = false;
  // The store's `applySync`, when it may be called in place of `apply`.
  private readonly applySync: SessionStore['applySync'];
  closed = false;

  /** Resolves once the store's change feed listens (see SessionStore.ready). */
  readonly ready: Promise<void>;

  /** @param options - resolved options */
  constructor(readonly options: ResolvedOptions) {
    super();
    this.store = options.store;
    this.registry = new Registry(this.store, options.absolute, syncTwin(this.store, 'get', 'getSync'));
    this.applySync = syncTwin(this.store, 'apply', 'applySync');
    this.cookies = new Cookies(options.cookie, options.secrets);
    this.serverLimits = {
      ...options.limits,
      ops: Number.MAX_SAFE_INTEGER,
      size: options.limits.size + options.limits.serverSize,
    };
    this.serverCheck = writeCheck(options, '', [], false);
    this.deviceNotes = new DeviceNotes(options.ttl / 100);
    this.unsubscribe = this.store.subscribe((event) => this.onStoreEvent(event));
    // Start connecting now; a failure shows up on first use as store_unavailable.
    this.ready = Promise.resolve(this.store.ready?.()).catch((err: unknown) => debug('store not ready: %o', err));
  }

  /**
   * Adds a consumer of the store's feed, called after the registry has the event and before
   * the public events, in the order consumers were added.
   *
   * @param consumer - called with every event
   */
  consume(consumer: (event: StoreEvent) => void): void {
    this.consumers.push(consumer);
  }

  private onStoreEvent(event: StoreEvent): void {
    this.registry.onEvent(event);
    for (const consumer of this.consumers) {
      try {
        consumer(event);
      } catch (err) {
        debug('a feed consumer failed on %s of %s: %o', event.type, event.id, err);
      }
    }
    if (event.type === 'change') {
      if (this.listenerCount('change') === 0) return; // nothing to build the public event for
      const change: SessionChange = { version: event.version, base: event.base, ops: event.ops };
      if (event.mutation !== undefined) change.mutation = event.mutation;
      this.emit('change', event.id, change);
    } else {
      this.emit('end', event.id, event.reason);
    }
  }

  /** The tag of an id: safe to show the browser. */
  tagOf(id: string): string {
    return tagOf(id);
  }

  /**
   * Checks ops written by server code: their shape and the limits on keys and depth
   * (`invalid` / `too_large`), and JSON only (a `TypeError` naming the path). Sizes are
   * judged inside the store's apply, on the data after the change. A browser's ops were
   * checked by the protocol's guard already, with the browser's limits, and pass as they are.
   *
   * @param ops - the ops
   * @param fromClient - ops from `parseMutate`
   * @returns the checked ops
   */
  checkOps(ops: readonly Op[], fromClient = false): Op[] {
    if (fromClient) return ops as Op[];
    const parsed = parseOpsShape(ops, this.serverLimits);
    if (parsed.ok) return parsed.value;
    // One walk when all is well; on a refusal, the TypeError that names the path comes first.
    if (Array.isArray(ops)) for (const op of ops) if (op?.op === 'set') assertJson(op.value, op.path);
    throw new SessionSyncError(parsed.code, `session-sync: ${parsed.message}`);
  }

  /**
   * Commits ops to a session: checked, applied atomically by the store to its current data
   * (never a whole-object save) under the write's condition and judged there, published,
   * and recorded in the live registry.
   *
   * @param id - the session id
   * @param ops - the change
   * @param options - condition, mutation id, origin
   * @returns the store's answer
   * @throws TypeError for non-JSON values; SessionSyncError for limits, refusals (`ended`,
   *   `forbidden`) and store failures
   */
  commit(id: string, ops: readonly Op[], options: CommitOptions): Promise<ApplyResult> {
    try {
      return Promise.resolve(this.commitSync(id, ops, options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * {@link Core.commit}, answered at once when the store can (`applySync`): the answer (or a
   * throw) synchronously, so a request can end in the same tick; a promise otherwise.
   *
   * @param id - the session id
   * @param ops - the change
   * @param options - condition, mutation id, origin
   * @returns the store's answer, or its promise
   * @throws as {@link Core.commit} rejects
   */
  commitSync(id: string, ops: readonly Op[], options: CommitOptions): ApplyResult | Promise<ApplyResult> {
    if (this.ignoredChecks) throw ignoredChecksError();
    const checked = this.checkOps(ops, options.fromClient);
    const fromClient = options.fromClient === true;
    const judge = fromClient ? writeCheck(this.options, id, checked, true) : this.serverCheck;
    const judged = { called: false };
    const applyOptions: ApplyOptions = {
      ttl: this.options.ttl,
      absolute: this.options.absolute,
      maxSize: recordLimit(this.options, fromClient),
      when: options.when,
      check: (change) => {
        judged.called = true;
        return judge(change);
      },
    };
    if (options.mutation !== undefined) applyOptions.mutation = options.mutation;
    if (this.options.user) applyOptions.user = this.options.user;
    const device = this.deviceNotes.take(id, options.device);
    if (device) applyOptions.device = device;
    const failed = (err: unknown): never => {
      if (device) this.deviceNotes.unmark(id);
      throw wrapStoreError(err);
    };
    let answer: ApplyResult | Promise<ApplyResult>;
    try {
      answer = this.applySync ? this.applySync(id, checked, applyOptions) : this.store.apply(id, checked, applyOptions);
    } catch (err) {
      return failed(err);
    }
    if (!(answer instanceof Promise)) return this.applied(id, answer, judged.called, device !== undefined);
    const work = answer.then((result) => this.applied(id, result, judged.called, device !== undefined), failed);
    this.inflight.add(work);
    const done = (): void => void this.inflight.delete(work);
    work.then(done, done);
    return work;
  }

  // The store's answer, taken into this node's view of the session.
  private applied(id: string, result: ApplyResult, judged: boolean, noted: boolean): ApplyResult {
    // No record was left to hold the note: the next write carries it.
    if (noted && result.version === 0) this.deviceNotes.unmark(id);
    // A store that never calls `check` would let unvalidated writes in: stop all writes.
    if (result.changed && !judged) {
      this.ignoredChecks = true;
      warn(ignoredChecksError().message);
      throw ignoredChecksError();
    }
    if (result.changed) this.registry.applied(id, result.version - 1, result.version, result.ops, result[TIMES]);
    else this.registry.times(id, result[TIMES]);
    this.touched(id);
    return result;
  }

  /**
   * Counts activity of a session (an HTTP request, a socket message) by refreshing its idle
   * lifetime, at most once per `ttl / 100` (and per minute at most) per session; the device
   * note goes along when one is due (at most once per `ttl / 100`).
   *
   * @param id - the session id
   * @param device - makes the device note of the request or handshake at hand
   */
  touch(id: string, device?: DeviceSource): void {
    const now = Date.now();
    if (!this.touchDue(id, now)) return;
    this.touched(id, now);
    this.registry.renewed(id, now + this.options.ttl);
    const note = this.deviceNotes.take(id, device, now);
    const touching = note
      ? this.store.touch(id, this.options.ttl, { device: note })
      : this.store.touch(id, this.options.ttl);
    touching.catch((err: unknown) => debug('touch of %s failed: %o', id, err));
  }

  /**
   * Whether activity of a session would renew its lifetime now ({@link Core.touch} is
   * throttled): lets a caller skip finding out whether the session exists.
   *
   * @param id - the session id
   * @param now - epoch ms
   * @returns true when a touch is due
   */
  touchDue(id: string, now = Date.now()): boolean {
    const last = this.lastTouch.get(id);
    return last === undefined || now - last >= Math.min(this.options.ttl / 100, 60_000);
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
   * @param issued - when the id's cookie was issued (epoch ms; 0 unknown), so an id that never
   *   had a record is dead too: no first write may adopt it afterwards
   * @returns true when there was a record
   */
  async destroy(id: string, reason: EndReason, announceAfter?: PromiseLike<unknown>, issued = 0): Promise<boolean> {
    try {
      return await this.store.destroy(id, reason, this.destroyOptions(announceAfter, issued));
    } catch (err) {
      throw wrapStoreError(err);
    }
  }

  private destroyOptions(announceAfter: PromiseLike<unknown> | undefined, issued: number): DestroyOptions | undefined {
    const options: DestroyOptions = {};
    if (announceAfter) options.announceAfter = announceAfter;
    if (issued > 0) options.adoptableUntil = issued + Math.min(this.options.ttl, this.options.absolute);
    return options.announceAfter || options.adoptableUntil ? options : undefined;
  }

  /**
   * Ends a session and answers what it held, in one step where the store can (MemoryStore,
   * RedisStore: no write lands between the read and the end); a store without `take` reads
   * then destroys.
   *
   * @param id - the session id
   * @param reason - why
   * @param announceAfter - tell the mirrors only once this settles
   * @param issued - when the id's cookie was issued (see {@link Core.destroy})
   * @returns the record as it was, or undefined
   */
  async take(
    id: string,
    reason: EndReason,
    announceAfter?: PromiseLike<unknown>,
    issued = 0,
  ): Promise<StoredSession | undefined> {
    const store = this.store as SessionStore & {
      take?: (id: string, reason: EndReason, options?: DestroyOptions) => Promise<StoredSession | undefined>;
    };
    const options = this.destroyOptions(announceAfter, issued);
    try {
      if (store.take) return await store.take(id, reason, options);
      const found = await store.get(id);
      await store.destroy(id, reason, options);
      return found;
    } catch (err) {
      throw wrapStoreError(err);
    }
  }

  /**
   * Whether the id a visitor presents is dead: neither live nor adoptable by a first write.
   *
   * @param entry - its live entry (as loaded)
   * @param issued - when its cookie was issued, epoch ms (0: unknown)
   * @returns why it ended (`'expired'` when no reason is known), or undefined when it is
   *   live or may still be adopted
   * @throws SessionSyncError `store_unavailable`
   */
  async deadReason(entry: LiveSession, issued: number): Promise<EndReason | undefined> {
    if (entry.version > 0) return undefined;
    if (entry.ended) return entry.ended;
    if (Date.now() >= issued + Math.min(this.options.ttl, this.options.absolute)) return 'expired';
    try {
      return await this.store.endOf?.(entry.id);
    } catch (err) {
      throw wrapStoreError(err);
    }
  }

  /**
   * A failed commit that no caller took charge of (a write after the response was sent, a
   * socket handler that never awaited `synchronize()`): `sync.on('error')` gets it when
   * someone listens; otherwise it is printed once per kind — never an EventEmitter 'error'
   * without a listener, which would throw and end the process.
   *
   * @param error - what failed
   * @param kind - `'late-commit'` or `'socket-commit'`, for the printed warning
   */
  reportLost(error: unknown, kind: 'late-commit' | 'socket-commit'): void {
    debug('%s failed with nobody to tell: %o', kind, error);
    if (this.listenerCount('error') > 0) return void this.emit('error', error);
    const why = (error as Error)?.message ?? String(error);
    warnOnce(
      kind,
      kind === 'late-commit'
        ? `a session change made after the response was sent could not be committed (listen with sync.on('error') to see each one): ${why}`
        : `a change made in a socket handler was not stored: ${why}`,
    );
  }

  /**
   * Whether the id a handshake presents is dead: no live record, and not adoptable (its
   * window has passed, or it had a record that ended).
   *
   * @param signed - the cookie's id and issue time
   * @returns true when the visitor needs a fresh id
   * @throws SessionSyncError `store_unavailable`
   */
  async presentedDead(signed: SignedId): Promise<boolean> {
    const live = this.registry.peek(signed.id);
    if (live && live.version > 0) return false;
    try {
      if (await this.store.get(signed.id)) return false;
      if (Date.now() >= signed.issued + Math.min(this.options.ttl, this.options.absolute)) return true;
      return (await this.store.endOf?.(signed.id)) !== undefined;
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
 * A store's synchronous twin of an async method (`applySync` of `apply`, `getSync` of `get`),
 * only where both come from the same place: a wrapper or subclass that overrides `apply` and
 * not `applySync` must still be called through its `apply`.
 *
 * @param store - the store
 * @param name - the async method
 * @param twin - its synchronous twin
 * @returns the twin bound to the store, or undefined
 * @example
 * const applySync = syncTwin(store, 'apply', 'applySync')
 */
export function syncTwin<K extends 'applySync' | 'getSync'>(
  store: SessionStore,
  name: 'apply' | 'get',
  twin: K,
): SessionStore[K] | undefined {
  if (typeof store[twin] !== 'function') return undefined;
  let owner: object | null = store;
  while (owner && !Object.prototype.hasOwnProperty.call(owner, twin)) owner = Object.getPrototypeOf(owner);
  if (!owner || (owner as SessionStore)[name] !== store[name]) return undefined;
  return (store[twin] as (...args: never[]) => unknown).bind(store) as SessionStore[K];
}

function ignoredChecksError(): SessionSyncError {
  return new SessionSyncError(
    'internal',
    'session-sync: the session store ignored the "check" option of apply(), so writes would not be validated; every write is refused until it calls it (see SessionStore.apply)',
  );
}

/**
 * Store failures that are not ours to explain become `store_unavailable`.
 *
 * @param err - what the store threw
 * @returns an error with a code
 */
export function wrapStoreError(err: unknown): Error {
  if (err instanceof SessionSyncError || err instanceof TypeError) return err;
  // A store from another copy of this package (the CommonJS and ES builds side by side) throws
  // its own SessionSyncError class: its code is ours all the same.
  const foreign = err as { name?: unknown; code?: unknown; message?: unknown } | null;
  if (foreign?.name === 'SessionSyncError' && isErrorCode(foreign.code)) {
    return new SessionSyncError(foreign.code, String(foreign.message), { cause: err });
  }
  return new SessionSyncError(
    'store_unavailable',
    `session-sync: the session store failed: ${(err as Error)?.message ?? err}`,
    {
      cause: err,
    },
  );
}
