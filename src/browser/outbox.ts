import { parseOpsShape, type Op } from '../shared/index.js';
import type { Storage } from './storage.js';

/** One write of this page that the server has not confirmed yet. */
export interface Entry {
  /** The mutation id: random, sent again unchanged on every replay (the server dedupes). */
  id: string;
  ops: Op[];
  /** The server version that acknowledged it; it stays shown until the mirror reaches it. */
  acked?: number;
  /** True when it touches a `cache.exclude` path: kept in memory only. */
  local?: boolean;
}

/**
 * A new mutation id: 16 random bytes in hex (32 characters, well under the 64 allowed).
 *
 * @returns the id
 * @example
 * newMutationId() // '9f86d081884c7d659a2feaa0c55ad015'
 */
export function newMutationId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => (b + 256).toString(16).slice(1)).join('');
}

/** The persisted outbox of one mirror: one key, changed in single transactions so tabs can share it. */
export interface Outbox {
  /** Reads the entries left by earlier pages (or other tabs); bad ones are skipped. */
  load(): Promise<Entry[]>;
  /** Appends an entry at once: a reload right after a write must not lose it. */
  add(entry: Entry): Promise<void>;
  /** Removes entries by id (confirmed, refused or dropped); no ids removes all. */
  remove(ids?: string[]): Promise<void>;
}

/**
 * Opens the outbox kept under `key` in `storage`.
 *
 * @param storage - the mirror's storage
 * @param key - the outbox key, e.g. `name + '|out'`
 * @returns the outbox
 * @example
 * const outbox = openOutbox(storage, 'https://app.example/get/session|out')
 * await outbox.add({ id: newMutationId(), ops })
 */
export function openOutbox(storage: Storage, key: string): Outbox {
  return {
    load: async () => {
      const list = await storage.get<unknown>(key);
      return Array.isArray(list)
        ? list.filter((e): e is Entry => typeof e?.id === 'string' && e.id.length <= 64 && parseOpsShape(e.ops).ok)
        : [];
    },
    add: (entry) => storage.update<Entry[]>(key, (list = []) => [...list, { id: entry.id, ops: entry.ops }]),
    remove: (ids) => storage.update<Entry[]>(key, (list = []) => (ids ? list.filter((e) => !ids.includes(e.id)) : [])),
  };
}
