/**
 * The sessions this process is using right now (open sockets, requests in flight), kept
 * current from the store's change feed. This is what makes `socket.session.val` live: a
 * change made over HTTP, on another socket or on another node lands here before the next
 * handler call, with no `reload()`.
 */
import { applyOps, type EndReason, type JsonObject, type Op } from '../../shared/index.js';
import type { SessionStore, StoreEvent } from '../stores/store.js';
import { logger } from '../log.js';

const debug = logger('registry');

/** One session as this process sees it. */
export interface LiveSession {
  readonly id: string;
  /** The last committed data known here. */
  data: JsonObject;
  /** Its version (0: no record). */
  version: number;
  /** Why it ended, once it did. */
  ended?: EndReason;
  /** Holders: requests in flight and open sockets. */
  refs: number;
  /** Newest version announced by the feed while a resync was running. */
  pendingVersion: number;
  resync?: Promise<void>;
}

const EMPTY: JsonObject = Object.freeze({}) as JsonObject;

/**
 * Live sessions by id, fed by the store's change feed.
 *
 * @example
 * const live = await registry.acquire(id)
 * try { use(live.data) } finally { registry.release(live) }
 */
export class Registry {
  private readonly live = new Map<string, LiveSession>();
  private readonly loading = new Map<string, Promise<LiveSession>>();

  /** @param store - where sessions live */
  constructor(private readonly store: SessionStore) {}

  /**
   * Takes a hold on a session, loading it from the store unless this process holds it.
   *
   * @param id - the session id
   * @returns the live session (release it when done)
   * @throws SessionSyncError `store_unavailable` when the store fails
   */
  async acquire(id: string): Promise<LiveSession> {
    const held = this.live.get(id);
    if (held) {
      held.refs++;
      return held;
    }
    let pending = this.loading.get(id);
    if (!pending) {
      pending = this.store.get(id).then(
        (stored) => {
          this.loading.delete(id);
          const entry: LiveSession = {
            id,
            data: stored?.data ?? EMPTY,
            version: stored?.version ?? 0,
            refs: 0,
            pendingVersion: 0,
          };
          this.live.set(id, entry);
          return entry;
        },
        (err: unknown) => {
          this.loading.delete(id);
          throw err;
        },
      );
      this.loading.set(id, pending);
    }
    const entry = await pending;
    entry.refs++;
    return entry;
  }

  /**
   * Takes a hold on a session known to have no record here yet (a freshly issued id),
   * without asking the store.
   *
   * @param id - the new session id
   * @returns the live session (release it when done)
   */
  adopt(id: string): LiveSession {
    const held = this.live.get(id);
    if (held) {
      held.refs++;
      return held;
    }
    const entry: LiveSession = { id, data: EMPTY, version: 0, refs: 1, pendingVersion: 0 };
    this.live.set(id, entry);
    return entry;
  }

  /**
   * Gives a hold back; the session is forgotten when nobody holds it.
   *
   * @param entry - what `acquire` returned
   */
  release(entry: LiveSession): void {
    entry.refs--;
    if (entry.refs <= 0 && this.live.get(entry.id) === entry) this.live.delete(entry.id);
  }

  /**
   * The live session, when this process holds it.
   *
   * @param id - the session id
   * @returns the entry or undefined
   */
  peek(id: string): LiveSession | undefined {
    return this.live.get(id);
  }

  /**
   * Records a change this process just committed, so its own reads see it at once even
   * when the feed delivers it later (Redis).
   *
   * @param id - the session id
   * @param base - the version the ops applied to
   * @param version - the version after
   * @param ops - the ops as applied
   */
  applied(id: string, base: number, version: number, ops: readonly Op[]): void {
    this.onEvent({ type: 'change', id, base, version, ops: ops as Op[] });
  }

  /**
   * Applies one event of the store's feed to the live session it concerns.
   *
   * @param event - a change or an end
   */
  onEvent(event: StoreEvent): void {
    const entry = this.live.get(event.id);
    if (!entry) return;
    if (event.type === 'end') {
      entry.ended = event.reason;
      entry.data = EMPTY;
      entry.version = 0;
      return;
    }
    if (event.version <= entry.version) return; // already known (our own apply, or a replay)
    if (entry.ended && event.version === 1) entry.ended = undefined; // written again after its end
    if (event.base === entry.version && !entry.resync) {
      try {
        entry.data = applyOps(entry.data, event.ops).data;
        entry.version = event.version;
        return;
      } catch (err) {
        debug('patch %d of %s did not apply here (%o); resyncing', event.version, event.id, err);
      }
    }
    this.resync(entry, event.version);
  }

  // A gap in versions (a lost message, a change seen out of order): read the store again.
  private resync(entry: LiveSession, seen: number): void {
    entry.pendingVersion = Math.max(entry.pendingVersion, seen);
    if (entry.resync) return;
    entry.resync = this.store
      .get(entry.id)
      .then((stored) => {
        if (stored && stored.version >= entry.version) {
          entry.data = stored.data;
          entry.version = stored.version;
        }
      })
      .catch((err: unknown) => debug('resync of %s failed: %o', entry.id, err))
      .finally(() => {
        entry.resync = undefined;
        if (entry.pendingVersion > entry.version && this.live.get(entry.id) === entry)
          this.resync(entry, entry.pendingVersion);
      });
  }
}
