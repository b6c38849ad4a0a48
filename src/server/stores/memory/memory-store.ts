/**
 * The embedded default store: every session in this process's memory. Records are kept
 * small (benchmarked against express-session's MemoryStore): JSON text in `SessionTable`'s
 * columns, and the sessions in use also parsed (`HotData`), so a busy one is not parsed on
 * every request; history and mutation ids live beside them only for sessions that change.
 * The store is bounded in sessions (`max`) and in bytes (`maxBytes`), so a flood of writers
 * evicts the longest-idle sessions instead of exhausting the heap. Everything happens at once
 * (`applySync`, `getSync`), but for an asynchronous `check`, which holds the session's later
 * applies until it is decided.
 */
import {
  applyOps,
  cloneJson,
  cloneOps,
  MUTATION_MEMORY,
  type EndReason,
  type JsonObject,
  type Op,
} from '../../../shared/index.js';
import { logger, warn } from '../../log.js';
import {
  adoptionWindow,
  assertMayCreate,
  assertSize,
  duplicateAnswer,
  endedError,
  KeyedQueue,
  runCheck,
  userAfter,
  withEpoch,
  withTimes,
} from '../common.js';
import {
  DATA,
  type ApplyOptions,
  type ApplyResult,
  type DestroyOptions,
  type DeviceNote,
  type SessionStore,
  type StoredPatch,
  type StoredSession,
  type StoreEvent,
  type TouchOptions,
  type UserSession,
} from '../store.js';
import { BORN_MARK_BYTES, BornMarks } from './born.js';
import { MutationMemory, PatchHistory } from './history.js';
import { readMemoryOptions, type MemoryStoreOptions, type MemoryStoreSettings } from './options.js';
import { Listeners } from './listeners.js';
import { Records } from './records.js';

export type { MemoryStoreOptions };

const debug = logger('memory-store');

/**
 * Sessions in this process's memory, with idle and absolute expiry, bounds in sessions and
 * bytes that evict the longest-idle session, patch history, mutation dedupe, a user index
 * and the lifecycle rules (an ended id never gets a record again). For one process; use
 * `RedisStore` for more.
 *
 * @example
 * import { createSessionSync, MemoryStore } from 'session-sync'
 * const session = createSessionSync({ store: new MemoryStore({ max: 50_000 }) })
 */
export class MemoryStore implements SessionStore {
  private readonly records = new Records();
  private readonly table = this.records.table;
  private readonly listeners = new Listeners();
  private readonly history: PatchHistory;
  private readonly mutations = new MutationMemory(MUTATION_MEMORY);
  private readonly born = new BornMarks();
  // Applies waiting behind one whose asynchronous `check` is running, per session.
  private readonly queue = new KeyedQueue();
  private readonly settings: MemoryStoreSettings;
  private readonly now: () => number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private warnedFull = false;

  /**
   * @param options - bounds, sweep interval, history sizes (all optional)
   * @throws TypeError naming a bad option
   */
  constructor(options: MemoryStoreOptions = {}) {
    this.settings = readMemoryOptions(options);
    this.history = new PatchHistory(this.settings.history, this.settings.historyTotal);
    this.now = this.settings.now;
    this.timer = setInterval(() => this.sweep(), this.settings.sweepInterval);
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
   * The heap bytes the store counts against `maxBytes`: record text, the parsed copies,
   * history, mutation ids and born marks, each as the heap bytes of its characters (two per
   * character for text outside Latin-1, as V8 keeps it) plus a fixed overhead.
   *
   * @returns the estimate
   */
  get bytes(): number {
    return this.records.bytes + this.history.bytes + this.mutations.bytes + this.born.size * BORN_MARK_BYTES;
  }

  /**
   * The session, or undefined when there is none; an expired one is removed now.
   *
   * @param id - the session id
   * @returns a copy of the data, the version, the user, and the times (`TIMES`)
   */
  async get(id: string): Promise<StoredSession | undefined> {
    const found = this.getSync(id);
    if (found) found.data = cloneJson(found.data);
    return found;
  }

  /** {@inheritDoc SessionStore.getSync} */
  getSync(id: string): StoredSession | undefined {
    const slot = this.live(id, this.now());
    if (slot < 0) return undefined;
    const found: StoredSession = { data: this.dataOf(id, slot), version: this.table.version(slot) };
    const user = this.table.user(slot);
    if (user !== undefined) found.user = user;
    return withTimes(found, this.records.times(slot));
  }

  /**
   * Why an id without a live record ended, while its adoption window is open.
   *
   * @param id - the session id
   * @returns the reason, or undefined (live, never born, or forgotten)
   */
  async endOf(id: string): Promise<EndReason | undefined> {
    const now = this.now();
    if (this.live(id, now) >= 0) return undefined;
    return this.born.reasonOf(id, now);
  }

  /**
   * Applies ops atomically (see {@link SessionStore.apply}); the change is stored and
   * published to every subscriber before the promise resolves.
   *
   * @param id - the session id
   * @param ops - the change
   * @param options - mutation id, user index, lifetimes, size limit, condition, check
   * @returns the version, the ops as applied, whether anything changed
   * @throws SessionSyncError `invalid`, `too_large` or `ended`, or what `check` threw; nothing is stored then
   */
  async apply(id: string, ops: readonly Op[], options: ApplyOptions): Promise<ApplyResult> {
    return this.applySync(id, ops, options);
  }

  /** {@inheritDoc SessionStore.applySync} */
  applySync(id: string, ops: readonly Op[], options: ApplyOptions): ApplyResult | Promise<ApplyResult> {
    return this.queue.runSync(id, () => this.applyNow(id, ops, options));
  }

  // Synchronous unless `check` answers with a promise: then the rest runs once it settles,
  // while the session's later applies wait behind it.
  private applyNow(id: string, ops: readonly Op[], options: ApplyOptions): ApplyResult | Promise<ApplyResult> {
    const now = this.now();
    const slot = this.live(id, now);
    const { mutation } = options;
    if (slot >= 0 && mutation !== undefined) {
      const first = this.mutations.answer(id, mutation);
      if (first !== undefined) {
        this.records.renew(id, slot, now, options.ttl);
        return withTimes(duplicateAnswer(first), this.records.times(slot));
      }
    }
    if (slot < 0) assertMayCreate(options, { born: this.born.has(id, now), watermark: this.born.watermark, now });
    const before: JsonObject = slot >= 0 ? this.dataOf(id, slot) : {};
    const { data, changed } = applyOps(before, ops);
    if (!changed) {
      // Activity all the same; but no record for a visitor whose write changed nothing.
      if (slot < 0) return { version: 0, ops: [...ops], changed: false };
      this.records.renew(id, slot, now, options.ttl);
      if (options.device) this.note(id, slot, options.device);
      if (mutation !== undefined) this.mutations.remember(id, mutation, this.table.version(slot));
      return withTimes({ version: this.table.version(slot), ops: [...ops], changed: false }, this.records.times(slot));
    }
    const text = JSON.stringify(data);
    assertSize(text, options.maxSize);
    const user = userAfter(options, data);
    const verdict = runCheck(options, { before, after: data, text });
    if (!(verdict instanceof Promise)) return this.store(id, slot, ops, options, data, text, user);
    const version = slot >= 0 ? this.table.version(slot) : 0;
    return verdict.then(() => {
      // Only an end can have happened meanwhile (applies of this id wait): never revive it.
      const now = this.now();
      const again = this.live(id, now);
      if (again !== slot || (slot >= 0 && this.table.version(slot) !== version)) throw endedError();
      // A creation is decided again: the id may have been ended meanwhile without a record.
      if (slot < 0) assertMayCreate(options, { born: this.born.has(id, now), watermark: this.born.watermark, now });
      return this.store(id, slot, ops, options, data, text, user);
    });
  }

  // Commits a checked change whole: nothing below throws.
  private store(
    id: string,
    existing: number,
    ops: readonly Op[],
    options: ApplyOptions,
    data: JsonObject,
    text: string,
    user: string | undefined,
  ): ApplyResult {
    const now = this.now();
    const table = this.table;
    const { mutation } = options;
    let slot = existing;
    let epoch: number | undefined;
    if (slot < 0) {
      this.makeRoom(now);
      slot = this.records.create(id, now, now + options.absolute);
      epoch = now;
      const when = options.when;
      if (when && 'adopt' in when) this.born.mark(id, when.adopt + adoptionWindow(options));
    }
    const base = table.version(slot);
    const version = this.records.write(id, slot, data, text);
    this.records.renew(id, slot, now, options.ttl);
    if (options.device) this.note(id, slot, options.device);
    if (options.user) this.records.setUser(id, slot, user);
    if (mutation !== undefined) this.mutations.remember(id, mutation, version);
    // The feed carries what JSON carries (as from RedisStore), and no one else's objects.
    const applied = cloneOps(ops);
    const patch: StoredPatch =
      mutation === undefined ? { version, base, ops: applied } : { version, base, ops: applied, mutation };
    this.history.append(id, patch);
    const times = this.records.times(slot);
    const event = withEpoch({ type: 'change', id, ...patch }, epoch);
    event[DATA] = data; // frozen by `hot.put`
    this.publish(event);
    this.keepWithinBytes(id);
    return withTimes({ version, ops: applied, changed: true }, times);
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
   * @param options - `announceAfter`, `adoptableUntil`
   * @returns whether there was a live record
   */
  async destroy(id: string, reason: EndReason, options: DestroyOptions = {}): Promise<boolean> {
    return (await this.take(id, reason, options)) !== undefined;
  }

  /**
   * Ends a session like {@link MemoryStore.destroy} and answers what it held, in one step:
   * no write can land between the read and the end (`regenerate()` copies from it).
   *
   * @param id - the session id
   * @param reason - why it ends
   * @param options - `announceAfter`, `adoptableUntil`
   * @returns the record as it was, or undefined when there was none
   */
  async take(id: string, reason: EndReason, options: DestroyOptions = {}): Promise<StoredSession | undefined> {
    const found = this.getSync(id);
    if (found) this.remove(id, this.table.find(id), reason);
    // An id that never had a record may still be adoptable: it ends here all the same.
    const until = options.adoptableUntil;
    if (until !== undefined && until > this.now() && !this.born.has(id, this.now())) {
      this.born.mark(id, until);
      this.born.ended(id, reason);
      // Marks made this way count against maxBytes like any other (a flood of sign-outs).
      this.keepWithinBytes(id);
    }
    const event: StoreEvent = { type: 'end', id, reason };
    if (options.announceAfter) {
      const announce = (): void => this.publish(event);
      Promise.resolve(options.announceAfter).then(announce, announce);
    } else {
      this.publish(event);
    }
    return found;
  }

  /**
   * Refreshes the idle lifetime (never past the absolute one) and, when given, replaces the
   * device note; nothing when there is no record.
   *
   * @param id - the session id
   * @param ttl - idle lifetime in ms from now
   * @param options - `device`: the note to keep
   */
  async touch(id: string, ttl: number, options?: TouchOptions): Promise<void> {
    const now = this.now();
    const slot = this.live(id, now);
    if (slot < 0) return;
    this.records.renew(id, slot, now, ttl);
    if (options?.device) this.note(id, slot, options.device);
  }

  /**
   * The live sessions of a user.
   *
   * @param user - the user id (option `user`)
   * @returns `{ id, version, lastActive, createdAt, device? }` for each; times in epoch ms
   */
  async sessionsOf(user: string): Promise<UserSession[]> {
    const now = this.now();
    return this.records.of(user, (id) => this.live(id, now));
  }

  /**
   * Listens to every change and end, synchronously as they happen. A listener that throws
   * is logged (`DEBUG=session-sync:memory-store`) and does not disturb the store.
   *
   * @param listener - called with each event
   * @returns the unsubscribe
   */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  /**
   * Removes every expired session now, publishing `expired` for each, drops the history
   * and mutation ids of sessions idle past `forgetAfter`, and the born marks whose adoption
   * window has closed. Runs on the sweep timer.
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
      } else if (now - table.active(slot) >= this.settings.forgetAfter) {
        this.history.forget(id);
        this.mutations.forget(id);
      }
    }
    this.born.sweep(now);
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

  // The session's data, parsed now when it was not kept parsed (which counts as bytes).
  private dataOf(id: string, slot: number): JsonObject {
    const before = this.records.bytes;
    const data = this.records.data(id, slot);
    if (this.records.bytes > before) this.keepWithinBytes(id);
    return data;
  }

  private makeRoom(now: number): void {
    while (this.table.size >= this.settings.max) {
      const [id, slot] = this.table.oldest()!;
      if (now >= this.table.expires(slot)) this.expire(id, slot);
      else this.evict(id, slot, `MemoryStore holds its maximum of ${this.settings.max} sessions`);
    }
  }

  // Past `maxBytes`: the parsed copies and the history go first (they are only speed: a
  // mirror coming back gets the whole data instead), then the longest-idle sessions (never the
  // one just written), then the oldest born marks.
  private keepWithinBytes(keep: string): void {
    while (this.bytes > this.settings.maxBytes) {
      if (this.records.dropOldestParsed() || this.history.dropOldest()) continue;
      const oldest = this.table.oldest();
      if (oldest && oldest[0] !== keep) {
        this.evict(oldest[0], oldest[1], `MemoryStore holds its maximum of ${this.settings.maxBytes} bytes`);
        continue;
      }
      if (!this.born.dropOldest()) return;
    }
  }

  private evict(id: string, slot: number, why: string): void {
    if (!this.warnedFull) {
      this.warnedFull = true;
      warn(`${why} and now evicts the longest-idle ones; raise "max" / "maxBytes" or use RedisStore`);
    }
    this.remove(id, slot, 'evicted');
    this.publish({ type: 'end', id, reason: 'evicted' });
  }

  private note(id: string, slot: number, device: DeviceNote): void {
    if (this.records.note(slot, device) > 0) this.keepWithinBytes(id);
  }

  private remove(id: string, slot: number, reason: EndReason): void {
    this.records.remove(id, slot);
    this.history.forget(id);
    this.mutations.forget(id);
    this.born.ended(id, reason);
  }

  private expire(id: string, slot: number): void {
    this.remove(id, slot, 'expired');
    this.publish({ type: 'end', id, reason: 'expired' });
  }

  private publish(event: StoreEvent): void {
    this.listeners.publish(event);
  }
}
