/**
 * Keeps this node's mirrors of the sessions it watches (those with sockets here) honest,
 * without keyspace notifications (off by default and often forbidden on managed Redis): a
 * timer reads the watched records and reports
 * - an expiry: the record vanished without a destroy;
 * - missed changes: Redis holds a version this node's feed never delivered (pub/sub is
 *   at-most-once: whatever is published while the subscriber connection is down, during an
 *   outage, a reconnect or a cluster failover, is lost);
 * - a missed end: the record was destroyed and the announcement never arrived.
 * Each node checks only its own sockets' sessions and tells only its own listeners, so
 * nothing is published twice across nodes.
 *
 * A version or an end that has not arrived YET may still be on its way: on a Redis Cluster a
 * message published on one primary reaches a subscriber connected to another through the
 * cluster bus, so no command on the subscriber connection can prove that everything
 * published before it has arrived. So a reading that shows something undelivered only makes
 * it a suspect; it is reported as lost when a later reading, at least `SETTLE_MS` after, shows
 * it still undelivered. Right after the feed subscribes again, what is undelivered was lost
 * for sure and is reported at once. Either way a message that does arrive after its
 * catch-up is dropped by the feed (feed.ts), so nothing is delivered twice.
 */
import createDebug from 'debug';
import type { EndReason } from '../../../shared/index.js';

const debug = createDebug('session-sync:redis');

// A message still not delivered this long after Redis held its change is taken as lost (on
// loopback and in one data centre propagation is a few ms; a late one is dropped anyway).
const SETTLE_MS = 200;

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
  /** A stored version seen undelivered, and when: lost if still undelivered a while later. */
  suspect?: { version: number; at: number };
  /** An announced end seen in the tombstone but not on the feed, and when, at which generation. */
  endSuspect?: { at: number; generation: number };
}

/** The watcher of one store. */
export class ExpiryWatcher {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private again = false;
  private lostPending = false;
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
   * after a reconnect, with `lost`). A call during a check runs another one right after it.
   *
   * @param lost - the feed was down: whatever is undelivered now was lost, report it at once
   * @returns when the check is done; never rejects
   */
  async tick(lost = false): Promise<void> {
    this.lostPending ||= lost;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        const immediate = this.lostPending;
        this.lostPending = false;
        const ids: string[] = [];
        for (const [id, entry] of this.entries) if (!entry.ended) ids.push(id);
        await this.checkOnce(ids, immediate);
      } while (this.again && this.entries.size > 0);
    } finally {
      this.busy = false;
    }
  }

  // May run beside a tick (a batch of new watches): every report is guarded by the entry's
  // state at that moment, and a catch-up skips what was delivered meanwhile.
  private async checkOnce(ids: string[], immediate = false): Promise<void> {
    try {
      if (ids.length === 0) return;
      const generations = ids.map((id) => this.entries.get(id)?.generation ?? -1);
      const states = await this.hooks.check(ids);
      const now = Date.now();
      const missed: [string, number][] = [];
      ids.forEach((id, i) => {
        const entry = this.entries.get(id);
        const found = states[i];
        if (!entry || !found || entry.ended) return;
        if (found.state === 'live') {
          entry.seen = true;
          entry.endSuspect = undefined;
          // A first reading is the baseline: a message up to it still in flight only raises
          // `delivered` when it lands.
          if (entry.delivered === undefined) entry.delivered = found.version;
          if (this.lostChange(entry, found.version, now, immediate)) missed.push([id, entry.delivered]);
        } else if (found.state === 'gone' && entry.seen && entry.generation === generations[i]) {
          entry.ended = true;
          this.hooks.expired(id);
        } else if (
          found.state === 'destroyed' &&
          found.reason !== undefined &&
          entry.seen &&
          // A change since the reading means the record was written again.
          entry.generation === generations[i] &&
          this.lostEnd(entry, now, immediate)
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

  // Whether a stored version that the feed has not delivered is lost (see the file's comment).
  private lostChange(entry: Entry, version: number, now: number, immediate: boolean): boolean {
    const delivered = entry.delivered ?? version;
    if (version <= delivered) {
      entry.suspect = undefined;
      return false;
    }
    const suspect = entry.suspect;
    if (immediate || (suspect && delivered < suspect.version && now - suspect.at >= SETTLE_MS)) {
      entry.suspect = undefined;
      return true;
    }
    if (!suspect || delivered >= suspect.version) entry.suspect = { version, at: now };
    return false;
  }

  // Whether an end recorded in the tombstone, never announced here, is lost.
  private lostEnd(entry: Entry, now: number, immediate: boolean): boolean {
    const suspect = entry.endSuspect;
    if (immediate || (suspect && suspect.generation === entry.generation && now - suspect.at >= SETTLE_MS)) {
      return true;
    }
    if (!suspect || suspect.generation !== entry.generation)
      entry.endSuspect = { at: now, generation: entry.generation };
    return false;
  }
}
