/**
 * Notices the expiry of sessions that have sockets on this node, without keyspace
 * notifications (off by default and often forbidden on managed Redis): a timer checks the
 * watched ids and reports the ones whose record vanished without a destroy. Each node
 * checks only its own sockets' sessions and tells only its own listeners, so nothing is
 * published twice across nodes.
 */
import createDebug from 'debug';

const debug = createDebug('session-sync:redis');

/** What a check found for one id. */
export type WatchState = 'live' | 'gone' | 'destroyed';

interface Entry {
  count: number;
  /** The record was seen live (an id issued early and never written has nothing to expire). */
  seen: boolean;
  /** An end was seen or reported: do not report it again until the record comes back. */
  ended: boolean;
  /** Bumped by every event, so a check that raced with an event is not trusted. */
  generation: number;
}

/** The expiry watcher of one store. */
export class ExpiryWatcher {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  /**
   * @param interval - ms between checks
   * @param check - tells, for each id, whether its record is live, gone, or destroyed (tombstone)
   * @param onExpired - called once per id found gone without a destroy
   */
  constructor(
    private readonly interval: number,
    private readonly check: (ids: string[]) => Promise<WatchState[]>,
    private readonly onExpired: (id: string) => void,
  ) {}

  /**
   * Watches `id` until the returned release is called (calls are counted per id).
   *
   * @param id - a session id with live mirrors on this node
   * @returns the release; calling it twice is harmless
   * @example
   * const release = watcher.watch(id); socket.on('disconnect', release)
   */
  watch(id: string): () => void {
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { count: 0, seen: false, ended: false, generation: 0 };
      this.entries.set(id, entry);
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

  /**
   * Notes a change event: the record exists (again).
   *
   * @param id - the session id
   */
  noteChange(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.seen = true;
    entry.ended = false;
    entry.generation++;
  }

  /**
   * Notes an end event: it was announced, so it must not be reported as an expiry.
   *
   * @param id - the session id
   */
  noteEnd(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.ended = true;
    entry.generation++;
  }

  /** Stops the timer (watches are kept; a later `watch` starts it again). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Runs one check now (the timer calls it; tests may too).
   *
   * @returns when the check is done; never rejects
   */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const ids: string[] = [];
      const generations: number[] = [];
      for (const [id, entry] of this.entries) {
        if (entry.ended) continue;
        ids.push(id);
        generations.push(entry.generation);
      }
      if (ids.length === 0) return;
      const states = await this.check(ids);
      ids.forEach((id, i) => {
        const entry = this.entries.get(id);
        if (!entry || entry.generation !== generations[i] || entry.ended) return;
        if (states[i] === 'live') entry.seen = true;
        else if (states[i] === 'gone' && entry.seen) {
          entry.ended = true;
          this.onExpired(id);
        }
      });
    } catch (err) {
      // An outage: the next tick tries again.
      debug('expiry check failed: %s', err instanceof Error ? err.message : err);
    } finally {
      this.busy = false;
    }
  }
}
