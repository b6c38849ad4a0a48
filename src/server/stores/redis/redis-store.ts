/**
 * `RedisStore`: sessions in Redis for more than one process or machine. Key layout in
 * `redis-keys.ts`, Lua in `redis-scripts.ts`, the fail-fast command connection in
 * `redis-client.ts`, the change feed in `redis-feed.ts`, expiry without keyspace
 * notifications in `redis-watch.ts`.
 *
 * How `apply` stays atomic across nodes: Node reads the record (data as JSON text and its
 * version), applies the ops with `applyOps`, encodes the new data, the patch and the event
 * itself, then one Lua script compare-and-sets on the version and, in the same step, checks
 * and records the mutation id, stores the data, appends the patch, refreshes the lifetimes,
 * moves the user index and publishes. A lost race answers `conflict` and Node retries from
 * a fresh read. Lua never decodes a session value (its cjson turns `[]` into `{}` and cuts
 * numbers to 14 digits). Applies to one id from one node are queued locally, so the CAS
 * only ever races with other nodes.
 *
 * Redis Cluster is out of scope (the scripts build user-index keys from the prefix).
 */
import createDebug from 'debug';
import type { Redis, RedisOptions } from 'ioredis';
import {
  applyOps,
  END_REASONS,
  isPlainObject,
  MUTATION_MEMORY,
  SessionSyncError,
  type EndReason,
  type JsonObject,
  type Op,
} from '../../../shared/index.js';
import { adoptionWindow, assertSize, duplicateAnswer, endedError, runCheck, userAfter, withTimes } from '../common.js';
import type {
  ApplyOptions,
  ChangeEvent,
  ApplyResult,
  DestroyOptions,
  DeviceNote,
  SessionStore,
  StoredPatch,
  StoredSession,
  StoreEvent,
  TouchOptions,
  UserSession,
} from '../store.js';
import { COMMAND_DEFAULTS, CommandConnection, SUBSCRIBER_OVERRIDES } from './client.js';
import { sessionKeys, userKey } from './keys.js';
import { ANNOUNCE, APPLY, DESTROY, runScript, SESSIONS_OF, SINCE, TOUCH } from './scripts.js';
import { ChangeFeed } from './feed.js';
import { ExpiryWatcher, type WatchState } from './watch.js';
import { loadIoredis, type RedisClientLike, type RedisClientOptions } from './ioredis.js';

const debug = createDebug('session-sync:redis');

/** Where the store's Redis is: a URL (the store connects and closes), or your ioredis client (kept open on close). */
export type RedisStoreTarget = { url: string; client?: undefined } | { client: RedisClientLike; url?: undefined };

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /** Prefix of every key and of the channel. Default `'session-sync:'`. */
  prefix?: string;
  /** Patches kept per session for `since` (hello deltas). Default 50. */
  history?: number;
  /** The node-wide pub/sub channel. Default `${prefix}events`. */
  channel?: string;
  /** ms between expiry checks of watched sessions. Default 1000. */
  watchInterval?: number;
  /** ms after which a Redis call fails with `store_unavailable`. Default 2000. */
  timeout?: number;
  /** ioredis options for the connections the store creates (with `{ url }`). */
  clientOptions?: RedisClientOptions;
}

const MAX_ATTEMPTS = 50;
// Long enough for a deferred end announcement (regenerate waits for a response to finish).
const TOMBSTONE_MS = 60_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// A device note as script arguments: 'note', User-Agent, IP ('' for none), or no note at all.
function noteArgs(device: DeviceNote | undefined): [string, string, string] {
  if (!device) return ['', '', ''];
  const text = (value: unknown): string => (typeof value === 'string' ? value : '');
  return ['note', text(device.userAgent), text(device.ip)];
}

function positive(value: unknown, name: string, integer = false): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new TypeError(
      `session-sync: RedisStore option \`${name}\` must be a positive ${integer ? 'integer' : 'number'}`,
    );
  }
}

function parseData(text: string | null, id: string): JsonObject {
  try {
    const data: unknown = JSON.parse(text ?? '{}');
    if (isPlainObject(data)) return data;
  } catch {
    // fall through
  }
  throw new SessionSyncError(
    'internal',
    `session-sync: the Redis record of a session is not a JSON object (${id.slice(0, 6)}…)`,
  );
}

/**
 * A `SessionStore` in Redis: atomic versioned applies from many nodes, expiry by Redis,
 * and a change feed on one pub/sub channel shared by every node.
 *
 * @example
 * import { createSessionSync, RedisStore } from 'session-sync/server'
 * const session = createSessionSync({ store: new RedisStore({ url: process.env.REDIS_URL }) })
 * // or share your ioredis client (the store duplicates it for pub/sub and leaves it open):
 * new RedisStore({ client: redis }, { prefix: 'myapp:' })
 */
export class RedisStore implements SessionStore {
  private readonly conn: CommandConnection;
  private readonly ownsClient: boolean;
  private readonly prefix: string;
  /**
   * The prefix as the scripts see keys: ioredis adds a client's `keyPrefix` to KEYS but not
   * to the user-index keys a script builds itself, so the scripts get it added here.
   */
  private readonly luaPrefix: string;
  private readonly history: number;
  private readonly channel: string;
  private readonly feed: ChangeFeed;
  private readonly watcher: ExpiryWatcher;
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly deferred = new Map<symbol, { id: string; reason: EndReason }>();
  private closed = false;

  /**
   * @param target - `{ url }` (the store creates and closes its connections) or `{ client }`
   *   (an ioredis client: used for commands and duplicated for pub/sub; not closed by `close()`)
   * @param options - `prefix`, `history`, `channel`, `watchInterval`, `timeout`, `clientOptions`
   * @throws TypeError naming the bad option
   */
  constructor(target: RedisStoreTarget, options: RedisStoreOptions = {}) {
    if (!target || typeof target !== 'object')
      throw new TypeError('session-sync: RedisStore needs { url } or { client }');
    if (target.url !== undefined && target.client !== undefined) {
      throw new TypeError('session-sync: RedisStore takes { url } or { client }, not both');
    }
    const {
      prefix = 'session-sync:',
      history = 50,
      watchInterval = 1000,
      timeout = 2000,
      clientOptions = {},
    } = options;
    if (typeof prefix !== 'string') throw new TypeError('session-sync: RedisStore option `prefix` must be a string');
    positive(history, 'history', true);
    positive(watchInterval, 'watchInterval');
    positive(timeout, 'timeout');
    if (!isPlainObject(clientOptions))
      throw new TypeError('session-sync: RedisStore option `clientOptions` must be an object');
    const channel = options.channel ?? `${prefix}events`;
    if (typeof channel !== 'string' || channel === '') {
      throw new TypeError('session-sync: RedisStore option `channel` must be a non-empty string');
    }
    this.prefix = prefix;
    this.history = history;
    this.channel = channel;

    let client: Redis;
    let makeSubscriber: () => Redis;
    if (target.client !== undefined) {
      const c = target.client as unknown as Partial<Redis>;
      if (typeof c.duplicate !== 'function' || typeof c.evalsha !== 'function') {
        throw new TypeError('session-sync: RedisStore `client` must be an ioredis client');
      }
      client = target.client as unknown as Redis;
      this.ownsClient = false;
      makeSubscriber = () => client.duplicate(SUBSCRIBER_OVERRIDES);
    } else {
      const { url } = target;
      if (typeof url !== 'string' || url === '')
        throw new TypeError('session-sync: RedisStore `url` must be a non-empty string');
      const IORedis = loadIoredis().Redis;
      client = new IORedis(url, { ...COMMAND_DEFAULTS, ...(clientOptions as RedisOptions) });
      client.on('error', (err: Error) => debug('command connection: %s', err.message));
      this.ownsClient = true;
      makeSubscriber = () =>
        new IORedis(url, { ...COMMAND_DEFAULTS, ...(clientOptions as RedisOptions), ...SUBSCRIBER_OVERRIDES });
    }
    this.conn = new CommandConnection(client, timeout);
    this.luaPrefix = (client.options?.keyPrefix ?? '') + prefix;
    // What the watcher finds goes to this node's listeners only: every node watches its own sockets.
    this.watcher = new ExpiryWatcher(watchInterval, {
      check: (ids) => this.check(ids),
      barrier: () => this.feed.barrier(timeout),
      expired: (id) => this.feed.deliver({ type: 'end', id, reason: 'expired' }),
      ended: (id, reason) => this.feed.receive({ type: 'end', id, reason }),
      missed: (id, after) => this.catchUp(id, after),
    });
    this.feed = new ChangeFeed(channel, makeSubscriber, (event) => {
      if (event.type === 'change') this.watcher.noteChange(event.id, event.version);
      else this.watcher.noteEnd(event.id);
    });
    this.feed.onResubscribed = () => void this.watcher.tick();
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
    await this.conn.run('ping', (c) => c.ping());
    await this.feed.ready();
  }

  /** {@inheritDoc SessionStore.get} */
  async get(id: string): Promise<StoredSession | undefined> {
    const keys = sessionKeys(this.prefix, id);
    const [[d, v, u, c], left] = await this.conn.run('get', async (client) => {
      const replies = (await client.pipeline().hmget(keys.record, 'd', 'v', 'u', 'c').pttl(keys.record).exec()) ?? [];
      for (const [err] of replies) if (err) throw err;
      return [replies[0]![1] as (string | null)[], replies[1]![1] as number] as const;
    });
    if (!v) return undefined;
    const session: StoredSession = { data: parseData(d ?? null, id), version: Number(v) };
    if (u) session.user = u;
    return withTimes(session, c && left > 0 ? { epoch: Number(c), expires: Date.now() + left } : undefined);
  }

  /** {@inheritDoc SessionStore.endOf} */
  async endOf(id: string): Promise<EndReason | undefined> {
    const keys = sessionKeys(this.prefix, id);
    const [exists, born] = await this.conn.run('endOf', (c) => Promise.all([c.exists(keys.record), c.get(keys.born)]));
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
    // One apply per id at a time on this node: the CAS then races only with other nodes.
    const previous = this.queues.get(id) ?? Promise.resolve();
    const run = previous.then(() => this.applyNow(id, ops, options));
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return run;
  }

  private async applyNow(id: string, ops: readonly Op[], options: ApplyOptions): Promise<ApplyResult> {
    const keys = sessionKeys(this.prefix, id);
    const mutation = options.mutation ?? '';
    const when = options.when;
    const condition = when === undefined ? '' : 'exists' in when ? 'exists' : 'adopt';
    const adoptUntil = when && 'adopt' in when ? when.adopt + adoptionWindow(options) : 0;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const [[text, stored], seen] = await this.conn.run('apply', (c) =>
        Promise.all([
          c.hmget(keys.record, 'd', 'v'),
          mutation ? c.hget(keys.mutations, mutation) : Promise.resolve(null),
        ]),
      );
      if (seen) return duplicateAnswer(Number(seen));
      const base = stored ? Number(stored) : 0;
      // The script decides again, atomically; this only spares a round trip.
      if (base === 0 && condition === 'exists') throw endedError();
      const before = base ? parseData(text ?? null, id) : {};
      const { data, changed } = applyOps(before, ops);
      if (!changed && base === 0) return { version: 0, ops: [...ops], changed: false };
      let dataText = '';
      if (changed) {
        dataText = JSON.stringify(data);
        assertSize(dataText, options.maxSize);
        // Judged against the data read in THIS attempt: a lost race re-reads and re-judges.
        await runCheck(options, { before, after: data, text: dataText });
      }
      const patch: StoredPatch = { version: base + 1, base, ops: [...ops] };
      if (options.mutation !== undefined) patch.mutation = options.mutation;
      const epoch = Date.now();
      // The published JSON names the creation time `epoch`; the feed reads it into TIMES.
      const event = base === 0 ? { type: 'change', id, ...patch, epoch } : { type: 'change', id, ...patch };
      const setUser = changed && options.user !== undefined;
      const answer = (await this.conn.run('apply', (c) =>
        runScript(
          c,
          APPLY,
          [keys.record, keys.history, keys.mutations, keys.order, keys.born],
          [
            id,
            this.luaPrefix,
            base,
            changed ? '1' : '0',
            dataText,
            changed ? JSON.stringify(patch) : '',
            changed ? JSON.stringify(event) : '',
            this.channel,
            mutation,
            Math.ceil(options.ttl),
            Math.ceil(options.absolute),
            this.history,
            MUTATION_MEMORY,
            setUser ? 'set' : 'keep',
            setUser ? (userAfter(options, data) ?? '') : '',
            condition,
            adoptUntil,
            epoch,
            ...noteArgs(options.device),
          ],
        ),
      )) as string[];
      if (answer[0] === 'dup') return duplicateAnswer(Number(answer[1]));
      if (answer[0] === 'ended') throw endedError();
      if (answer[0] === 'ok') {
        const result: ApplyResult = { version: Number(answer[1]), ops: [...ops], changed: answer[2] === '1' };
        return withTimes(result, answer[3] ? { epoch: Number(answer[3]), expires: Number(answer[4]) } : undefined);
      }
      debug('apply conflict on attempt %d (version now %s)', attempt, answer[1]);
      await sleep(Math.random() * Math.min(5 * attempt, 50));
    }
    throw new SessionSyncError(
      'store_unavailable',
      `session-sync: Redis apply lost ${MAX_ATTEMPTS} version races in a row`,
    );
  }

  /** {@inheritDoc SessionStore.since} */
  async since(id: string, version: number): Promise<StoredPatch[] | undefined> {
    const keys = sessionKeys(this.prefix, id);
    const [current, ...texts] = (await this.conn.run('since', (c) =>
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
    return (await this.take(id, reason, options)) !== undefined;
  }

  /**
   * Ends a session like {@link RedisStore.destroy} and answers what it held, in one script:
   * no write can land between the read and the end (`regenerate()` copies from it).
   *
   * @param id - the session id
   * @param reason - why it ends
   * @param options - `announceAfter`
   * @returns the record as it was, or undefined when there was none
   */
  async take(id: string, reason: EndReason, options: DestroyOptions = {}): Promise<StoredSession | undefined> {
    const keys = sessionKeys(this.prefix, id);
    const event = JSON.stringify({ type: 'end', id, reason });
    const defer = options.announceAfter !== undefined;
    const [existed, d, v, u, c] = (await this.conn.run('destroy', (client) =>
      runScript(
        client,
        DESTROY,
        [keys.record, keys.history, keys.mutations, keys.order, keys.tombstone, keys.born],
        [
          id,
          this.luaPrefix,
          TOMBSTONE_MS,
          this.channel,
          defer ? '' : event,
          reason,
          Math.max(0, Math.ceil((options.adoptableUntil ?? 0) - Date.now())),
        ],
      ),
    )) as [number, string, string, string, string];
    if (defer) {
      const token = Symbol(id);
      this.deferred.set(token, { id, reason });
      const announce = (): void => {
        if (!this.deferred.delete(token)) return; // close() already sent it
        this.publish(id, reason);
      };
      Promise.resolve(options.announceAfter).then(announce, announce);
    }
    if (existed !== 1 || !v) return undefined;
    const found: StoredSession = { data: parseData(d, id), version: Number(v) };
    if (u) found.user = u;
    return withTimes(found, c ? { epoch: Number(c), expires: Date.now() } : undefined);
  }

  // A deferred end announcement that meets an outage is sent again after the reconnect (a
  // few times at most); past the tombstone's life the watchers report the end as expired.
  // The tombstone learns the reason in the same step, so a watcher whose feed misses the
  // announcement can still tell its sockets.
  private publish(id: string, reason: EndReason, retries = 3): void {
    const event = JSON.stringify({ type: 'end', id, reason });
    this.conn
      .run('publish', (c) =>
        runScript(c, ANNOUNCE, [sessionKeys(this.prefix, id).tombstone], [reason, this.channel, event]),
      )
      .catch((err: unknown) => {
        const why = err instanceof Error ? err.message : err;
        if (this.closed || retries <= 0) return debug('end announcement lost: %s', why);
        debug('end announcement failed, retrying after the reconnect: %s', why);
        const { client } = this.conn;
        const retry = (): void => {
          clearTimeout(timer);
          this.publish(id, reason, retries - 1);
        };
        const timer = setTimeout(() => {
          client.off('ready', retry);
          debug('end announcement lost: no reconnect within %d ms', TOMBSTONE_MS);
        }, TOMBSTONE_MS);
        timer.unref();
        client.once('ready', retry);
      });
  }

  /** {@inheritDoc SessionStore.touch} */
  async touch(id: string, ttl: number, options?: TouchOptions): Promise<void> {
    positive(ttl, 'ttl');
    const keys = sessionKeys(this.prefix, id);
    await this.conn.run('touch', (c) =>
      runScript(
        c,
        TOUCH,
        [keys.record, keys.history, keys.mutations, keys.order],
        [id, this.luaPrefix, Math.ceil(ttl), ...noteArgs(options?.device)],
      ),
    );
  }

  /** {@inheritDoc SessionStore.sessionsOf} */
  async sessionsOf(user: string): Promise<UserSession[]> {
    const flat = (await this.conn.run('sessionsOf', (c) =>
      runScript(c, SESSIONS_OF, [userKey(this.prefix, user)], [this.luaPrefix, user]),
    )) as string[];
    const out: UserSession[] = [];
    for (let i = 0; i + 5 < flat.length; i += 6) {
      const entry: UserSession = { id: flat[i]!, version: Number(flat[i + 1]), lastActive: Number(flat[i + 2]) };
      const [created, userAgent, ip] = [flat[i + 3], flat[i + 4], flat[i + 5]];
      if (created) entry.createdAt = Number(created);
      if (userAgent || ip) {
        entry.device = {};
        if (userAgent) entry.device.userAgent = userAgent;
        if (ip) entry.device.ip = ip;
      }
      out.push(entry);
    }
    return out;
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

  private check(ids: string[]): Promise<WatchState[]> {
    return this.conn.run('watch', async (c) => {
      const pipeline = c.pipeline();
      for (const id of ids) {
        const keys = sessionKeys(this.prefix, id);
        pipeline.hget(keys.record, 'v').get(keys.tombstone);
      }
      const results = (await pipeline.exec()) ?? [];
      return ids.map((_, i): WatchState => {
        const [versionErr, version] = results[2 * i] ?? [new Error('missing reply'), null];
        const [tombErr, tomb] = results[2 * i + 1] ?? [new Error('missing reply'), null];
        if (versionErr || tombErr) throw versionErr ?? tombErr;
        if (typeof version === 'string') return { state: 'live', version: Number(version) };
        if (typeof tomb !== 'string') return { state: 'gone', version: 0 };
        const found: WatchState = { state: 'destroyed', version: 0 };
        if ((END_REASONS as readonly string[]).includes(tomb)) found.reason = tomb as EndReason;
        return found;
      });
    });
  }

  // Changes of a watched session that were published while this node's feed was not
  // subscribed: delivered from the history, in order, as if the feed had carried them.
  // When the history no longer reaches back, the newest patch alone still shows the gap
  // (its base differs), and the registry and the sockets resync from the record.
  private async catchUp(id: string, after: number): Promise<void> {
    const keys = sessionKeys(this.prefix, id);
    const texts = (await this.conn.run('catch up', (c) => c.lrange(keys.history, 0, -1))) as string[];
    for (const text of texts) {
      let patch: StoredPatch;
      try {
        patch = JSON.parse(text) as StoredPatch;
      } catch {
        continue;
      }
      // Checked for each one: the feed may have delivered newer changes meanwhile.
      if (patch.version <= Math.max(after, this.watcher.delivered(id) ?? 0)) continue;
      const event: StoreEvent = { type: 'change', id, version: patch.version, base: patch.base, ops: patch.ops };
      if (patch.mutation !== undefined) event.mutation = patch.mutation;
      this.feed.receive(event);
    }
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
    for (const { id, reason } of this.deferred.values()) this.publish(id, reason);
    this.deferred.clear();
    await Promise.allSettled([...this.queues.values()]);
    // Let the announcements above reach Redis before the connection goes.
    await this.conn.run('close', (c) => c.ping()).catch(() => undefined);
    this.conn.close();
    this.feed.close();
    if (this.ownsClient) {
      const client = this.conn.client;
      if (client.status === 'ready') await client.quit().catch(() => undefined);
      client.disconnect();
    }
  }
}
