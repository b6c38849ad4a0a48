import { parseOpsShape, parseSnapshot } from '../shared/index.js';
import { carry, continues, strip, type Held, type Write } from './mirror.js';
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

const isOwner = (w: Write): boolean =>
  (w.tag === null || typeof w.tag === 'string') && (w.epoch === null || typeof w.epoch === 'number');

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
      if (!snap.ok || !Array.isArray(raw!.writes) || typeof raw!.at !== 'number') return undefined;
      const { at, full, until, writes } = raw!;
      return {
        ...snap.value,
        full: full === true,
        at,
        until: typeof until === 'number' ? until : null,
        writes: writes.filter(
          (w) => typeof w?.id === 'string' && w.id.length <= 64 && isOwner(w) && parseOpsShape(w.ops).ok,
        ),
      };
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
