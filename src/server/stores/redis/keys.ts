/**
 * The Redis key layout of `RedisStore`, one layout for a single Redis and for Redis Cluster.
 *
 * | key                      | type   | holds                                                        |
 * |--------------------------|--------|--------------------------------------------------------------|
 * | `{prefix}s:{<id>}`       | hash   | `d` data as JSON text (encoded by Node, never by Lua), `v` version, `w` the mark of the write that made this version (the compare-and-set checks it beside `v`), `c` created (epoch ms), `a` absolute deadline (epoch ms), `t` last active (epoch ms), `u` user (when indexed), `ua` / `ip` the device note (when known; beside the data, never in it) |
 * | `{prefix}h:{<id>}`       | list   | the last `history` patches as JSON text `{ version, base, ops, mutation? }`, oldest first |
 * | `{prefix}m:{<id>}`       | hash   | mutation id → the version it was first applied at (its answer) |
 * | `{prefix}o:{<id>}`       | list   | mutation ids in arrival order, capped at 256 (the oldest leaves `m` too) |
 * | `{prefix}x:{<id>}`       | string | a short-lived tombstone after `destroy` holding the end reason once announced (`pending` before), so expiry watchers neither report a destroyed session as expired nor miss its end |
 * | `{prefix}b:{<id>}`       | string | the born mark of an id whose record was created by adoption: `live`, then the end reason; it lives until the id's adoption window closes (the cookie's issue time + min(ttl, absolute)), so an ended id is never adopted again |
 * | `{prefix}u:{<user>}`     | zset   | a SUPERSET of the sessions of one user, each scored by when it was added (epoch ms, that Redis' clock); verified and pruned on read; the key outlives every member |
 * | channel `{prefix}events` | pub/sub | every change and end, as JSON text `StoreEvent` |
 *
 * The braces are Redis Cluster hash tags: every key of one session hashes to the slot of its
 * id, so the scripts that touch a session (apply, destroy, touch) each run in one slot, on one
 * primary, atomically. The user index hashes to the slot of the user, usually another one, so
 * no session script touches it: Node maintains it around the apply (see `user-index.ts`).
 * Scripts get every key they touch in KEYS, never build one.
 *
 * An ioredis client's own `keyPrefix` goes in front of all of these (ioredis adds it to every
 * key argument). Every key of one session gets the same PEXPIRE = min(ttl, absolute deadline
 * - now) on each apply and touch, so they vanish together.
 */

/** The keys of one session, in the order the Lua scripts take them. */
export interface SessionKeys {
  /** The record hash. */
  record: string;
  /** The patch history list. */
  history: string;
  /** Mutation id → answer hash. */
  mutations: string;
  /** Mutation ids in arrival order. */
  order: string;
  /** Tombstone after destroy. */
  tombstone: string;
  /** Born mark while the adoption window is open. */
  born: string;
}

/**
 * The keys of session `id` under `prefix`, all in the hash slot of `{<id>}`.
 *
 * @param prefix - the store's key prefix, e.g. `'session-sync:'`
 * @param id - the session id
 * @returns every key of that session
 * @example
 * sessionKeys('session-sync:', 'abc').record // 'session-sync:s:{abc}'
 */
export function sessionKeys(prefix: string, id: string): SessionKeys {
  const tag = `{${id}}`;
  return {
    record: `${prefix}s:${tag}`,
    history: `${prefix}h:${tag}`,
    mutations: `${prefix}m:${tag}`,
    order: `${prefix}o:${tag}`,
    tombstone: `${prefix}x:${tag}`,
    born: `${prefix}b:${tag}`,
  };
}

/**
 * The user-index key of `user` under `prefix`, in the hash slot of `{<user>}`.
 *
 * @param prefix - the store's key prefix
 * @param user - the user id
 * @returns the sorted-set key
 * @example
 * userKey('session-sync:', 'alice') // 'session-sync:u:{alice}'
 */
export function userKey(prefix: string, user: string): string {
  return `${prefix}u:{${user}}`;
}
