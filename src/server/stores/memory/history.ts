/**
 * What a MemoryStore remembers about recent changes, kept beside the session records so
 * that sessions nobody is changing cost nothing here: the last patches (for `since`) and the
 * last mutation ids (for dedupe). Both are created on a session's first change and can be
 * dropped once it has been idle for a while.
 */
import type { StoredPatch } from '../store.js';
import { heapBytes } from './bytes.js';
import { dropFirst } from './hot.js';

// Heap bytes of one kept patch beyond its text: the array slot and the string header.
const PATCH_OVERHEAD = 32;

/**
 * The recent patches of the most recently changed sessions, bounded per session and in
 * total. Patches are kept as JSON text: half the heap of the objects, and nothing a caller
 * holds can change them.
 *
 * @example
 * const history = new PatchHistory(32, 4096)
 * history.append(id, { version: 1, base: 0, ops })
 * history.since(id, 0, 1) // [{ version: 1, base: 0, ops }]
 */
export class PatchHistory {
  // Insertion order = order of last change, so the first entry is the one to drop.
  private readonly bySession = new Map<string, string[]>();
  private total = 0;
  private size = 0;

  /** Estimated heap bytes of the kept patches (their text, plus a little per list). */
  get bytes(): number {
    return this.size;
  }

  /**
   * @param perSession - patches kept per session (0 keeps none)
   * @param limit - patches kept over all sessions; the least recently changed go first
   */
  constructor(
    private readonly perSession: number,
    private readonly limit: number,
  ) {}

  /**
   * Appends the next patch of a session; patches of one session must be appended in
   * version order without gaps, which lets `since` count instead of storing versions.
   *
   * @param id - the session
   * @param patch - the committed change
   */
  append(id: string, patch: StoredPatch): void {
    if (this.perSession === 0) return;
    const list = this.bySession.get(id);
    const text = JSON.stringify(patch);
    this.size += heapBytes(text) + PATCH_OVERHEAD;
    if (list) {
      this.bySession.delete(id);
      this.bySession.set(id, list);
      list.push(text);
      if (list.length > this.perSession) this.size -= heapBytes(list.shift()!) + PATCH_OVERHEAD;
      else this.total++;
    } else {
      this.bySession.set(id, [text]);
      this.total++;
    }
    while (this.total > this.limit) {
      const oldest = this.bySession.keys().next();
      if (oldest.done) break;
      this.forget(oldest.value);
    }
  }

  /**
   * The patches after `version`, or undefined when the history does not reach back.
   *
   * @param id - the session
   * @param version - the version the caller holds (below `current`)
   * @param current - the session's version now, which is the last patch's version
   * @returns new patch objects, oldest first
   */
  since(id: string, version: number, current: number): StoredPatch[] | undefined {
    const list = this.bySession.get(id);
    const missed = current - version;
    if (!list || missed > list.length) return undefined;
    return list.slice(list.length - missed).map((text) => JSON.parse(text) as StoredPatch);
  }

  /**
   * Drops a session's patches (destroyed, expired, or idle for long).
   *
   * @param id - the session
   */
  forget(id: string): void {
    const list = this.bySession.get(id);
    if (!list) return;
    this.total -= list.length;
    for (const text of list) this.size -= heapBytes(text) + PATCH_OVERHEAD;
    this.bySession.delete(id);
  }

  /**
   * Drops the patches of the least recently changed session (memory pressure).
   *
   * @returns false when nothing was kept
   */
  dropOldest(): boolean {
    return dropFirst(this.bySession, (id) => this.forget(id));
  }
}

/**
 * The last mutation ids of each session with the version of their first answer.
 *
 * @example
 * const seen = new MutationMemory(256)
 * seen.remember(id, 'm1', 7)
 * seen.answer(id, 'm1') // 7
 */
export class MutationMemory {
  private readonly bySession = new Map<string, Map<string, number>>();
  private count = 0;

  /** @param size - ids remembered per session (the oldest is forgotten first) */
  constructor(private readonly size: number) {}

  /** Estimated heap bytes of the remembered ids (at most 64 characters each, plus the map entry). */
  get bytes(): number {
    return this.count * 120;
  }

  /**
   * The version first answered for `mutation`, when it was seen.
   *
   * @param id - the session
   * @param mutation - the mutation id
   * @returns the version, or undefined for a new id
   */
  answer(id: string, mutation: string): number | undefined {
    return this.bySession.get(id)?.get(mutation);
  }

  /**
   * Remembers a mutation id's answer, forgetting the oldest past the size.
   *
   * @param id - the session
   * @param mutation - the mutation id
   * @param version - the version it was answered with
   */
  remember(id: string, mutation: string, version: number): void {
    let seen = this.bySession.get(id);
    if (!seen) this.bySession.set(id, (seen = new Map()));
    const before = seen.size;
    seen.set(mutation, version);
    if (seen.size > this.size) seen.delete(seen.keys().next().value!);
    this.count += seen.size - before;
  }

  /**
   * Drops a session's ids (destroyed, expired, or idle for long).
   *
   * @param id - the session
   */
  forget(id: string): void {
    const seen = this.bySession.get(id);
    if (!seen) return;
    this.count -= seen.size;
    this.bySession.delete(id);
  }
}
