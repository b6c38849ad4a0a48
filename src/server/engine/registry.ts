/**
 * The sessions this process is using right now (open sockets, requests in flight), kept
 * current from the store's change feed. This is what makes `socket.session.val` live: a
 * change made over HTTP, on another socket or on another node lands here before the next
 * handler call, with no `reload()`.
 */
import { applyOps, type EndReason, type JsonObject, type Op } from '../../shared/index.js';
import {
  DATA,
  TIMES,
  type RecordTimes,
  type SessionStore,
  type StoredSession,
  type StoreEvent,
} from '../stores/store.js';
import { logger } from '../log.js';

const debug = logger('registry');

/** One session as this process sees it. */
export interface LiveSession {
  readonly id: string;
  /** The last committed data known here. */
  data: JsonObject;
  /** Its version (0: no record). */
  version: number;
  /** When its record was created (epoch ms); null while no record is known. */
  epoch: number | null;
  /** Its idle deadline as last known here (epoch ms); null while no record is known. */
  expires: number | null;
  /**
   * When the cookie naming it was issued, as the requests and sockets holding it presented
   * it (epoch ms; 0 unknown): lets out-of-band code adopt an id a live visitor holds.
   */
  issued: number;
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
 * Takes a stored record into a live entry (a reload or a resync).
 *
 * @param entry - the entry
 * @param stored - what the store answered
 */
export function adoptStored(entry: LiveSession, stored: StoredSession): void {
  entry.data = stored.data;
  entry.version = stored.version;
  const times = stored[TIMES];
  if (times) {
    entry.epoch = times.epoch;
    entry.expires = times.expires ?? null;
  }
}

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

  /**
   * @param store - where sessions live
   * @param absolute - the longest lifetime (ms), which bounds an idle deadline renewed here
   * @param getSync - the store's `get` answered at once, when it has one
   */
  constructor(
    private readonly store: SessionStore,
    private readonly absolute: number,
    private readonly getSync?: SessionStore['getSync'],
  ) {}

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
          // A synchronous read (`acquireSync`) may have entered it meanwhile, fresher.
          return this.live.get(id) ?? this.enter(id, stored);
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
   * {@link Registry.acquire} at once, for a store that answers at once (`getSync`): the held
   * entry, or undefined when the store must be asked asynchronously.
   *
   * @param id - the session id
   * @returns the live session (release it when done), or undefined
   * @throws what the store threw
   */
  acquireSync(id: string): LiveSession | undefined {
    const held = this.live.get(id);
    if (held) {
      held.refs++;
      return held;
    }
    if (!this.getSync) return undefined;
    const entry = this.enter(id, this.getSync(id));
    entry.refs++;
    return entry;
  }

  /**
   * Whether {@link Registry.acquireSync} answers for this id at once (held here, or a store
   * that answers at once).
   *
   * @param id - the session id
   * @returns true when no tick need be waited for
   */
  answersAtOnce(id: string): boolean {
    return this.getSync !== undefined || this.live.has(id);
  }

  /**
   * Whether the session has a record, as far as this process can tell at once: from the
   * held entry, or from a store that answers at once; true when only the store could tell.
   *
   * @param id - the session id
   * @returns false when it surely has none
   */
  mayExist(id: string): boolean {
    const held = this.live.get(id);
    if (held) return held.version > 0;
    if (!this.getSync) return true;
    try {
      return this.getSync(id) !== undefined;
    } catch {
      return true; // the touch will tell
    }
  }

  private enter(id: string, stored: StoredSession | undefined): LiveSession {
    const entry: LiveSession = {
      id,
      data: stored?.data ?? EMPTY,
      version: stored?.version ?? 0,
      epoch: stored?.[TIMES]?.epoch ?? null,
      expires: stored?.[TIMES]?.expires ?? null,
      issued: 0,
      refs: 0,
      pendingVersion: 0,
    };
    this.live.set(id, entry);
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
    const entry = this.enter(id, undefined);
    entry.refs = 1;
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
   * Reads a held session from the store again. The entry is shared with this process's
   * sockets and kept current by the feed: it never moves back to an older version.
   *
   * @param entry - a held entry
   * @returns when read
   * @throws what the store threw
   */
  async reload(entry: LiveSession): Promise<void> {
    const stored = await this.store.get(entry.id);
    if (!stored) {
      entry.data = EMPTY;
      entry.version = 0;
      entry.epoch = entry.expires = null;
    } else if (stored.version >= entry.version) adoptStored(entry, stored);
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
   * @param times - the record's times, as the store answered
   */
  applied(id: string, base: number, version: number, ops: readonly Op[], times: RecordTimes | undefined): void {
    this.onEvent({ type: 'change', id, base, version, ops: ops as Op[] });
    this.times(id, times);
  }

  /**
   * Records a held session's epoch and idle deadline, as a store answer told them.
   *
   * @param id - the session id
   * @param times - the answer's times, when it had them
   */
  times(id: string, times: RecordTimes | undefined): void {
    const entry = this.live.get(id);
    if (!entry || entry.version === 0 || !times) return;
    entry.epoch = times.epoch;
    if (times.expires !== undefined) entry.expires = times.expires;
  }

  /**
   * Activity renewed a held session's idle lifetime here: its deadline moves (never past
   * the absolute one).
   *
   * @param id - the session id
   * @param expires - the new idle deadline, epoch ms
   */
  renewed(id: string, expires: number): void {
    const entry = this.live.get(id);
    if (!entry || entry.version === 0 || entry.epoch === null) return;
    entry.expires = Math.min(expires, entry.epoch + this.absolute);
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
      entry.epoch = entry.expires = null;
      return;
    }
    const created = event[TIMES];
    if (created) entry.epoch = created.epoch;
    if (event.version <= entry.version) return; // already known (our own apply, or a replay)
    if (entry.ended && event.version === 1) entry.ended = undefined; // a record again (a restarted store)
    if (event.base === entry.version && !entry.resync) {
      try {
        // A store in this process hands the data after the change along: no second apply.
        entry.data = event[DATA] ?? applyOps(entry.data, event.ops).data;
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
        if (stored && stored.version >= entry.version) adoptStored(entry, stored);
      })
      .catch((err: unknown) => debug('resync of %s failed: %o', entry.id, err))
      .finally(() => {
        entry.resync = undefined;
        if (entry.pendingVersion > entry.version && this.live.get(entry.id) === entry)
          this.resync(entry, entry.pendingVersion);
      });
  }
}
