/**
 * How a session ends on `RedisStore` (`destroy`, `take`): one script in the session's slot
 * reads the record, deletes every key of it, leaves the tombstone, marks the born key with
 * the reason and publishes the end (now, or once `announceAfter` settles); Node then prunes
 * the session from its user's index, lazily (see user-index.ts).
 */
import createDebug from 'debug';
import type { EndReason } from '../../../shared/index.js';
import { withTimes } from '../common.js';
import type { DestroyOptions, StoredSession } from '../store.js';
import { parseData } from './apply.js';
import type { StoreContext } from './client.js';
import { sessionKeys } from './keys.js';
import { ANNOUNCE, DESTROY, runScript } from './scripts.js';
import type { UserIndex } from './user-index.js';

const debug = createDebug('session-sync:redis');

// Long enough for a deferred end announcement (regenerate waits for a response to finish).
const TOMBSTONE_MS = 60_000;

/** The ends of one store, and the announcements still waiting for their moment. */
export class SessionEnds {
  private readonly deferred = new Map<symbol, { id: string; reason: EndReason }>();
  private closed = false;

  /**
   * @param ctx - the store's connection and names
   * @param index - the store's user index
   */
  constructor(
    private readonly ctx: StoreContext,
    private readonly index: UserIndex,
  ) {}

  /**
   * Ends a session and answers what it held, in one script: no write can land between the
   * read and the end (`regenerate()` copies from it).
   *
   * @param id - the session id
   * @param reason - why it ends
   * @param options - `announceAfter`
   * @returns the record as it was, or undefined when there was none
   * @throws SessionSyncError `store_unavailable`
   * @example
   * const was = await ends.take(id, 'regenerated', { announceAfter: responseFinished })
   */
  async take(id: string, reason: EndReason, options: DestroyOptions = {}): Promise<StoredSession | undefined> {
    const keys = sessionKeys(this.ctx.prefix, id);
    const event = JSON.stringify({ type: 'end', id, reason });
    const defer = options.announceAfter !== undefined;
    const [existed, d, v, u, c, now] = (await this.ctx.conn.run('destroy', (client) =>
      runScript(
        client,
        DESTROY,
        [keys.record, keys.history, keys.mutations, keys.order, keys.tombstone, keys.born],
        [
          TOMBSTONE_MS,
          this.ctx.channel,
          defer ? '' : event,
          reason,
          Math.max(0, Math.ceil((options.adoptableUntil ?? 0) - Date.now())),
        ],
      ),
    )) as [number, string, string, string, string, string];
    if (defer) {
      const token = Symbol(id);
      this.deferred.set(token, { id, reason });
      const announce = (): void => {
        if (!this.deferred.delete(token)) return; // close() already sent it
        void this.publish(id, reason);
      };
      Promise.resolve(options.announceAfter).then(announce, announce);
    }
    // After the end, lazily: the index is a superset, and reads filter what is left.
    if (u) void this.index.prune(u, [id], Number(now));
    if (existed !== 1 || !v) return undefined;
    const found: StoredSession = { data: parseData(d, id), version: Number(v) };
    if (u) found.user = u;
    return withTimes(found, c ? { epoch: Number(c), expires: Date.now() } : undefined);
  }

  /**
   * Sends every announcement still waiting (the store is closing); failures are not retried.
   *
   * @returns once each has been answered or has failed
   */
  close(): Promise<void> {
    this.closed = true;
    const sent = [...this.deferred.values()].map(({ id, reason }) => this.publish(id, reason));
    this.deferred.clear();
    return Promise.all(sent).then(() => undefined);
  }

  // A deferred end announcement that meets an outage is sent again after the reconnect (a
  // few times at most); past the tombstone's life the watchers report the end as expired.
  // The tombstone learns the reason in the same step, so a watcher whose feed misses the
  // announcement can still tell its sockets.
  private publish(id: string, reason: EndReason, retries = 3): Promise<void> {
    const event = JSON.stringify({ type: 'end', id, reason });
    return this.ctx.conn
      .run('publish', (c) =>
        runScript(c, ANNOUNCE, [sessionKeys(this.ctx.prefix, id).tombstone], [reason, this.ctx.channel, event]),
      )
      .then(
        () => undefined,
        (err: unknown) => {
          const why = err instanceof Error ? err.message : err;
          if (this.closed || retries <= 0) return debug('end announcement lost: %s', why);
          debug('end announcement failed, retrying after the reconnect: %s', why);
          const { client } = this.ctx.conn;
          const retry = (): void => {
            clearTimeout(timer);
            void this.publish(id, reason, retries - 1);
          };
          const timer = setTimeout(() => {
            client.off('ready', retry);
            debug('end announcement lost: no reconnect within %d ms', TOMBSTONE_MS);
          }, TOMBSTONE_MS);
          timer.unref();
          client.once('ready', retry);
        },
      );
  }
}
