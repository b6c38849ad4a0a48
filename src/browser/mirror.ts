/**
 * The mirror's arithmetic, pure (no I/O, no timers): what the server state held plus the
 * pending writes show, how a patch moves the held state, and which writes a change of
 * session keeps.
 */
import {
  applyOps,
  type JsonObject,
  type JsonValue,
  type Op,
  type PatchMessage,
  type SessionState,
  type SessionSyncError,
} from '../shared/index.js';

/** Which session a state or a write belongs to. A null tag: before any session was known. */
export type Owner = Pick<SessionState, 'tag' | 'epoch'>;

/** A session at a version. */
export type Point = Owner & Pick<SessionState, 'version'>;

/** The server state a mirror holds. */
export interface Held extends Point {
  /** The server's data; undefined while nothing is known yet (no cache, no answer). */
  data?: JsonObject;
  /** False for a copy with paths left out (`cache.exclude`): never revalidated, never patched. */
  full: boolean;
  /** The idle deadline (epoch ms) the server last told, or null when it told none. */
  until: number | null;
}

/** One write of this browser that the server has not confirmed yet. */
export interface Write extends Owner {
  /** The mutation id: random, sent again unchanged on every replay (the server dedupes). */
  id: string;
  ops: Op[];
  /** The server version that acknowledged it; it stays shown until the held state reaches it. */
  acked?: number;
}

/** Nothing held: no data, no session. */
export const NOTHING: Held = { version: 0, tag: null, epoch: null, full: false, until: null };

/**
 * Tells whether `next` is a later state of the session `held` belongs to. A tag appearing
 * where there was none, and a record epoch appearing where there was none, are adoption; a
 * new tag after `regenerated` is the same session moved. A version below `asked` (what was
 * held when asking) means the server no longer has what was held: another session.
 *
 * @param held - the state held (or a write's owner)
 * @param next - the state an answer describes
 * @param asked - the version held when the question was sent; 0 for news nobody asked for
 * @param moving - true while following a `regenerated` notice
 * @returns true when `next` continues `held`
 * @example
 * continues({ tag: 'T', epoch: 5, version: 3 }, { tag: 'T', epoch: 6, version: 9 }, 3, false) // false
 */
export function continues(held: Owner, next: Point, asked: number, moving: boolean): boolean {
  if (held.tag === null || (moving && next.tag !== null)) return true;
  return next.tag === held.tag && (held.epoch === null || next.epoch === held.epoch) && next.version >= asked;
}

/**
 * The writes that go on into the session `next` describes, owned by it from now on. Writes
 * made before any tag go to the first session adopted; writes of a session that `next`
 * does not continue are dropped, so one person's writes never reach another's session.
 * Acknowledged versions mean nothing in another session, so those writes go too.
 *
 * @param writes - the pending writes
 * @param held - the state they were held with
 * @param next - the new state
 * @param asked - as for {@link continues}
 * @param moving - as for {@link continues}
 * @returns the writes kept, re-owned; the others are left out
 */
export function carry(writes: Write[], held: Owner, next: Point, asked: number, moving: boolean): Write[] {
  const same = continues(held, next, asked, moving);
  return writes
    .filter(
      (w) =>
        (w.tag === null || (same && continues(w, next, 0, moving))) && (w.acked === undefined || w.tag === next.tag),
    )
    .map((w) => (next.tag === null ? w : { ...w, tag: next.tag, epoch: next.epoch }));
}

/**
 * Applies one patch to the held state.
 *
 * @param held - the state held
 * @param patch - a patch from the server
 * @returns the new state; `held` itself for a patch at or below its version; undefined on a
 * gap, on a copy that is not whole, or when the ops do not apply (resync, never a wrong merge)
 */
export function patched(held: Held, patch: PatchMessage): Held | undefined {
  if (patch.version <= held.version) return held;
  if (patch.base !== held.version || !held.full || !held.data) return undefined;
  try {
    return { ...held, version: patch.version, data: applyOps(held.data, patch.ops).data };
  } catch {
    return undefined;
  }
}

/**
 * What the mirror shows: the held data with the pending writes re-applied in order, so an
 * increment adds to whatever the server holds now.
 *
 * @param data - the held data
 * @param writes - the pending writes, oldest first
 * @returns the visible data, and the writes that no longer apply with the reason
 * @example
 * rebase({ n: 10 }, [{ id: 'm', tag: 'T', epoch: 1, ops: [{ op: 'inc', path: ['n'], by: 1 }] }]).data // { n: 11 }
 */
export function rebase(data: JsonObject, writes: Write[]): { data: JsonObject; failed: [Write, SessionSyncError][] } {
  const failed: [Write, SessionSyncError][] = [];
  for (const w of writes) {
    try {
      data = applyOps(data, w.ops).data;
    } catch (err) {
      failed.push([w, err as SessionSyncError]);
    }
  }
  return { data, failed };
}

/**
 * The data without the paths kept out of IndexedDB.
 *
 * @param data - the data
 * @param exclude - paths never stored
 * @returns the data to store (`data` itself when nothing was left out)
 */
export function strip(data: JsonObject, exclude: string[][]): JsonObject {
  for (const path of exclude) {
    try {
      data = applyOps(data, [{ op: 'del', path }]).data;
    } catch {
      // the path runs through an array or a primitive: nothing is stored there
    }
  }
  return data;
}

// What a draft's arrays inherit: every array method, but no `constructor` and no `__proto__`.
const SAFE_ARRAY = Object.create(Array.prototype, { constructor: {}, ['__proto__']: {} });

/**
 * A deep copy of the data for `update(draft => …)` that behaves like null-prototype JSON:
 * reading `__proto__`, `constructor` or `prototype` at any level yields undefined, so a write
 * through them throws like a write through any missing key and never reaches a real prototype.
 *
 * @param value - the visible data (or a part of it)
 * @returns the draft
 */
export function draftOf<V extends JsonValue>(value: V): V {
  if (Array.isArray(value)) return Object.setPrototypeOf(value.map(draftOf), SAFE_ARRAY);
  if (!value || typeof value !== 'object') return value;
  const out = Object.create(null);
  for (const key in value) out[key] = draftOf(value[key]!);
  return out;
}
