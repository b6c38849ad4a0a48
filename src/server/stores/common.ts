/**
 * What both stores do the same way: the lifecycle rules of one write (may it create the
 * record?), the size limit, the `check` hook, the user key, and the metadata answers carry.
 * No I/O: each store calls these inside its own atomic apply.
 */
import { SessionSyncError, utf8Length, type EndReason, type JsonObject } from '../../shared/index.js';
import type { ApplyOptions, ApplyResult, ChangeEvent, CheckedChange, StoredSession } from './store.js';

/**
 * How long an id issued early may be adopted by its first write: `min(ttl, absolute)` after
 * its cookie was issued. It also bounds how long a store must remember that an id was born.
 *
 * @param options - the apply's lifetimes
 * @returns ms
 */
export function adoptionWindow(options: Pick<ApplyOptions, 'ttl' | 'absolute'>): number {
  return Math.min(options.ttl, options.absolute);
}

/**
 * The refusal of a write to a session that ended (or, for an id issued early, can no longer
 * be adopted).
 *
 * @param reason - why, when known
 * @returns the error to throw
 */
export function endedError(reason?: EndReason): SessionSyncError {
  return new SessionSyncError('ended', `session-sync: this session has ended${reason ? ` (${reason})` : ''}`);
}

/** What a store knows about an id without a live record when a write arrives. */
export interface CreationFacts {
  /** The id had a record within its adoption window (a born mark), ended since. */
  born: boolean;
  /** Adoption windows that ended at or before this time can no longer be used (evicted born marks). */
  watermark: number;
  /** Now, epoch ms (the store's clock). */
  now: number;
}

/**
 * Decides whether a write to an id WITHOUT a live record may create it (see
 * `WriteCondition`): no condition creates; `exists` never does; `adopt` does once, within
 * the window after the cookie was issued, unless the id was born before or its window fell
 * under the watermark.
 *
 * @param options - the apply's options
 * @param facts - what the store knows about the id
 * @throws SessionSyncError `ended` when the record may not be created
 */
export function assertMayCreate(options: ApplyOptions, facts: CreationFacts): void {
  const when = options.when;
  if (when === undefined) return;
  if ('exists' in when) throw endedError();
  const until = when.adopt + adoptionWindow(options);
  if (facts.born || facts.now >= until || until <= facts.watermark) throw endedError();
}

/**
 * Refuses data past the apply's `maxSize` (the whole record, as stored).
 *
 * @param text - the data as JSON text
 * @param maxSize - the limit in bytes, if any
 * @throws SessionSyncError `too_large`
 */
export function assertSize(text: string, maxSize: number | undefined): void {
  // UTF-8 needs at most 3 bytes per UTF-16 unit: short texts skip the count.
  if (maxSize !== undefined && text.length * 3 > maxSize && utf8Length(text) > maxSize) {
    throw new SessionSyncError('too_large', `session-sync: the session would be larger than ${maxSize} bytes`);
  }
}

/**
 * Runs the apply's `check` on a change, when there is one.
 *
 * @param options - the apply's options
 * @param change - before, after, text
 * @returns undefined when it decided synchronously, else the promise of its verdict
 */
export function runCheck(options: ApplyOptions, change: CheckedChange): void | Promise<void> {
  return options.check?.(change);
}

/**
 * The user a session belongs to after a change (option `user`), as the index keys it: a
 * non-empty string, or a finite number as its string.
 *
 * @param options - the apply's options
 * @param data - the data after the change
 * @returns the user, or undefined for none
 */
export function userAfter(options: ApplyOptions, data: JsonObject): string | undefined {
  if (!options.user) return undefined;
  const value: unknown = options.user(data);
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** The lifecycle metadata of a record an answer carries. */
export interface RecordTimes {
  epoch: number;
  expires: number;
}

/**
 * Attaches a record's epoch and idle deadline to an answer as NON-enumerable properties, so
 * the answer still compares and serializes as its documented shape (`{ data, version,
 * user? }`, `{ version, ops, changed }`) while session-sync reads the times.
 *
 * @param answer - a `get` or `apply` answer
 * @param times - the record's times, if there is a record
 * @returns the same object
 */
export function withTimes<T extends StoredSession | ApplyResult>(answer: T, times: RecordTimes | undefined): T {
  if (!times) return answer;
  Object.defineProperties(answer, {
    epoch: { value: times.epoch, enumerable: false, configurable: true, writable: true },
    expires: { value: times.expires, enumerable: false, configurable: true, writable: true },
  });
  return answer;
}

/**
 * Marks the change event that created a record with its epoch, as a NON-enumerable `epoch`,
 * so events still compare and serialize as `{ type, id, version, base, ops, mutation? }`.
 *
 * @param event - a change event
 * @param epoch - the record's creation time, when this change created it
 * @returns the same event
 */
export function withEpoch(event: ChangeEvent, epoch: number | undefined): ChangeEvent {
  if (epoch !== undefined)
    Object.defineProperty(event, 'epoch', { value: epoch, enumerable: false, configurable: true, writable: true });
  return event;
}

/**
 * A repeated mutation id: it changes nothing now and answers the version the first apply
 * produced.
 *
 * @param version - the first answer's version
 * @returns the answer
 */
export function duplicateAnswer(version: number): ApplyResult {
  return { version, ops: [], changed: false, duplicate: true };
}

/**
 * Runs the work of one key (a session id) one at a time, in call order; different keys run
 * side by side. Both stores hold a session's applies behind one still deciding (an
 * asynchronous `check`, a Redis round trip), so a node never races itself.
 */
export class KeyedQueue {
  // The settled tail of each key's chain (never rejects), removed once nothing waits behind it.
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Runs `task` after everything queued for `key`. When nothing is queued it runs at once,
   * synchronously: a task that answers without a promise is not queued at all (MemoryStore's
   * fast path), one that answers a promise holds the key until it settles.
   *
   * @param key - what the work is about
   * @param task - the work
   * @returns what `task` answers (rejected when it throws)
   * @example
   * queue.run(id, () => this.applyNow(id, ops, options))
   */
  run<T>(key: string, task: () => T | Promise<T>): Promise<T> {
    const tail = this.tails.get(key);
    if (tail) return this.hold(key, tail.then(task));
    try {
      const result = task();
      return result instanceof Promise ? this.hold(key, result) : Promise.resolve(result);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Resolves once every task queued so far has settled.
   *
   * @returns when idle
   */
  async idle(): Promise<void> {
    await Promise.all([...this.tails.values()]);
  }

  private hold<T>(key: string, work: Promise<T>): Promise<T> {
    const tail = work.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return work;
  }
}
