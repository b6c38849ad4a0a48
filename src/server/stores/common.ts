/**
 * What both stores do the same way: the lifecycle rules of one write (may it create the
 * record?), the size limit, the `check` hook, the user key, and the metadata answers carry.
 * No I/O: each store calls these inside its own atomic apply.
 */
import { SessionSyncError, utf8Length, type EndReason, type JsonObject } from '../../shared/index.js';
import {
  TIMES,
  type ApplyOptions,
  type ApplyResult,
  type ChangeEvent,
  type CheckedChange,
  type RecordTimes,
  type StoredSession,
} from './store.js';

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
 * A user id as the index keys it: a non-empty string as is, a finite number as its string
 * (`42` and `'42'` are one user); anything else is no user.
 *
 * @param value - what the option `user` (or a caller) gave
 * @returns the key, or undefined
 * @example
 * asUserId(42) // '42'
 */
export function asUserId(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * The user a session belongs to after a change (option `user`).
 *
 * @param options - the apply's options
 * @param data - the data after the change
 * @returns the user, or undefined for none
 */
export function userAfter(options: ApplyOptions, data: JsonObject): string | undefined {
  return options.user ? asUserId(options.user(data)) : undefined;
}

/**
 * Attaches a record's times to an answer, in its {@link TIMES} slot (invisible to JSON,
 * `Object.keys` and deep equality).
 *
 * @param answer - a `get` or `apply` answer
 * @param times - the record's times, if there is a record
 * @returns the same object
 */
export function withTimes<T extends StoredSession | ApplyResult>(answer: T, times: RecordTimes | undefined): T {
  if (times) answer[TIMES] = times;
  return answer;
}

/**
 * Marks the change event that created a record with its epoch (in the {@link TIMES} slot).
 *
 * @param event - a change event
 * @param epoch - the record's creation time, when this change created it
 * @returns the same event
 */
export function withEpoch(event: ChangeEvent, epoch: number | undefined): ChangeEvent {
  if (epoch !== undefined) event[TIMES] = { epoch };
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
  // Pipelined tasks still running after they let the next one start.
  private readonly running = new Set<Promise<unknown>>();

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
    try {
      return Promise.resolve(this.runSync(key, task));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * {@link KeyedQueue.run}, but a task that runs at once and answers without a promise
   * answers synchronously (and a throw is thrown): MemoryStore's `applySync`.
   *
   * @param key - what the work is about
   * @param task - the work
   * @returns what `task` answers, or the promise of it when it waited or is asynchronous
   * @example
   * return queue.runSync(id, () => this.applyNow(id, ops, options))
   */
  runSync<T>(key: string, task: () => T | Promise<T>): T | Promise<T> {
    const tail = this.tails.get(key);
    if (tail) return this.hold(key, tail.then(task));
    const result = task();
    return result instanceof Promise ? this.hold(key, result) : result;
  }

  /**
   * Like {@link KeyedQueue.run}, but the next task for `key` may start as soon as this one
   * calls `sent()` (it has handed its write to a connection that keeps order), not only once
   * it settled: RedisStore pipelines the compare-and-sets of one session this way.
   *
   * @param key - what the work is about
   * @param task - the work; calls `sent` at most once, and need not call it at all
   * @returns what `task` answers (rejected when it throws)
   * @example
   * queue.pipeline(id, (sent) => applyChange(ctx, id, ops, sent))
   */
  pipeline<T>(key: string, task: (sent: () => void) => Promise<T>): Promise<T> {
    let sent!: () => void;
    const handedOn = new Promise<void>((resolve) => (sent = resolve));
    const start = (): Promise<T> => task(sent);
    const tail = this.tails.get(key);
    const work = tail ? tail.then(start) : start();
    this.running.add(work);
    const settled = (): void => {
      this.running.delete(work);
      sent();
    };
    work.then(settled, settled);
    this.hold(key, handedOn);
    return work;
  }

  /**
   * Resolves once every task queued so far has settled.
   *
   * @returns when idle
   */
  async idle(): Promise<void> {
    await Promise.all([...this.tails.values(), ...[...this.running].map((w) => w.catch(() => undefined))]);
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
