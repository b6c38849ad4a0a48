/**
 * The command connection of `RedisStore`, wrapped so that every call either answers or
 * fails with `store_unavailable` within a bounded time: during an outage requests must get
 * a clean 503, never hang on an offline queue, and never leave an unhandled rejection.
 */
import createDebug from 'debug';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { SessionSyncError } from '../../../shared/index.js';

const debug = createDebug('session-sync:redis');

/** What commands go through: one Redis (or a Sentinel-managed one), or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * Whether a client is an ioredis `Cluster`, told by shape (an application may load another
 * copy of ioredis than ours, so `instanceof` cannot tell).
 *
 * @param client - an ioredis client
 * @returns true for a Cluster
 * @example
 * isCluster(new Cluster([{ host: '127.0.0.1', port: 7000 }])) // true
 */
export function isCluster(client: unknown): client is Cluster {
  const c = client as { isCluster?: unknown; nodes?: unknown } | null;
  return !!c && c.isCluster === true && typeof c.nodes === 'function';
}

/**
 * Client options for connections the store creates itself. ioredis reconnects by itself
 * with backoff and resubscribes pub/sub channels after a reconnect (`autoResubscribe`),
 * which is why it was chosen over node-redis: the change feed heals without our code.
 * - `maxRetriesPerRequest: 0`: commands in flight when the link drops are failed at once
 *   (the default waits for 20 reconnect attempts); new ones are not queued at all, see `gate`.
 * - `autoResendUnfulfilledCommands: false`: such a command is never replayed after we
 *   already told the caller it failed (a retry with its mutation id is the safe replay).
 * - a reconnect backoff capped at 1 s, so recovery is noticed quickly.
 */
export const COMMAND_DEFAULTS: RedisOptions = {
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  connectTimeout: 2000,
  retryStrategy: (times: number) => Math.min(times * 100, 1000),
};

/**
 * Options for a Cluster the store creates (`{ cluster: nodes }`). ioredis follows MOVED and
 * ASK redirections, refreshes the slot map and retries CLUSTERDOWN and TRYAGAIN answers (none
 * of which ran the command) by itself; that is how a failover is ridden out. But
 * `retryDelayOnFailover: 0`: a command whose connection closed under it may have run on
 * the primary that died, and ioredis would send it again to the promoted replica — a
 * write applied twice; it fails instead (`store_unavailable`), as on a single Redis (see
 * `autoResendUnfulfilledCommands` above). No auto-pipelining: ioredis already writes
 * concurrent commands to a node's connection without waiting for answers, and its per-tick
 * batching cost applies here (measured: 50 concurrent applies on 3 primaries, 7,000–8,100/s
 * with it, 8,900–14,300/s without); pass `enableAutoPipelining: true` to have it.
 */
export const CLUSTER_DEFAULTS: ClusterOptions = {
  retryDelayOnFailover: 0,
  redisOptions: {
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: 2000,
  },
};

/**
 * The subscriber connection waits as long as it takes: its SUBSCRIBE must not be dropped
 * while Redis is down at start, and ioredis replays it after every reconnect.
 */
export const SUBSCRIBER_OVERRIDES: Partial<RedisOptions> = {
  maxRetriesPerRequest: null,
  enableOfflineQueue: true,
  autoResubscribe: true,
};

/**
 * Wraps `err` as `store_unavailable` (or returns it when it already is a SessionSyncError).
 *
 * @param err - what the client threw
 * @param what - the operation, for the message
 * @returns the error to throw
 * @example
 * throw toStoreError(err, 'apply')
 */
export function toStoreError(err: unknown, what: string): SessionSyncError {
  if (err instanceof SessionSyncError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new SessionSyncError('store_unavailable', `session-sync: Redis ${what} failed: ${reason}`, { cause: err });
}

/** A command connection that fails fast. */
export class CommandConnection {
  /** The ioredis client commands go through. */
  readonly client: RedisClient;
  private everReady: boolean;
  private closed = false;
  private firstReady: Promise<void> | undefined;
  private readonly timeout: number;

  /**
   * @param client - the command client (the user's or our own)
   * @param timeout - ms after which a call counts as failed
   */
  constructor(client: RedisClient, timeout: number) {
    this.client = client;
    this.timeout = timeout;
    this.everReady = client.status === 'ready';
    client.on('ready', () => {
      this.everReady = true;
      debug('command connection ready');
    });
  }

  /** Marks the connection closed: later calls fail at once. */
  close(): void {
    this.closed = true;
  }

  /**
   * Runs `fn` against the client when it is usable, else fails with `store_unavailable` at
   * once (link known to be down) or after `timeout` (first connection, or no answer).
   *
   * @param what - the operation, for messages
   * @param fn - the commands to run
   * @returns what `fn` resolves to
   * @throws SessionSyncError `store_unavailable`
   * @example
   * const v = await conn.run('get', (c) => c.hget(key, 'v'))
   */
  async run<T>(what: string, fn: (client: RedisClient) => Promise<T>): Promise<T> {
    const started = Date.now();
    await this.gate(what);
    const left = Math.max(1, this.timeout - (Date.now() - started));
    let timer: NodeJS.Timeout | undefined;
    const work = Promise.resolve().then(() => fn(this.client));
    // The loser of the race must not become an unhandled rejection.
    work.catch((err: unknown) => debug('%s failed: %s', what, err instanceof Error ? err.message : err));
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new SessionSyncError(
              'store_unavailable',
              `session-sync: Redis ${what}: no answer within ${this.timeout} ms`,
            ),
          ),
        left,
      );
    });
    try {
      return await Promise.race([work, expired]);
    } catch (err) {
      // A cluster node went away (a failover): with `retryDelayOnFailover: 0` ioredis does not
      // refresh its slot map by itself until its next periodic refresh, so ask for one now;
      // the next call then goes to the promoted replica.
      if (isCluster(this.client) && (err as Error)?.message === 'Connection is closed.')
        this.client.refreshSlotsCache();
      throw toStoreError(err, what);
    } finally {
      clearTimeout(timer);
    }
  }

  private async gate(what: string): Promise<void> {
    const { client } = this;
    if (this.closed)
      throw new SessionSyncError('store_unavailable', `session-sync: Redis ${what}: the RedisStore is closed`);
    if (client.status === 'ready') return;
    // Once it has worked, a link that is not ready is an outage: fail now rather than queue.
    if (this.everReady || client.status === 'end' || client.status === 'close' || client.status === 'reconnecting') {
      throw new SessionSyncError('store_unavailable', `session-sync: Redis ${what}: not connected (${client.status})`);
    }
    // The very first connection is still being made: every caller waits on one shared,
    // bounded wait (one pair of listeners, not one per call in flight).
    if (client.status === 'wait') client.connect().catch((err: unknown) => debug('connect failed: %O', err));
    this.firstReady ??= new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('end', onEnd);
        this.firstReady = undefined;
        if (err) reject(err);
        else resolve();
      };
      const onReady = (): void => done();
      const onEnd = (): void =>
        done(new SessionSyncError('store_unavailable', 'session-sync: Redis: connection ended'));
      const timer = setTimeout(
        () =>
          done(
            new SessionSyncError('store_unavailable', `session-sync: Redis: not connected within ${this.timeout} ms`),
          ),
        this.timeout,
      );
      client.on('ready', onReady);
      client.on('end', onEnd);
    });
    try {
      await this.firstReady;
    } catch (err) {
      throw new SessionSyncError('store_unavailable', `${(err as Error).message} (${what})`, { cause: err });
    }
  }
}

/** What the parts of one `RedisStore` share: its connection and its names. */
export interface StoreContext {
  /** The fail-fast command connection. */
  readonly conn: CommandConnection;
  /** Prefix of every key. */
  readonly prefix: string;
  /** The node-wide pub/sub channel. */
  readonly channel: string;
  /** Patches kept per session. */
  readonly history: number;
  /** ms after which a Redis call fails (also bounds the user index's timing rules). */
  readonly timeout: number;
}
