import { parseOpsShape, parseSnapshot, type SessionState } from '../shared/index.js';
import { carry, continues, NOTHING, strip, type Held, type Write } from './mirror.js';
import type { Storage } from './storage.js';

/**
 * What one mirror keeps in IndexedDB, under ONE key: the server state and the writes not yet
 * confirmed, always together, so an outbox is never kept without the session it belongs to.
 */
export interface Saved extends Held {
  data: Held['data'] & object;
  /** When it was stored (for `cache.maxAge`). */
  at: number;
  writes: Write[];
}

/** The stored record of one mirror; every change is one read-modify-write transaction (tabs share it). */
export interface Cache {
  /** Reads the record left by an earlier page or another tab; a bad one reads as none. */
  load(): Promise<Saved | undefined>;
  /** Stores a new server state; stored writes go on only into the session it continues. */
  put(held: Held, moving: boolean): Promise<void>;
  /** Appends a write at once (a reload right after a write must not lose it), with its session. */
  add(held: Held, write: Write): Promise<void>;
  /** Removes writes by id (confirmed, refused or dropped); no ids removes the whole record. */
  remove(ids?: string[]): Promise<void>;
}

/**
 * Opens the record kept under `key`.
 *
 * @param storage - the mirror's storage
 * @param key - the record's key, e.g. `name + '|session'`
 * @param exclude - paths never written to IndexedDB (nor the writes that touch them)
 * @returns the record
 * @example
 * const cache = openCache(storage, 'https://app.example/get/session|session', [])
 * await cache.add(held, { id: newMutationId(), ops, tag: held.tag, epoch: held.epoch })
 */
export function openCache(storage: Storage, key: string, exclude: string[][]): Cache {
  const saved = (held: Held, writes: Write[]): Saved => {
    const data = strip(held.data ?? {}, exclude);
    return { ...held, data, full: held.full && data === held.data, at: Date.now(), writes };
  };
  // Another tab may hold the record of another session: a write replaces it rather than join it.
  const update = (fn: (old: Saved | undefined) => Saved | undefined): Promise<void> =>
    storage.update<Saved | undefined>(key, fn);
  return {
    load: async () => {
      const raw = await storage.get<Saved>(key);
      const snap = parseSnapshot(raw);
      // A broken record, or one another version of this SDK wrote, reads as none.
      if (!snap.ok || !Array.isArray(raw!.writes)) return undefined;
      const writes = raw!.writes.filter((w) => typeof w?.id === 'string' && parseOpsShape(w.ops).ok);
      return { ...raw!, ...snap.value, full: raw!.full === true, writes };
    },
    put: (held, moving) => update((old) => saved(held, old ? carry(old.writes, old, held, 0, moving) : [])),
    add: (held, write) =>
      update((old) =>
        old && continues(old, held, 0, false) ? { ...old, writes: [...old.writes, write] } : saved(held, [write]),
      ),
    remove: (ids) =>
      update((old) => (ids && old ? { ...old, writes: old.writes.filter((w) => !ids.includes(w.id)) } : undefined)),
  };
}

/**
 * The idle deadline an answer tells: now + `expiresIn` (relative, so clock skew does not matter).
 *
 * @param s - the answer
 * @returns epoch ms, or null when the server told none
 */
export const deadline = (s: SessionState): number | null => (s.expiresIn === null ? null : Date.now() + s.expiresIn);

/**
 * What a new page takes from the record an earlier page (or another tab) left. A copy past
 * its idle deadline belongs to a session that has ended (the deadline last told is taken as
 * final: activity on another device may have moved the server's, and then this browser's
 * pending writes of that session are lost with it); a page rendered for another session,
 * or for none after one was known (cookies cleared), must not show it nor replay its writes:
 * in both cases the record goes. A copy older than `maxAge` is not shown, but its session
 * still owns its writes.
 *
 * @param saved - the record
 * @param held - what the page holds: its `initial`, or nothing
 * @param rendered - true when the page came with `initial`
 * @param maxAge - `cache.maxAge`
 * @returns the state to hold, the writes to take over, and whether the record may stay
 * @example
 * const { held, writes, kept } = resume(await cache.load(), NOTHING, false, Infinity)
 */
export function resume(
  saved: Saved,
  held: Held,
  rendered: boolean,
  maxAge: number,
): { held: Held; writes: Write[]; kept: boolean } {
  const now = Date.now();
  if ((saved.until && saved.until <= now) || (rendered && !continues(saved, held, 0, false)))
    return { held, writes: [], kept: false };
  const fresh = now - saved.at <= maxAge;
  if (!rendered) held = fresh ? saved : { ...NOTHING, tag: saved.tag, epoch: saved.epoch };
  // A tab may have cached a newer version of the page's own session since it was rendered.
  else if (fresh && saved.full && saved.tag === held.tag && saved.version > held.version) held = saved;
  return { held, writes: saved.writes, kept: true };
}
