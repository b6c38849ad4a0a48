/**
 * Keeps this node's mirrors of the sessions it watches (those with sockets here) honest,
 * without keyspace notifications (off by default and often forbidden on managed Redis): a
 * timer reads the watched records and reports
 * - an expiry: the record vanished without a destroy;
 * - missed changes: Redis holds a version this node's feed never delivered (pub/sub is
 *   at-most-once: whatever is published while the subscriber connection is down, during an
 *   outage or a reconnect, is lost);
 * - a missed end: the record was destroyed and the announcement never arrived.
 * Each node checks only its own sockets' sessions and tells only its own listeners, so
 * nothing is published twice across nodes.
 *
 * Missed changes and ends are judged only after a barrier on the subscriber connection (a
 * PING answered there after the read): every message published before the read has then
 * arrived, so a version still not delivered was truly lost, and catching it up can never
 * duplicate a message still in flight.
 */
import createDebug from 'debug';
import type { EndReason } from '../../../shared/index.js';

const debug = createDebug('session-sync:redis');

/** What a check found for one id: the record's state, its version, and an announced end. */
export interface WatchState {
  state: 'live' | 'gone' | 'destroyed';
  /** The stored version (0 unless live). */
  version: number;
  /** For 'destroyed': the reason once the end was announced (undefined while deferred). */
  reason?: EndReason;
}

/** What the watcher needs from its store. */
export interface WatchHooks {
  /** Reads the state of each id, in order. */
  check(ids: string[]): Promise<WatchState[]>;
  /** Resolves true once every message published before now has arrived on the feed; false when it cannot tell. */
  barrier(): Promise<boolean>;
  /** An id's record vanished without a destroy. */
  expired(id: string): void;
  /** Changes after version `after` (up to `version`) were published but never delivered here. */
  missed(id: string, after: number): Promise<void>;
  /** An id was destroyed with `reason`, and the announcement never arrived here. */
  ended(id: string, reason: EndReason): void;
}

interface Entry {
  count: number;
  /** The record was seen live (an id issued early and never written has nothing to expire). */
  seen: boolean;
  /** An end was seen or reported: do not report it again until the record comes back. */
  ended: boolean;
  /** Bumped by every event, so a check that raced with an event is not trusted. */
  generation: number;
  /** The newest version delivered to this node's listeners (undefined: not known yet). */
  delivered: number | undefined;
}

/** The watcher of one store. */
export class ExpiryWatcher {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private again = false;
  /** New watches without a known version, read soon in one batch. */
  private readonly unknown = new Set<string>();
  private baselineTimer: NodeJS.Timeout | undefined;

  /**
   * @param interval - ms between checks
   * @param hooks - the reads and the reports (see {@link WatchHooks})
   */
  constructor(
    private readonly interval: number,
    private readonly hooks: WatchHooks,
  ) {}

  /**
   * Watches `id` until the returned release is called (calls are counted per id).
   *
   * @param id - a session id with live mirrors on this node
   * @param version - the version those mirrors hold, when known: changes after it that the
   *   feed never delivers are caught up. Without it, the version is read at once.
   * @returns the release; calling it twice is harmless
   * @example
   * const release = watcher.watch(id, entry.version); socket.on('disconnect', release)
   */
  watch(id: string, version?: number): () => void {
    let entry = this.entries.get(id);
    if (!entry) {
      // A version held by mirrors (> 0) means the record was live: its end must be reported.
      entry = { count: 0, seen: version !== undefined && version > 0, ended: false, generation: 0, delivered: version };
      this.entries.set(id, entry);
      if (version === undefined) this.readSoon(id);
    }
    entry.count++;
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.interval);
      this.timer.unref();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const current = this.entries.get(id);
      if (current && --current.count <= 0) this.entries.delete(id);
      if (this.entries.size === 0) this.stop();
    };
  }

  // The mirrors were loaded just now, so the version read now is theirs (up to a change in
  // the few ms between, which the feed delivers unless it is down at that very moment).
  private readSoon(id: string): void {
    this.unknown.add(id);
    if (this.baselineTimer) return;
    this.baselineTimer = setTimeout(() => {
      this.baselineTimer = undefined;
      const ids = [...this.unknown].filter((x) => this.entries.get(x)?.delivered === undefined);
      this.unknown.clear();
      if (ids.length > 0) void this.checkOnce(ids);
    }, 0);
    this.baselineTimer.unref();
  }

  /**
   * Notes a change event about to be delivered: the record exists (again), and this version
   * reached the listeners.
   *
   * @param id - the session id
   * @param version - the change's version
   */
  noteChange(id: string, version: number): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.seen = true;
    entry.ended = false;
    entry.generation++;
    entry.delivered = Math.max(entry.delivered ?? 0, version);
  }

  /**
   * Notes an end event: it was announced, so it must not be reported again.
   *
   * @param id - the session id
   */
  noteEnd(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.ended = true;
    entry.generation++;
    // A record written again under this id starts over from version 1.
    entry.delivered = 0;
  }

  /**
   * The newest version delivered for a watched id.
   *
   * @param id - the session id
   * @returns the version, or undefined when not watched or not known yet
   */
  delivered(id: string): number | undefined {
    return this.entries.get(id)?.delivered;
  }

  /** Stops the timer (watches are kept; a later `watch` starts it again). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.baselineTimer) clearTimeout(this.baselineTimer);
    this.baselineTimer = undefined;
    this.unknown.clear();
  }

  /**
   * Runs one check now (the timer calls it; so does the feed once it is subscribed again
   * after a reconnect). A call during a check runs another one right after it.
   *
   * @returns when the check is done; never rejects
   */
  async tick(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        const ids: string[] = [];
        for (const [id, entry] of this.entries) if (!entry.ended) ids.push(id);
        await this.checkOnce(ids);
      } while (this.again && this.entries.size > 0);
    } finally {
      this.busy = false;
    }
  }

  // May run beside a tick (a batch of new watches): every report is guarded by the entry's
  // state at that moment, and a catch-up skips what was delivered meanwhile.
  private async checkOnce(ids: string[]): Promise<void> {
    try {
      if (ids.length === 0) return;
      const generations = ids.map((id) => this.entries.get(id)?.generation ?? -1);
      const states = await this.hooks.check(ids);
      ids.forEach((id, i) => {
        const entry = this.entries.get(id);
        const found = states[i];
        if (!entry || !found || entry.ended) return;
        if (found.state === 'live') {
          entry.seen = true;
          // A first reading is the baseline: a message up to it still in flight only raises
          // `delivered` when it lands.
          if (entry.delivered === undefined) entry.delivered = found.version;
        } else if (found.state === 'gone' && entry.seen && entry.generation === generations[i]) {
          entry.ended = true;
          this.hooks.expired(id);
        }
      });
      // After the barrier every message published before the reading has arrived: a newer
      // stored version, or an announced end, that did not arrive was lost on the way.
      if (!(await this.hooks.barrier())) return;
      const missed: [string, number][] = [];
      ids.forEach((id, i) => {
        const entry = this.entries.get(id);
        const found = states[i];
        if (!entry || !found || entry.ended) return;
        if (found.state === 'live' && entry.delivered !== undefined && found.version > entry.delivered) {
          missed.push([id, entry.delivered]);
        } else if (
          found.state === 'destroyed' &&
          found.reason !== undefined &&
          entry.seen &&
          // A change since the reading means the record was written again.
          entry.generation === generations[i]
        ) {
          entry.ended = true;
          this.hooks.ended(id, found.reason);
        }
      });
      for (const [id, after] of missed) {
        debug('the feed missed changes of %s after version %d; catching up', id, after);
        await this.hooks.missed(id, after);
      }
    } catch (err) {
      // An outage: the next tick tries again.
      debug('watch check failed: %s', err instanceof Error ? err.message : err);
    }
  }
}
