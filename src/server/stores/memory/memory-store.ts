/**
 * The embedded default store: every session in this process's memory. Sessions are kept
 * small (benchmarked against express-session's MemoryStore): see `SessionTable` for the
 * layout; history and mutation ids live beside it only for sessions that change.
 */
import {
  applyOps,
  MUTATION_MEMORY,
  SessionSyncError,
  utf8Length,
  type EndReason,
  type JsonObject,
  type Op,
} from '../../../shared/index.js';
import { MutationMemory, PatchHistory } from './history.js';
import { SessionTable } from './table.js';
import type {
  ApplyOptions,
  ApplyResult,
  DestroyOptions,
  SessionStore,
  StoredPatch,
  StoredSession,
  StoreEvent,
  UserSession,
} from '../store.js';
import { logger, warn } from '../../log.js';

const debug = logger('memory-store');

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

// The user index keys by string; a numeric id (`user.id` = 42) is indexed as '42'.
function userString(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

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
  private readonly table = new SessionTable();
  private readonly users = new Map<string, Set<string>>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private readonly history: PatchHistory;
  private readonly mutations = new MutationMemory(MUTATION_MEMORY);
  private readonly max: number;
  private readonly forgetAfter: number;
  private readonly now: () => number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private warnedFull = false;

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
    this.forgetAfter = positive('forgetAfter', options.forgetAfter, 15 * 60_000, true);
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new TypeError('session-sync: MemoryStore option "now" must be a function');
    }
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => this.sweep(), sweepInterval);
    this.timer.unref();
  }

  /**
   * Sessions held, counting expired ones not yet swept.
   *
   * @returns the count
   */
  get size(): number {
    return this.table.size;
  }

  /**
   * The session, or undefined when there is none; an expired one is removed now.
   *
   * @param id - the session id
   * @returns a copy of the data, the version and the user
   */
  async get(id: string): Promise<StoredSession | undefined> {
    const slot = this.live(id, this.now());
    if (slot < 0) return undefined;
    const found: StoredSession = {
      data: JSON.parse(this.table.text(slot)) as JsonObject,
      version: this.table.version(slot),
    };
    const user = this.table.user(slot);
    if (user !== undefined) found.user = user;
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
    const now = this.now();
    const table = this.table;
    let slot = this.live(id, now);
    const { mutation } = options;
    if (slot >= 0 && mutation !== undefined) {
      const first = this.mutations.answer(id, mutation);
      if (first !== undefined) {
        this.renew(id, slot, now, options.ttl);
        return { version: first, ops: [], changed: false, duplicate: true };
      }
    }
    const before: JsonObject = slot >= 0 ? (JSON.parse(table.text(slot)) as JsonObject) : {};
    const { data, changed } = applyOps(before, ops);
    if (!changed) {
      // Activity all the same; but no record for a visitor whose write changed nothing.
      if (slot < 0) return { version: 0, ops: [...ops], changed: false };
      this.renew(id, slot, now, options.ttl);
      if (mutation !== undefined) this.mutations.remember(id, mutation, table.version(slot));
      return { version: table.version(slot), ops: [...ops], changed: false };
    }
    const text = JSON.stringify(data);
    const { maxSize } = options;
    // UTF-8 needs at most 3 bytes per UTF-16 unit: short texts skip the count.
    if (maxSize !== undefined && text.length * 3 > maxSize && utf8Length(text) > maxSize) {
      throw new SessionSyncError('too_large', `session-sync: the session would be larger than ${maxSize} bytes`);
    }
    const user = options.user ? userString(options.user(data)) : undefined;

    // Nothing below throws: the change is committed whole.
    if (slot < 0) {
      this.makeRoom(now);
      slot = table.add(id, text, now + options.absolute);
    }
    const base = table.version(slot);
    const version = base + 1;
    table.write(slot, text, version);
    this.renew(id, slot, now, options.ttl);
    if (options.user) this.index(id, slot, user);
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
    const slot = this.live(id, this.now());
    if (slot < 0) return undefined;
    const current = this.table.version(slot);
    if (!Number.isInteger(version) || version < 0 || version > current) return undefined;
    if (version === current) return [];
    return this.history.since(id, version, current);
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
    const slot = this.live(id, this.now());
    if (slot >= 0) this.remove(id, slot);
    const event: StoreEvent = { type: 'end', id, reason };
    if (options.announceAfter) {
      const announce = (): void => this.publish(event);
      Promise.resolve(options.announceAfter).then(announce, announce);
    } else {
      this.publish(event);
    }
    return slot >= 0;
  }

  /**
   * Refreshes the idle lifetime (never past the absolute one); nothing when there is no record.
   *
   * @param id - the session id
   * @param ttl - idle lifetime in ms from now
   */
  async touch(id: string, ttl: number): Promise<void> {
    const now = this.now();
    const slot = this.live(id, now);
    if (slot >= 0) this.renew(id, slot, now, ttl);
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
    const now = this.now();
    const out: UserSession[] = [];
    for (const id of [...ids]) {
      const slot = this.live(id, now);
      if (slot >= 0) out.push({ id, version: this.table.version(slot), lastActive: this.table.active(slot) });
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
    const now = this.now();
    const table = this.table;
    let removed = 0;
    for (const [id, slot] of table.entries()) {
      if (now >= table.expires(slot)) {
        this.expire(id, slot);
        removed++;
      } else if (now - table.active(slot) >= this.forgetAfter) {
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

  /** The slot when the session is live (-1 when not); an expired one is removed and announced on the spot. */
  private live(id: string, now: number): number {
    const slot = this.table.find(id);
    if (slot >= 0 && now >= this.table.expires(slot)) {
      this.expire(id, slot);
      return -1;
    }
    return slot;
  }

  /** Activity: idle deadline = now + ttl, never past the absolute one. */
  private renew(id: string, slot: number, now: number, ttl: number): void {
    this.table.renew(id, slot, now, Math.min(now + ttl, this.table.deadline(slot)));
  }

  private makeRoom(now: number): void {
    while (this.table.size >= this.max) {
      const [id, slot] = this.table.oldest()!;
      if (now >= this.table.expires(slot)) {
        this.expire(id, slot);
        continue;
      }
      if (!this.warnedFull) {
        this.warnedFull = true;
        warn(
          `MemoryStore holds its maximum of ${this.max} sessions and now evicts the longest-idle ones; raise "max" or use RedisStore`,
        );
      }
      this.remove(id, slot);
      this.publish({ type: 'end', id, reason: 'evicted' });
    }
  }

  /** Moves a session between user sets (`user` undefined: it belongs to no one). */
  private index(id: string, slot: number, user: string | undefined): void {
    const previous = this.table.user(slot);
    if (previous === user) return;
    if (previous !== undefined) this.unindex(id, previous);
    this.table.setUser(slot, user);
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

  private remove(id: string, slot: number): void {
    const user = this.table.user(slot);
    this.table.remove(id, slot);
    if (user !== undefined) this.unindex(id, user);
    this.history.forget(id);
    this.mutations.forget(id);
  }

  private expire(id: string, slot: number): void {
    this.remove(id, slot);
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
