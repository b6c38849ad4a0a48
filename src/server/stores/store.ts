/**
 * The store interface. Every store (MemoryStore, RedisStore, yours) implements it, and the
 * rest of the server never knows which one it has. Everything that must be atomic with a
 * change happens inside `apply`. Promises only, never callbacks.
 */
import type { EndReason, JsonObject, Op } from '../../shared/index.js';

/** A stored session as `get` returns it. */
export interface StoredSession {
  data: JsonObject;
  /** +1 per committed change that changed something; 0 never exists in a store. */
  version: number;
  /** The user the session belongs to (option `user`), when it has one. */
  user?: string;
}

/** Options of one `apply`. */
export interface ApplyOptions {
  /** A mutation id: when seen before for this session, `apply` answers the first answer again. */
  mutation?: string;
  /**
   * Computes the session's user from its data after the ops (option `user`), inside the
   * atomic apply so the user index moves in the same commit. Absent: no user index.
   */
  user?: (data: JsonObject) => string | undefined;
  /** Idle lifetime in ms, refreshed by this apply. */
  ttl: number;
  /** Longest lifetime in ms, counted from the record's creation. */
  absolute: number;
  /** Largest serialized size in bytes; past it `apply` throws `too_large` and stores nothing. */
  maxSize?: number;
}

/** What `apply` answers. */
export interface ApplyResult {
  /** The version after the change (unchanged when nothing changed). */
  version: number;
  /** The ops as applied (the input ops; `[]` when the change was a repeat). */
  ops: Op[];
  /** Whether something changed (the version was bumped). */
  changed: boolean;
  /** True when `mutation` was seen before and this is the first answer again. */
  duplicate?: boolean;
}

/** One committed change, as kept in the history and sent on the change feed. */
export interface StoredPatch {
  version: number;
  base: number;
  ops: Op[];
  mutation?: string;
}

/** What the change feed carries, from every node. */
export type StoreEvent =
  ({ type: 'change'; id: string } & StoredPatch) | { type: 'end'; id: string; reason: EndReason };

/** One entry of `sessionsOf`. */
export interface UserSession {
  id: string;
  version: number;
  /** Epoch ms of the last write or touch. */
  lastActive: number;
}

/** Options of `destroy`. */
export interface DestroyOptions {
  /**
   * Publish the end event only once this settles (the record is gone at once).
   * `regenerate()` uses it so the old id's sockets are told after the response carrying
   * the new cookie has finished.
   */
  announceAfter?: PromiseLike<unknown>;
}

/**
 * A session store.
 *
 * @example
 * class MyStore implements SessionStore { ... }
 * createSessionSync({ store: new MyStore() })
 */
export interface SessionStore {
  /** The session, or undefined when there is no live record. */
  get(id: string): Promise<StoredSession | undefined>;
  /**
   * Applies ops atomically: applies them to the current data, bumps the version when
   * something changed, records the mutation id (last 256), appends the patch to a short
   * history, moves the session in the user index, refreshes its lifetimes, and publishes
   * the change — all or nothing. Creates the record when there is none. A change that
   * changes nothing stores and publishes nothing but still refreshes the idle lifetime.
   *
   * @throws SessionSyncError `invalid` (an op cannot apply), `too_large`, `store_unavailable`
   */
  apply(id: string, ops: readonly Op[], options: ApplyOptions): Promise<ApplyResult>;
  /** The patches after `version` (possibly `[]`), or undefined when history no longer reaches back. */
  since(id: string, version: number): Promise<StoredPatch[] | undefined>;
  /** Removes the record and publishes an end event; true when there was one. */
  destroy(id: string, reason: EndReason, options?: DestroyOptions): Promise<boolean>;
  /** Refreshes the idle lifetime without changing anything (activity). */
  touch(id: string, ttl: number): Promise<void>;
  /** The live sessions of a user. */
  sessionsOf(user: string): Promise<UserSession[]>;
  /**
   * Listens to every change and every end (destroyed, expired, evicted, regenerated), from
   * any node. Returns the unsubscribe.
   */
  subscribe(listener: (event: StoreEvent) => void): () => void;
  /**
   * Tells the store that this node holds live mirrors (sockets) of `id`, so it can notice
   * that session's expiry without keyspace notifications, and catch the mirrors up on
   * changes its feed lost (`version`: the version they hold, when the caller knows it).
   * Returns the release. Optional: a store that sweeps every session itself and never
   * loses an event (MemoryStore) need not implement it.
   */
  watch?(id: string, version?: number): () => void;
  /**
   * Resolves once the store is connected and its change feed is listening (RedisStore's
   * subscription is asynchronous). Optional: stores that are ready at once need not have it.
   */
  ready?(): Promise<void>;
  /** Stops timers and connections the store created. */
  close(): Promise<void>;
}
