/**
 * The options of a MemoryStore, checked when it is made (a `TypeError` naming the option).
 */
import { getHeapStatistics } from 'node:v8';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most sessions kept; a new one past it evicts the longest-idle session (its mirrors get
   * `session:ended { reason: 'evicted' }`, and a warning is printed once). Default 100 000
   * (about 20 MB of small sessions); `Infinity` for no bound.
   */
  max?: number;
  /**
   * Most heap bytes the store's bookkeeping may take: record text, the parsed data of the
   * sessions in use, patch history, remembered mutation ids and born marks (each counted as
   * the heap bytes of its characters plus a fixed overhead). Past it the store drops the
   * parsed copies and the patch history first, then evicts the longest-idle sessions, then the
   * oldest born marks (refusing adoption of ids issued before them). Default: a quarter of
   * this process's heap limit (`v8.getHeapStatistics().heap_size_limit / 4`).
   */
  maxBytes?: number;
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

/** {@link MemoryStoreOptions} checked, with their defaults. */
export type MemoryStoreSettings = Required<Omit<MemoryStoreOptions, 'now'>> & { now: () => number };

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

/**
 * Checks a MemoryStore's options and fills the defaults.
 *
 * @param options - as given
 * @returns the settings
 * @throws TypeError naming a bad option
 * @example
 * readMemoryOptions({ max: 50_000 }).maxBytes // a quarter of the heap limit
 */
export function readMemoryOptions(options: MemoryStoreOptions): MemoryStoreSettings {
  if (options === null || typeof options !== 'object')
    throw new TypeError('session-sync: MemoryStore options must be an object');
  const sweepInterval = positive('sweepInterval', options.sweepInterval, 60_000);
  if (sweepInterval === Infinity)
    throw new TypeError('session-sync: MemoryStore option "sweepInterval" must be finite');
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw new TypeError('session-sync: MemoryStore option "now" must be a function');
  }
  return {
    max: positive('max', options.max, 100_000),
    maxBytes: positive('maxBytes', options.maxBytes, Math.floor(getHeapStatistics().heap_size_limit / 4)),
    sweepInterval,
    history: positive('history', options.history, 32, true),
    historyTotal: positive('historyTotal', options.historyTotal, 4096, true),
    forgetAfter: positive('forgetAfter', options.forgetAfter, 15 * 60_000, true),
    now: options.now ?? Date.now,
  };
}
