/**
 * The user index of `RedisStore`: `{prefix}u:{<user>}`, a sorted set in the USER's hash slot.
 * On Redis Cluster that is usually another slot (another primary) than the session's, so no
 * session script may touch it and no transaction spans both. The same code runs on a single
 * Redis: one layout, one code path.
 *
 * THE INVARIANT: every live session whose record names user U is in U's index. The index is
 * a superset; what it holds beyond that is filtered out on every read. How it holds:
 * - Add BEFORE: an apply that makes a record name U (a new record, or a change of user)
 *   first adds the session to U's index (INDEX_ADD), and only then runs. A crash between the
 *   two leaves an extra member, never a missing one.
 * - Remove AFTER, lazily and best effort: once a record names another user (or has ended),
 *   Node prunes it from the old user's index. A crash before leaves an extra member.
 * - Verify on read: `sessionsOf` (and so `devices()`, `destroyUser`, `updateUser`) reads the
 *   record of every member and lists only those that exist and name U; it prunes the others.
 * - No prune removes a member added less than `grace` ago: it may belong to an apply on its
 *   way (added, not yet landed), which a reader sees as a record not naming U. The apply
 *   refuses to land more than `limit` after its add (APPLY answers 'reindex' and Node adds
 *   again), and a prune refuses to land more than `timeout` after the read it is based on,
 *   so a member a prune may remove was added before any apply still able to land. Each rule
 *   is judged by a Redis clock; `grace - limit - timeout` (2 × timeout) absorbs the skew
 *   between the clocks of two cluster nodes.
 * A score is the time of the add and nothing else: members are never pruned for their age
 * alone, and touches do not move scores, so a stale score can never hide a live session.
 * What can break the invariant is a failover that loses an acknowledged index add (Redis
 * replication is asynchronous; see the README).
 */
import createDebug from 'debug';
import type { UserSession } from '../store.js';
import type { StoreContext } from './client.js';
import { sessionKeys, userKey } from './keys.js';
import { INDEX_ADD, INDEX_PRUNE, INDEX_READ, runScript } from './scripts.js';

const debug = createDebug('session-sync:redis');

// The index key lives at least this long past `absolute` after each add: a record's absolute
// deadline is set from a Node clock, the index key's expiry from a Redis clock.
const KEEP_MARGIN_MS = 60_000;

/** The user index of one store. */
export class UserIndex {
  /** An apply lands at most this long after its index add (ms, by the Redis clocks). */
  readonly limit: number;
  /** A member younger than this is never pruned (ms). */
  readonly grace: number;

  /**
   * @param ctx - the store's connection and names
   */
  constructor(private readonly ctx: StoreContext) {
    this.limit = 2 * ctx.timeout;
    this.grace = 5 * ctx.timeout;
  }

  /**
   * Adds session `id` to `user`'s index, ahead of the apply that will make its record name
   * that user, and keeps the index key alive at least `absolute` more.
   *
   * @param user - the user the apply will set
   * @param id - the session id
   * @param absolute - the session's longest lifetime, ms
   * @returns the time (epoch ms, that Redis' clock) by which the apply must land
   * @throws SessionSyncError `store_unavailable`
   * @example
   * const landBy = await index.add('alice', id, 30 * 86_400_000)
   */
  async add(user: string, id: string, absolute: number): Promise<number> {
    const keep = Math.ceil(absolute) + KEEP_MARGIN_MS;
    const added = await this.ctx.conn.run('user index', (c) =>
      runScript(c, INDEX_ADD, [userKey(this.ctx.prefix, user)], [id, keep]),
    );
    return Number(added) + this.limit;
  }

  /**
   * Removes sessions that no longer belong to `user` from its index, best effort (a failure
   * only leaves extra members, which reads filter out).
   *
   * @param user - the user
   * @param ids - sessions whose record no longer names `user`
   * @param basedOn - the time (epoch ms, a Redis clock) of the reading that showed it
   * @returns when done; never rejects
   * @example
   * await index.prune('alice', [id], now)
   */
  async prune(user: string, ids: readonly string[], basedOn: number): Promise<void> {
    if (ids.length === 0) return;
    const notAfter = basedOn + this.ctx.timeout;
    try {
      await this.ctx.conn.run('user index', (c) =>
        runScript(c, INDEX_PRUNE, [userKey(this.ctx.prefix, user)], [this.grace, notAfter, ...ids]),
      );
    } catch (err) {
      debug('pruning the index of a user failed (left for a later read): %s', (err as Error).message);
    }
  }

  /**
   * The live sessions of `user`: every member whose record exists and names that user, with
   * its times and device note; the members that fail the check are pruned.
   *
   * @param user - the user
   * @returns the sessions, in the index's order
   * @throws SessionSyncError `store_unavailable`
   * @example
   * const sessions = await index.list('alice')
   */
  async list(user: string): Promise<UserSession[]> {
    const { conn, prefix } = this.ctx;
    const key = userKey(prefix, user);
    const [readAt, ...ids] = (await conn.run('sessionsOf', (c) => runScript(c, INDEX_READ, [key], []))) as string[];
    // One command per record, all sent at once: on a cluster each goes to its own slot's
    // primary, never a multi-key command across slots.
    const rows = await conn.run('sessionsOf', (c) =>
      Promise.all(ids.map((id) => c.hmget(sessionKeys(prefix, id).record, 'v', 't', 'u', 'c', 'ua', 'ip'))),
    );
    const out: UserSession[] = [];
    const stale: string[] = [];
    ids.forEach((id, i) => {
      const [version, active, owner, created, userAgent, ip] = rows[i] ?? [];
      if (!version || owner !== user) {
        stale.push(id);
        return;
      }
      const entry: UserSession = { id, version: Number(version), lastActive: Number(active ?? 0) };
      if (created) entry.createdAt = Number(created);
      if (userAgent || ip) {
        entry.device = {};
        if (userAgent) entry.device.userAgent = userAgent;
        if (ip) entry.device.ip = ip;
      }
      out.push(entry);
    });
    await this.prune(user, stale, Number(readAt));
    return out;
  }
}
