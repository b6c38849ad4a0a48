/**
 * The store interface. Every store (MemoryStore, RedisStore, yours) implements it, and the
 * rest of the server never knows which one it has. Everything that must be atomic with a
 * change happens inside `apply`. Promises only, never callbacks.
 *
 * Device notes (`ApplyOptions.device`, `TouchOptions.device`, and `createdAt` / `device` in
 * what `sessionsOf` answers) are optional for a store: one that ignores them keeps working,
 * and its sessions are listed with `createdAt: null` and an unknown device.
 */
import type { EndReason, JsonObject, Op } from '../../shared/index.js';

/**
 * Where an answer about a record carries the record's creation time and idle deadline: a
 * symbol-keyed slot, so `get` and `apply` answers still compare and serialize as their
 * documented shapes (`{ data, version, user? }`, `{ version, ops, changed }`). A custom store
 * may fill it (`answer[TIMES] = { epoch, expires }`); without it the route and the hello
 * answers say `epoch: null`. `Symbol.for`, so two copies of this package agree on it.
 */
export const TIMES: unique symbol = Symbol.for('session-sync.times') as never;

/** A record's creation time and, in answers about it, its idle deadline (epoch ms). */
export interface RecordTimes {
  epoch: number;
  expires?: number;
}

/** A stored session as `get` returns it. */
export interface StoredSession {
  data: JsonObject;
  /** +1 per committed change that changed something; 0 never exists in a store. */
  version: number;
  /** The user the session belongs to (option `user`), when it has one. */
  user?: string;
  /** When the record was created and its idle deadline (last activity + ttl, never past the absolute deadline). */
  [TIMES]?: RecordTimes;
}

/**
 * When a write may land, decided by the store atomically with the apply (an ended session
 * never comes back, whatever races it):
 * - `{ exists: true }`: only while the record exists (a handle that loaded a live record,
 *   `update()`, `updateUser()`); otherwise `ended`, and nothing is stored.
 * - `{ adopt: issued }`: the first write to an id issued early (its cookie issued at
 *   `issued`, epoch ms) may create the record, at most once per id and only before
 *   `issued + min(ttl, absolute)`; a record that exists takes the write; an id whose record
 *   was created and ended, or whose window has passed, is `ended`.
 * Without a condition a write creates the record when there is none (the raw primitive;
 * session-sync itself always passes one).
 */
export type WriteCondition = { exists: true } | { adopt: number };

/** The change a `check` judges: the data before and after the ops, and the text that will be stored. */
export interface CheckedChange {
  before: JsonObject;
  after: JsonObject;
  /** `after` as JSON text (what the store keeps). */
  text: string;
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
  /** When the write may land (see {@link WriteCondition}); `ended` otherwise. */
  when?: WriteCondition;
  /**
   * Judges the change against the data it is actually applied to (validators, size rules),
   * inside the apply: under the per-session order of applies, re-run on every
   * compare-and-set retry. It throws (or rejects) to refuse, and the store then stores
   * nothing and rejects with that error. May be asynchronous. A store MUST call it for every
   * change that changes something; session-sync fails loudly when a store does not.
   */
  check?: (change: CheckedChange) => void | Promise<void>;
  /**
   * A device note to keep with the record when this apply leaves one (created, changed, or
   * unchanged but live): replaces the note held, beside the data and never inside it — no
   * version bump, no change event. Optional for a store: one that ignores it lists sessions
   * without `device`.
   */
  device?: DeviceNote;
}

/**
 * What a session's requests and handshakes said about the client, kept beside its data
 * (never in it) for `sessionsOf()`. session-sync refreshes it at most once per `ttl / 100`
 * per session on each node.
 */
export interface DeviceNote {
  /** The raw `User-Agent` header (cut to 512 characters), when there was one. */
  userAgent?: string;
  /** The client's IP address, only with the option `deviceIp: true`. */
  ip?: string;
}

/** Options of `touch`. */
export interface TouchOptions {
  /** A device note to keep with the record (see {@link ApplyOptions.device}); ignored without a record. */
  device?: DeviceNote;
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
  /** The record's creation time and its idle deadline after this apply, when there is a record. */
  [TIMES]?: RecordTimes;
}

/** One committed change, as kept in the history and sent on the change feed. */
export interface StoredPatch {
  version: number;
  base: number;
  ops: Op[];
  mutation?: string;
}

/** A change on the feed: the patch, and for the change that created the record, its epoch. */
export interface ChangeEvent extends StoredPatch {
  type: 'change';
  id: string;
  /** On the change that created the record (base 0): its creation time (`epoch` in the JSON a RedisStore publishes). */
  [TIMES]?: RecordTimes;
  /**
   * The whole data after the change, from a store in this process that keeps it anyway
   * (MemoryStore): shared and frozen, so a listener holding the session need not apply the
   * ops to its own copy again. Never on the wire.
   */
  [DATA]?: JsonObject;
}

/** Where a change event may carry the data after it (see {@link ChangeEvent}). */
export const DATA: unique symbol = Symbol.for('session-sync.data') as never;

/** What the change feed carries, from every node. */
export type StoreEvent = ChangeEvent | { type: 'end'; id: string; reason: EndReason };

/** One entry of `sessionsOf`. */
export interface UserSession {
  id: string;
  version: number;
  /** Epoch ms of the last write or touch. */
  lastActive: number;
  /** When the record was created (its epoch), epoch ms. Optional for a store; ours always set it. */
  createdAt?: number;
  /** The device note last kept (see {@link ApplyOptions.device}), when the store keeps notes and has one. */
  device?: DeviceNote;
}

/** Options of `destroy`. */
export interface DestroyOptions {
  /**
   * Publish the end event only once this settles (the record is gone at once).
   * `regenerate()` uses it so the old id's sockets are told after the response carrying
   * the new cookie has finished.
   */
  announceAfter?: PromiseLike<unknown>;
  /**
   * The end of the id's adoption window (epoch ms: its cookie's issue time + min(ttl,
   * absolute)). Until then the store remembers the id as ended even when it had no record,
   * so a first write racing the end (a socket of a tab that never wrote, during sign-in)
   * cannot adopt it afterwards. Absent or past: nothing more to remember.
   */
  adoptableUntil?: number;
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
   * the change — all or nothing. Creates the record when there is none and `when` allows it.
   * A change that changes nothing stores and publishes nothing but still refreshes the idle
   * lifetime.
   *
   * @throws SessionSyncError `invalid` (an op cannot apply), `too_large`, `ended` (`when`
   *   refused), `store_unavailable`; or what `check` threw
   */
  apply(id: string, ops: readonly Op[], options: ApplyOptions): Promise<ApplyResult>;
  /**
   * Optional: `apply`, answered at once by a store that can (MemoryStore): the answer, or a
   * throw, synchronously — or a promise when it must wait (an asynchronous `check`, or another
   * apply of the session waiting on one). Lets a request end without waiting for a tick.
   */
  applySync?(id: string, ops: readonly Op[], options: ApplyOptions): ApplyResult | Promise<ApplyResult>;
  /**
   * Optional: `get`, answered at once by a store that can (MemoryStore). The data is shared
   * and frozen: read it, never change it.
   */
  getSync?(id: string): StoredSession | undefined;
  /**
   * Why an id without a live record ended, when the store still knows (within the id's
   * adoption window): the reason, or `'expired'` when it knows the record was created and is
   * gone. Undefined when the id never had a record (or the store has forgotten). Optional:
   * a store without it cannot tell a dead id from a new one before a write is refused.
   */
  endOf?(id: string): Promise<EndReason | undefined>;
  /** The patches after `version` (possibly `[]`), or undefined when history no longer reaches back. */
  since(id: string, version: number): Promise<StoredPatch[] | undefined>;
  /** Removes the record and publishes an end event; true when there was one. */
  destroy(id: string, reason: EndReason, options?: DestroyOptions): Promise<boolean>;
  /**
   * Refreshes the idle lifetime without changing anything (activity). `options.device`
   * replaces the record's device note (no version bump, no event); a store may ignore it.
   */
  touch(id: string, ttl: number, options?: TouchOptions): Promise<void>;
  /**
   * The live sessions of a user, each with `createdAt` and `device` when the store keeps
   * them (both optional, so a store written before them keeps working).
   */
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
