/**
 * `RedisStore`: sessions in Redis for more than one process or machine, on one Redis (with or
 * without Sentinel) or on a Redis Cluster, with one key layout and one code path. The parts:
 * key layout in `keys.ts`, Lua in `scripts.ts`, the connections in `connect.ts` and the
 * fail-fast command connection in `client.ts`, the apply loop in `apply.ts`, ends in `end.ts`,
 * the user index (a superset, kept around the applies) in `user-index.ts`, the change feed in
 * `feed.ts`, expiry and missed messages in `watch.ts` with its reads in `catch-up.ts`.
 *
 * Applies to one id from one node are queued locally (`KeyedQueue`), so the compare-and-set
 * in Redis only ever races with other nodes.
 */
import type { EndReason, Op } from '../../../shared/index.js';
import { END_REASONS, isPlainObject } from '../../../shared/index.js';
import { KeyedQueue, withTimes } from '../common.js';
import type {
  ApplyOptions,
  ApplyResult,
  DestroyOptions,
  SessionStore,
  StoredPatch,
  StoredSession,
  StoreEvent,
  TouchOptions,
  UserSession,
} from '../store.js';
import { applyChange, noteArgs, parseData } from './apply.js';
import { KnownRecords } from './known-records.js';
import { catchUp, readStates } from './catch-up.js';
import { CommandConnection, type StoreContext } from './client.js';
import { connect, type RedisStoreTarget } from './connect.js';
import { SessionEnds } from './end.js';
import { ChangeFeed } from './feed.js';
import type { RedisClientOptions } from './ioredis.js';
import { sessionKeys } from './keys.js';
import { runScript, SINCE, TOUCH } from './scripts.js';
import { UserIndex } from './user-index.js';
import { ExpiryWatcher } from './watch.js';

export type { RedisStoreTarget } from './connect.js';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /** Prefix of every key and of the channel; no `{` or `}` (the store's hash tags). Default `'session-sync:'`. */
  prefix?: string;
  /** Patches kept per session for `since` (hello deltas). Default 50. */
  history?: number;
  /** The node-wide pub/sub channel. Default `${prefix}events`. */
  channel?: string;
  /** ms between expiry checks of watched sessions. Default 1000. */
  watchInterval?: number;
  /** ms after which a Redis call fails with `store_unavailable`. Default 2000. */
  timeout?: number;
  /**
   * ioredis options for the connections the store creates: `RedisOptions` with `{ url }`,
   * `ClusterOptions` with `{ cluster }` (merged over the store's defaults).
   */
  clientOptions?: RedisClientOptions;
}

const OPTION_NAMES = ['prefix', 'history', 'channel', 'watchInterval', 'timeout', 'clientOptions'] as const;

function positive(value: unknown, name: string, integer = false): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new TypeError(
      `session-sync: RedisStore option \`${name}\` must be a positive ${integer ? 'integer' : 'number'}`,
    );
  }
}

/**
 * A `SessionStore` in Redis: atomic versioned applies from many nodes, expiry by Redis, and a
 * change feed on one pub/sub channel shared by every node. Works on one Redis, behind
 * Sentinel (`{ client: new Redis({ sentinels, name }) }`) and on Redis Cluster.
 *
 * @example
 * import { createSessionSync, RedisStore } from 'session-sync/server'
 * const session = createSessionSync({ store: new RedisStore({ url: process.env.REDIS_URL }) })
 * // share your ioredis client (the store duplicates it for pub/sub and leaves it open):
 * new RedisStore({ client: redis }, { prefix: 'myapp:' })
 * // Redis Cluster: your Cluster client, or the startup nodes (the store creates and closes it)
 * new RedisStore({ cluster: [{ host: '10.0.0.1', port: 6379 }], clientOptions: { redisOptions: { password } } })
 */
export class RedisStore implements SessionStore {
  private readonly ctx: StoreContext;
  private readonly ownsClient: boolean;
  private readonly index: UserIndex;
  private readonly ends: SessionEnds;
  private readonly feed: ChangeFeed;
  private readonly watcher: ExpiryWatcher;
  private readonly queue = new KeyedQueue();
  private readonly known = new KnownRecords();
  private closed = false;

  /**
   * @param target - `{ url }` (the store creates and closes its connections), `{ client }` (an
   *   ioredis `Redis` or `Cluster`: used for commands and duplicated for pub/sub; not closed
   *   by `close()`) or `{ cluster: nodes }` (the store creates and closes a `Cluster`). The
   *   options below may sit beside it, or in the second argument (which wins).
   * @param options - `prefix`, `history`, `channel`, `watchInterval`, `timeout`, `clientOptions`
   * @throws TypeError naming the bad option
   */
  constructor(target: RedisStoreTarget & RedisStoreOptions, options: RedisStoreOptions = {}) {
    if (!target || typeof target !== 'object')
      throw new TypeError('session-sync: RedisStore needs { url }, { client } or { cluster }');
    const merged: RedisStoreOptions = {};
    for (const name of OPTION_NAMES) if (target[name] !== undefined) Object.assign(merged, { [name]: target[name] });
    const {
      prefix = 'session-sync:',
      history = 50,
      watchInterval = 1000,
      timeout = 2000,
      clientOptions = {},
    } = Object.assign(merged, options);
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
      throw new TypeError('session-sync: RedisStore option `prefix` must be a string without { or }');
    }
    positive(history, 'history', true);
    positive(watchInterval, 'watchInterval');
    positive(timeout, 'timeout');
    if (!isPlainObject(clientOptions))
      throw new TypeError('session-sync: RedisStore option `clientOptions` must be an object');
    const channel = merged.channel ?? `${prefix}events`;
    if (typeof channel !== 'string' || channel === '') {
      throw new TypeError('session-sync: RedisStore option `channel` must be a non-empty string');
    }
    const { client, owns, subscriber } = connect(target, clientOptions);
    this.ownsClient = owns;
    this.ctx = { conn: new CommandConnection(client, timeout), prefix, channel, history, timeout };
    this.index = new UserIndex(this.ctx);
    this.ends = new SessionEnds(this.ctx, this.index);
    // What the watcher finds goes to this node's listeners only: every node watches its own sockets.
    this.watcher = new ExpiryWatcher(watchInterval, {
      check: (ids) => readStates(this.ctx, ids),
      expired: (id) => this.feed.deliver({ type: 'end', id, reason: 'expired' }),
      ended: (id, reason) => this.feed.receive({ type: 'end', id, reason }),
      missed: (id, after) =>
        catchUp(
          this.ctx,
          id,
          after,
          () => this.watcher.delivered(id),
          (event) => this.feed.receive(event),
        ),
    });
    this.feed = new ChangeFeed(channel, subscriber, (event) => {
      if (event.type === 'change') {
        this.watcher.noteChange(event.id, event.version);
        this.known.saw(event.id, event.version);
      } else {
        this.watcher.noteEnd(event.id);
        this.known.forget(event.id);
      }
    });
    // Whatever was published while the feed was not subscribed is lost: catch up at once.
    this.feed.onResubscribed = () => void this.watcher.tick(true);
  }

  /**
   * Resolves once the command connection answers and, when something subscribed, the
   * change feed is subscribed (a test or a health check may await it).
   *
   * @returns when ready
   * @throws SessionSyncError `store_unavailable` when Redis does not answer in time
   * @example
   * await store.ready()
   */
  async ready(): Promise<void> {
    await this.ctx.conn.run('ping', (c) => c.ping());
    await this.feed.ready();
  }

  /** {@inheritDoc SessionStore.get} */
  async get(id: string): Promise<StoredSession | undefined> {
    const keys = sessionKeys(this.ctx.prefix, id);
    // One slot (the session's), so one pipeline even on a cluster.
    const [[d, v, u, c, w], left] = await this.ctx.conn.run('get', async (client) => {
      const replies =
        (await client.pipeline().hmget(keys.record, 'd', 'v', 'u', 'c', 'w').pttl(keys.record).exec()) ?? [];
      for (const [err] of replies) if (err) throw err;
      return [replies[0]![1] as (string | null)[], replies[1]![1] as number] as const;
    });
    if (!v) {
      this.known.forget(id);
      return undefined;
    }
    const session: StoredSession = { data: parseData(d ?? null, id), version: Number(v) };
    this.known.remember(id, { version: session.version, mark: w ?? '', text: d ?? '{}', user: u ?? '' });
    if (u) session.user = u;
    return withTimes(session, c && left > 0 ? { epoch: Number(c), expires: Date.now() + left } : undefined);
  }

  /** {@inheritDoc SessionStore.endOf} */
  async endOf(id: string): Promise<EndReason | undefined> {
    const keys = sessionKeys(this.ctx.prefix, id);
    const [exists, born] = await this.ctx.conn.run('endOf', (c) =>
      Promise.all([c.exists(keys.record), c.get(keys.born)]),
    );
    if (exists || born === null) return undefined;
    // 'live' while the record exists; a record that is gone without a destroy expired.
    return (END_REASONS as readonly string[]).includes(born) ? (born as EndReason) : 'expired';
  }

  /** {@inheritDoc SessionStore.apply} */
  apply(id: string, ops: readonly Op[], options: ApplyOptions): Promise<ApplyResult> {
    try {
      positive(options?.ttl, 'ttl');
      positive(options?.absolute, 'absolute');
    } catch (err) {
      return Promise.reject(err);
    }
    // Applies to one id leave this node in order, each sent right behind the one before,
    // built on what that one will have written: one round trip each, pipelined.
    return this.queue.pipeline(id, (sent) => applyChange(this.ctx, this.index, this.known, id, ops, options, sent));
  }

  /** {@inheritDoc SessionStore.since} */
  async since(id: string, version: number): Promise<StoredPatch[] | undefined> {
    const keys = sessionKeys(this.ctx.prefix, id);
    const [current, ...texts] = (await this.ctx.conn.run('since', (c) =>
      runScript(c, SINCE, [keys.record, keys.history], []),
    )) as string[];
    const now = Number(current);
    // No record (never written, expired, destroyed): nothing to replay, the mirror must reload.
    if (now === 0 || !Number.isSafeInteger(version) || version < 0 || version > now) return undefined;
    if (version === now) return [];
    const patches = texts.map((t) => JSON.parse(t) as StoredPatch).filter((p) => p.version > version);
    if (patches[0]?.version !== version + 1 || patches[patches.length - 1]!.version !== now) return undefined;
    return patches;
  }

  /** {@inheritDoc SessionStore.destroy} */
  async destroy(id: string, reason: EndReason, options: DestroyOptions = {}): Promise<boolean> {
    this.known.forget(id);
    return (await this.ends.take(id, reason, options)) !== undefined;
  }

  /**
   * Ends a session like {@link RedisStore.destroy} and answers what it held, in one script:
   * no write can land between the read and the end (`regenerate()` copies from it).
   *
   * @param id - the session id
   * @param reason - why it ends
   * @param options - `announceAfter`
   * @returns the record as it was, or undefined when there was none
   * @example
   * const was = await store.take(id, 'regenerated')
   */
  take(id: string, reason: EndReason, options: DestroyOptions = {}): Promise<StoredSession | undefined> {
    this.known.forget(id);
    return this.ends.take(id, reason, options);
  }

  /** {@inheritDoc SessionStore.touch} */
  async touch(id: string, ttl: number, options?: TouchOptions): Promise<void> {
    positive(ttl, 'ttl');
    const keys = sessionKeys(this.ctx.prefix, id);
    await this.ctx.conn.run('touch', (c) =>
      runScript(
        c,
        TOUCH,
        [keys.record, keys.history, keys.mutations, keys.order],
        [Math.ceil(ttl), ...noteArgs(options?.device)],
      ),
    );
  }

  /**
   * The live sessions of a user: the members of its index whose record exists and names
   * that user (the index is a superset; what fails the check is pruned).
   *
   * @param user - the user
   * @returns each session's id, version, times and device note
   * @example
   * const sessions = await store.sessionsOf('alice')
   */
  sessionsOf(user: string): Promise<UserSession[]> {
    return this.index.list(user);
  }

  /** {@inheritDoc SessionStore.subscribe} */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('session-sync: subscribe(listener) needs a function');
    return this.feed.add(listener);
  }

  /** {@inheritDoc SessionStore.watch} */
  watch(id: string, version?: number): () => void {
    return this.watcher.watch(id, version);
  }

  /**
   * Stops the expiry timer and the change feed, sends end announcements still waiting, lets
   * running applies finish, and closes the connections the store created (never your client).
   *
   * @returns when closed
   * @example
   * await store.close()
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watcher.stop();
    const announced = this.ends.close();
    await this.queue.idle();
    // Let the announcements above reach Redis before the connection goes.
    await announced;
    const { conn } = this.ctx;
    conn.close();
    this.feed.close();
    if (this.ownsClient) {
      const client = conn.client;
      if (client.status === 'ready') await client.quit().catch(() => undefined);
      client.disconnect();
    }
  }
}
