/**
 * The embedded default store: every session in this process's memory. Sessions are kept
 * small (benchmarked against express-session's MemoryStore): one Map entry per session,
 * the data as JSON text, times as small integers; history and mutation ids live beside it
 * only for sessions that change.
 */
import {
  applyOps,
  MUTATION_MEMORY,
  SessionSyncError,
  utf8Length,
  type EndReason,
  type JsonObject,
  type Op,
} from '../shared/index.js';
import { MutationMemory, PatchHistory } from './memory-history.js';
import type {
  ApplyOptions,
  ApplyResult,
  DestroyOptions,
  SessionStore,
  StoredPatch,
  StoredSession,
  StoreEvent,
  UserSession,
} from './store.js';
import { logger, warnOnce } from './warn.js';

const debug = logger('memory-store');

// Times are kept in ticks of 10 ms since the store started: integers below 2^31 (V8 Smis,
// stored inline) for 248 days of uptime, where epoch milliseconds would each be a boxed
// heap number. Expiry is never early and at most one tick late.
const TICK = 10;

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most sessions kept; a new one past it evicts the longest-idle session (its mirrors get
   * `session:ended { reason: 'evicted' }`, and a warning is printed once). Default 100 000
   * (about 20 MB of small sessions); `Infinity` for no bound.
   */
  max?: number;
  /** How often expired sessions are swept, in ms (an unref'd timer). Default 60 000. */
  sweepInterval?: number;
  /** Patches kept per session for `since` (reconnecting mirrors). Default 32. */
  history?: number;
  /** Patches kept over all sessions; the least recently changed sessions lose theirs first. Default 4096. */
  historyTotal?: number;
  /**
   * After this many ms without activity a session's patch history and remembered mutation
   * ids are dropped (a mirror coming back later gets the full data instead). Default 15 min.
   */
  forgetAfter?: number;
  /** The clock in epoch ms. For tests. Default `Date.now`. */
  now?: () => number;
}

// One per session. Six fields, all inline: the class keeps them in-object.
class SessionRecord {
  constructor(
    /** The data as JSON text: smaller than the object, and every `get` hands out a copy. */
    public text: string,
    public version: number,
    /** Ticks: last write or touch. */
    public active: number,
    /** Ticks: idle deadline, never past `deadline`. */
    public expires: number,
    /** Ticks: absolute deadline. */
    public deadline: number,
    public user: string | undefined,
  ) {}
}

function positive(name: string, value: unknown, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (allowZero ? value >= 0 : value > 0) &&
    (Number.isInteger(value) || value === Infinity);
  if (!ok)
    throw new TypeError(
      `session-sync: MemoryStore option "${name}" must be a ${allowZero ? 'non-negative' : 'positive'} integer`,
    );
  return value;
}

const userString = (value: unknown): string | undefined =>
  typeof value === 'string'
    ? value === ''
      ? undefined
      : value
    : typeof value === 'number' && Number.isFinite(value)
      ? String(value)
      : undefined;

/**
 * Sessions in this process's memory, with idle and absolute expiry, a `max` bound that
 * evicts the longest-idle session, patch history, mutation dedupe and a user index. For one
 * process; use `RedisStore` for more.
 *
 * @example
 * import { createSessionSync, MemoryStore } from 'session-sync'
 * const session = createSessionSync({ store: new MemoryStore({ max: 50_000 }) })
 */
export class MemoryStore implements SessionStore {
  // Insertion order = order of last activity (apply and touch move an entry to the end),
  // so the first entry is the longest idle: LRU eviction for the price of a delete + set.
  private readonly records = new Map<string, SessionRecord>();
  private readonly users = new Map<string, Set<string>>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private readonly history: PatchHistory;
  private readonly mutations = new MutationMemory(MUTATION_MEMORY);
  private readonly max: number;
  private readonly forgetTicks: number;
  private readonly now: () => number;
  private readonly origin: number;
  private timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param options - bounds, sweep interval, history sizes (all optional)
   * @throws TypeError naming a bad option
   */
  constructor(options: MemoryStoreOptions = {}) {
    if (options === null || typeof options !== 'object')
      throw new TypeError('session-sync: MemoryStore options must be an object');
    this.max = positive('max', options.max, 100_000);
    const sweepInterval = positive('sweepInterval', options.sweepInterval, 60_000);
    if (sweepInterval === Infinity)
      throw new TypeError('session-sync: MemoryStore option "sweepInterval" must be finite');
    this.history = new PatchHistory(
      positive('history', options.history, 32, true),
      positive('historyTotal', options.historyTotal, 4096, true),
    );
    this.forgetTicks = Math.ceil(positive('forgetAfter', options.forgetAfter, 15 * 60_000, true) / TICK);
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new TypeError('session-sync: MemoryStore option "now" must be a function');
    }
    this.now = options.now ?? Date.now;
    this.origin = this.now();
    this.timer = setInterval(() => this.sweep(), sweepInterval);
    this.timer.unref();
  }

  /**
   * Sessions held, counting expired ones not yet swept.
   *
   * @returns the count
   */
  get size(): number {
    return this.records.size;
  }

  /**
   * The session, or undefined when there is none; an expired one is removed now.
   *
   * @param id - the session id
   * @returns a copy of the data, the version and the user
   */
  async get(id: string): Promise<StoredSession | undefined> {
    const record = this.live(id, this.clock());
    if (!record) return undefined;
    const found: StoredSession = { data: JSON.parse(record.text) as JsonObject, version: record.version };
    if (record.user !== undefined) found.user = record.user;
    return found;
  }

  /**
   * Applies ops atomically (see {@link SessionStore.apply}); the change is stored and
   * published to every subscriber before the promise resolves.
   *
   * @param id - the session id
   * @param ops - the change
   * @param options - mutation id, user index, lifetimes, size limit
   * @returns the version, the ops as applied, whether anything changed
   * @throws SessionSyncError `invalid` or `too_large`; nothing is stored then
   */
  async apply(id: string, ops: readonly Op[], options: ApplyOptions): Promise<ApplyResult> {
    const ms = this.clock();
    let record = this.live(id, ms);
    const { mutation } = options;
    if (record && mutation !== undefined) {
      const first = this.mutations.answer(id, mutation);
      if (first !== undefined) {
        this.refresh(id, record, ms, options.ttl);
        return { version: first, ops: [], changed: false, duplicate: true };
      }
    }
    const before: JsonObject = record ? (JSON.parse(record.text) as JsonObject) : {};
    const { data, changed } = applyOps(before, ops);
    if (!changed) {
      // Activity all the same; but no record for a visitor whose write changed nothing.
      if (!record) return { version: 0, ops: [...ops], changed: false };
      this.refresh(id, record, ms, options.ttl);
      if (mutation !== undefined) this.mutations.remember(id, mutation, record.version);
      return { version: record.version, ops: [...ops], changed: false };
    }
    const text = JSON.stringify(data);
    const { maxSize } = options;
    // UTF-8 needs at most 3 bytes per UTF-16 unit: short texts skip the count.
    if (maxSize !== undefined && text.length * 3 > maxSize && utf8Length(text) > maxSize) {
      throw new SessionSyncError('too_large', `session-sync: the session would be larger than ${maxSize} bytes`);
    }
    const user = options.user ? userString(options.user(data)) : undefined;

    // Nothing below throws: the change is committed whole.
    if (!record) {
      this.makeRoom();
      const tick = Math.floor(ms / TICK);
      record = new SessionRecord(text, 0, tick, tick, Math.ceil((ms + options.absolute) / TICK), undefined);
    }
    const base = record.version;
    const version = base + 1;
    record.text = text;
    record.version = version;
    this.refresh(id, record, ms, options.ttl);
    if (options.user) this.index(id, record, user);
    if (mutation !== undefined) this.mutations.remember(id, mutation, version);
    // The feed carries what JSON carries (as from RedisStore), and no one else's objects.
    const applied = JSON.parse(JSON.stringify(ops)) as Op[];
    const patch: StoredPatch =
      mutation === undefined ? { version, base, ops: applied } : { version, base, ops: applied, mutation };
    this.history.append(id, patch);
    this.publish({ type: 'change', id, ...patch });
    return { version, ops: applied, changed: true };
  }

  /**
   * The patches after `version` (see {@link SessionStore.since}).
   *
   * @param id - the session id
   * @param version - the version the caller holds
   * @returns `[]` when current, the missed patches, or undefined when history does not reach back
   */
  async since(id: string, version: number): Promise<StoredPatch[] | undefined> {
    const record = this.live(id, this.clock());
    if (!record || !Number.isInteger(version) || version < 0 || version > record.version) return undefined;
    if (version === record.version) return [];
    return this.history.since(id, version, record.version);
  }

  /**
   * Removes the record at once and publishes `{ type: 'end', id, reason }` — after
   * `announceAfter` settles when given. The event is published even when there was no
   * record: mirrors may hold an id whose cookie went out before the first write.
   *
   * @param id - the session id
   * @param reason - why it ends
   * @param options - `announceAfter`
   * @returns whether there was a live record
   */
  async destroy(id: string, reason: EndReason, options: DestroyOptions = {}): Promise<boolean> {
    const record = this.live(id, this.clock());
    if (record) this.remove(id, record);
    const event: StoreEvent = { type: 'end', id, reason };
    if (options.announceAfter) {
      const announce = (): void => this.publish(event);
      Promise.resolve(options.announceAfter).then(announce, announce);
    } else {
      this.publish(event);
    }
    return record !== undefined;
  }

  /**
   * Refreshes the idle lifetime (never past the absolute one); nothing when there is no record.
   *
   * @param id - the session id
   * @param ttl - idle lifetime in ms from now
   */
  async touch(id: string, ttl: number): Promise<void> {
    const ms = this.clock();
    const record = this.live(id, ms);
    if (record) this.refresh(id, record, ms, ttl);
  }

  /**
   * The live sessions of a user.
   *
   * @param user - the user id (option `user`)
   * @returns `{ id, version, lastActive }` for each; `lastActive` in epoch ms
   */
  async sessionsOf(user: string): Promise<UserSession[]> {
    const ids = this.users.get(user);
    if (!ids) return [];
    const ms = this.clock();
    const out: UserSession[] = [];
    for (const id of [...ids]) {
      const record = this.live(id, ms);
      if (record) out.push({ id, version: record.version, lastActive: this.origin + record.active * TICK });
    }
    return out;
  }

  /**
   * Listens to every change and end, synchronously as they happen. A listener that throws
   * is logged (`DEBUG=session-sync:memory-store`) and does not disturb the store.
   *
   * @param listener - called with each event
   * @returns the unsubscribe
   */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    // A wrapper per call, so one function subscribed twice is two subscriptions.
    const entry = (event: StoreEvent): void => listener(event);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /**
   * Removes every expired session now, publishing `expired` for each, and drops the history
   * and mutation ids of sessions idle past `forgetAfter`. Runs on the sweep timer.
   *
   * @returns how many sessions were removed
   */
  sweep(): number {
    const tick = Math.floor(this.clock() / TICK);
    let removed = 0;
    for (const [id, record] of this.records) {
      if (tick >= record.expires) {
        this.expire(id, record);
        removed++;
      } else if (tick - record.active >= this.forgetTicks) {
        this.history.forget(id);
        this.mutations.forget(id);
      }
    }
    if (removed) debug('swept %d expired sessions', removed);
    return removed;
  }

  /**
   * Stops the sweep timer and drops every listener. The sessions stay readable.
   *
   * @returns when done
   */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  /** Ms since the store started. */
  private clock(): number {
    return this.now() - this.origin;
  }

  /** The record when it is live; an expired one is removed (and announced) on the spot. */
  private live(id: string, ms: number): SessionRecord | undefined {
    const record = this.records.get(id);
    if (record && Math.floor(ms / TICK) >= record.expires) {
      this.expire(id, record);
      return undefined;
    }
    return record;
  }

  private refresh(id: string, record: SessionRecord, ms: number, ttl: number): void {
    record.active = Math.floor(ms / TICK);
    record.expires = Math.min(Math.ceil((ms + ttl) / TICK), record.deadline);
    this.records.delete(id);
    this.records.set(id, record);
  }

  private makeRoom(): void {
    while (this.records.size >= this.max) {
      const [id, record] = this.records.entries().next().value!;
      if (Math.floor(this.clock() / TICK) >= record.expires) {
        this.expire(id, record);
        continue;
      }
      warnOnce(
        'memory-store-max',
        `MemoryStore holds its maximum of ${this.max} sessions and now evicts the longest-idle ones; raise "max" or use RedisStore`,
      );
      this.remove(id, record);
      this.publish({ type: 'end', id, reason: 'evicted' });
    }
  }

  /** Moves a session between user sets (`user` undefined: it belongs to no one). */
  private index(id: string, record: SessionRecord, user: string | undefined): void {
    if (record.user === user) return;
    if (record.user !== undefined) this.unindex(id, record.user);
    record.user = user;
    if (user === undefined) return;
    let ids = this.users.get(user);
    if (!ids) this.users.set(user, (ids = new Set()));
    ids.add(id);
  }

  private unindex(id: string, user: string): void {
    const ids = this.users.get(user);
    if (!ids) return;
    ids.delete(id);
    if (ids.size === 0) this.users.delete(user);
  }

  private remove(id: string, record: SessionRecord): void {
    this.records.delete(id);
    if (record.user !== undefined) this.unindex(id, record.user);
    this.history.forget(id);
    this.mutations.forget(id);
  }

  private expire(id: string, record: SessionRecord): void {
    this.remove(id, record);
    this.publish({ type: 'end', id, reason: 'expired' });
  }

  private publish(event: StoreEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        debug('a listener threw on %s of %s: %O', event.type, event.id, err);
      }
    }
  }
}
