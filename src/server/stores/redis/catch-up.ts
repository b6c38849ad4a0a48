/**
 * What the expiry watcher (watch.ts) reads from Redis: the state of each watched session, and
 * the patches its feed missed. Per-key commands only (each session in its own slot on a
 * cluster): ioredis routes each to its slot's primary and sends them without waiting for the
 * answers before; a multi-key pipeline across slots would fail there.
 */
import { END_REASONS, type EndReason } from '../../../shared/index.js';
import type { StoredPatch, StoreEvent } from '../store.js';
import type { StoreContext } from './client.js';
import { sessionKeys } from './keys.js';
import type { WatchState } from './watch.js';

/**
 * Reads the state of each id: live with its version, destroyed (with the announced reason),
 * or gone.
 *
 * @param ctx - the store's connection and names
 * @param ids - the watched ids
 * @returns one state per id, in order
 * @throws SessionSyncError `store_unavailable`
 * @example
 * const [state] = await readStates(ctx, [id])
 */
export function readStates(ctx: StoreContext, ids: string[]): Promise<WatchState[]> {
  return ctx.conn.run('watch', (c) =>
    Promise.all(
      ids.map(async (id): Promise<WatchState> => {
        const keys = sessionKeys(ctx.prefix, id);
        const [version, tomb] = await Promise.all([c.hget(keys.record, 'v'), c.get(keys.tombstone)]);
        if (typeof version === 'string') return { state: 'live', version: Number(version) };
        if (typeof tomb !== 'string') return { state: 'gone', version: 0 };
        const found: WatchState = { state: 'destroyed', version: 0 };
        if ((END_REASONS as readonly string[]).includes(tomb)) found.reason = tomb as EndReason;
        return found;
      }),
    ),
  );
}

/**
 * Delivers the changes of a watched session after version `after` from its history, in
 * order, as if the feed had carried them. When the history no longer reaches back, the newest
 * patch alone still shows the gap (its base differs), and the registry and the sockets
 * resync from the record.
 *
 * @param ctx - the store's connection and names
 * @param id - the session id
 * @param after - the version delivered so far
 * @param delivered - the newest version delivered now (the feed may deliver while this reads)
 * @param receive - takes each caught-up event
 * @returns when done
 * @throws SessionSyncError `store_unavailable`
 * @example
 * await catchUp(ctx, id, 3, () => watcher.delivered(id), (e) => feed.receive(e))
 */
export async function catchUp(
  ctx: StoreContext,
  id: string,
  after: number,
  delivered: () => number | undefined,
  receive: (event: StoreEvent) => void,
): Promise<void> {
  const keys = sessionKeys(ctx.prefix, id);
  const texts = await ctx.conn.run('catch up', (c) => c.lrange(keys.history, 0, -1));
  for (const text of texts) {
    let patch: StoredPatch;
    try {
      patch = JSON.parse(text) as StoredPatch;
    } catch {
      continue;
    }
    // Checked for each one: the feed may have delivered newer changes meanwhile.
    if (patch.version <= Math.max(after, delivered() ?? 0)) continue;
    const event: StoreEvent = { type: 'change', id, version: patch.version, base: patch.base, ops: patch.ops };
    if (patch.mutation !== undefined) event.mutation = patch.mutation;
    receive(event);
  }
}
