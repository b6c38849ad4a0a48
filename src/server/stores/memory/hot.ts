/**
 * The parsed data of the sessions in use: a MemoryStore keeps each record as JSON text (half
 * the heap of objects, for the many idle sessions), and the most recently used ones also as a
 * deep-frozen object, so a busy session is not parsed on every read and write. The object is
 * shared with whoever reads it (the live registry, hello answers): frozen, nobody can change
 * it behind the store's back.
 */
import type { JsonObject, JsonValue } from '../../../shared/index.js';
import { heapBytes } from './bytes.js';

/**
 * Freezes a value and everything under it that is not frozen yet (after a change only the
 * new nodes are: the unchanged branches were shared, and are frozen already).
 *
 * @param value - a JSON value
 * @returns the same value
 */
export function deepFreeze<T extends JsonValue>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const key in value) deepFreeze((value as JsonObject)[key]!);
  return value;
}

/**
 * The parsed copies, the least recently used dropped first past `max` entries.
 *
 * @example
 * const hot = new HotData(1000)
 * hot.put(id, data, text)
 * hot.get(id) // data
 */
export class HotData {
  // Insertion order = last use: the first entry goes first.
  private readonly entries = new Map<string, { data: JsonObject; bytes: number }>();
  private size = 0;

  /** @param max - entries kept */
  constructor(private readonly max: number) {}

  /** Estimated heap bytes of the kept objects: about twice their text. */
  get bytes(): number {
    return this.size;
  }

  /**
   * The parsed data of a session, when kept (and marks it used).
   *
   * @param id - the session id
   * @returns the frozen data, or undefined
   */
  get(id: string): JsonObject | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    this.entries.set(id, entry);
    return entry.data;
  }

  /**
   * Keeps a session's data (the same content as its text).
   *
   * @param id - the session id
   * @param data - the data, frozen here
   * @param text - its JSON text, for the byte estimate
   */
  put(id: string, data: JsonObject, text: string): void {
    this.drop(id);
    const bytes = 2 * heapBytes(text) + 64;
    this.entries.set(id, { data: deepFreeze(data), bytes });
    this.size += bytes;
    if (this.entries.size > this.max) this.drop(this.entries.keys().next().value!);
  }

  /**
   * Forgets a session's copy.
   *
   * @param id - the session id
   */
  drop(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.size -= entry.bytes;
    this.entries.delete(id);
  }

  /**
   * Drops the least recently used copy (memory pressure).
   *
   * @returns false when none was kept
   */
  dropOldest(): boolean {
    return dropFirst(this.entries, (id) => this.drop(id));
  }
}

/**
 * Drops the first key of an insertion-ordered map (its least recently used, when every use
 * re-inserts) through `drop`.
 *
 * @param map - the map
 * @param drop - forgets one key and what it held
 * @returns false when the map was empty
 * @example
 * dropFirst(entries, (id) => this.drop(id))
 */
export function dropFirst<K>(map: Map<K, unknown>, drop: (key: K) => void): boolean {
  const first = map.keys().next();
  if (first.done) return false;
  drop(first.value);
  return true;
}
