import { SessionSyncError } from './errors.js';
import {
  assertJson,
  cloneJson,
  FORBIDDEN_KEYS,
  formatPath,
  isPlainObject,
  jsonEqual,
  type JsonObject,
  type JsonValue,
} from './json.js';

/** Sets `value` at `path`, creating missing parent objects. */
export interface SetOp {
  op: 'set';
  path: string[];
  value: JsonValue;
}
/** Deletes `path`; deleting what is not there is a no-op. */
export interface DelOp {
  op: 'del';
  path: string[];
}
/**
 * Adds `by` to the number at `path` (a missing value counts as 0, missing parents are
 * created). Concurrent increments never lose each other: the store applies each to the
 * current value, where a `set` of a value read earlier would overwrite the others.
 */
export interface IncOp {
  op: 'inc';
  path: string[];
  by: number;
}
/** One step of a change. A change is a list of ops applied atomically. */
export type Op = SetOp | DelOp | IncOp;

/** What {@link applyOps} returns. */
export interface ApplyOutcome {
  /** The new root: a new object sharing every unchanged branch with the input. */
  data: JsonObject;
  /** False when the ops changed nothing (the version is then not bumped). */
  changed: boolean;
}

const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

// Names the path up to `depth` (the key that failed) in the message.
function invalid(path: readonly string[], depth: number, why: string): SessionSyncError {
  return new SessionSyncError('invalid', `session-sync: ${formatPath(path.slice(0, depth + 1))} ${why}`);
}

// Copy-on-write of one object node: the input is never mutated. A replaced key keeps its
// place (JSON and ETags stay readable); spreading defines keys, so an own "__proto__" stays a key.
function withKey(node: JsonObject, key: string, value: JsonValue | undefined): JsonObject {
  if (value !== undefined) return { ...node, [key]: value };
  const { [key]: _removed, ...rest } = node;
  return rest;
}

function increment(current: JsonValue | undefined, op: IncOp, exists: boolean): number {
  const depth = op.path.length - 1;
  if (exists && typeof current !== 'number')
    throw invalid(op.path, depth, 'is not a number, so it cannot be incremented');
  const result = ((current as number | undefined) ?? 0) + op.by;
  // Number.isFinite does not coerce: a step that is not a number fails here too.
  if (!Number.isFinite(op.by) || !Number.isFinite(result))
    throw invalid(op.path, depth, 'would not stay a finite number');
  return result;
}

function applyOne(node: JsonObject, op: Op, depth: number): JsonObject {
  const key = op.path[depth]!;
  if (FORBIDDEN_KEYS.has(key)) throw invalid(op.path, depth, 'uses a forbidden key');
  const exists = has(node, key);
  const current = exists ? node[key] : undefined;
  if (depth === op.path.length - 1) {
    if (op.op === 'del') return exists ? withKey(node, key, undefined) : node;
    if (op.op === 'inc') return withKey(node, key, increment(current, op, exists));
    return exists && jsonEqual(current, op.value) ? node : withKey(node, key, cloneJson(op.value));
  }
  // Arrays are values: index-level ops would let two concurrent pushes collide silently.
  if (Array.isArray(current)) throw invalid(op.path, depth, 'is an array; set the whole array instead');
  if (!isPlainObject(current)) {
    // Nothing can be under a primitive or a missing key: nothing to delete.
    if (op.op === 'del') return node;
    if (exists) throw invalid(op.path, depth, 'is not an object, so nothing can be set under it');
  }
  const next = applyOne((current as JsonObject | undefined) ?? {}, op, depth + 1);
  return next === current ? node : withKey(node, key, next);
}

/**
 * A deep copy of ops, so a holder of the copy (a store's history, its feed) shares no
 * object with whoever made them.
 *
 * @param ops - the ops
 * @returns the copy
 * @example
 * history.push(cloneOps(ops))
 */
export function cloneOps(ops: readonly Op[]): Op[] {
  return ops.map((op) =>
    op.op === 'set' ? { op: 'set', path: [...op.path], value: cloneJson(op.value) } : { ...op, path: [...op.path] },
  );
}

/**
 * Applies a list of ops, all or nothing.
 *
 * `set` creates missing parent objects; a path through an array (for any op) or through a
 * primitive (for `set` and `inc`) is `invalid`; `del` of what is not there is a no-op; `inc`
 * adds to a number (missing counts as 0; a non-number there, or a result that is not a
 * finite number, is `invalid`). The input is
 * never mutated: the result is a new object sharing every unchanged branch with it, and
 * set values are copied so later changes to the caller's objects cannot leak in. When the
 * ops change nothing as a whole, the input itself comes back with `changed: false`.
 *
 * @param data - the current root
 * @param ops - the change; each op's path must be non-empty
 * @returns the new root and whether anything changed
 * @throws SessionSyncError with code `invalid` when an op cannot apply
 * @throws TypeError naming the path when a set value is not JSON (see {@link assertJson})
 * @example
 * applyOps({}, [{ op: 'set', path: ['prefs', 'theme'], value: 'dark' }])
 * // { data: { prefs: { theme: 'dark' } }, changed: true }
 */
export function applyOps(data: JsonObject, ops: readonly Op[]): ApplyOutcome {
  let root = data;
  for (const op of ops) {
    if (op.path.length === 0) throw invalid([], 0, 'cannot be replaced: ops need a non-empty path');
    // Without this, `undefined` would act as a delete and a Date would be stored as {}.
    if (op.op === 'set') assertJson(op.value, [...op.path]);
    root = applyOne(root, op, 0);
  }
  // Ops that change something and then undo it (set a:2, set a:1) change nothing as a whole,
  // so the version must not move; only the touched branches are compared.
  const changed = root !== data && !jsonEqual(root, data);
  return { data: changed ? root : data, changed };
}

/**
 * The ops that turn `before` into `after`: `del` for keys gone, `set` for keys new or
 * changed, recursing into objects present on both sides; arrays are set whole.
 *
 * @param before - the old root
 * @param after - the new root
 * @param path - the prefix of every op (used in recursion)
 * @returns ops such that `applyOps(before, ops).data` deep-equals `after`
 * @example
 * diff({ a: 1, b: 2 }, { a: 1, c: 3 })
 * // [{ op: 'del', path: ['b'] }, { op: 'set', path: ['c'], value: 3 }]
 */
export function diff(before: JsonObject, after: JsonObject, path: string[] = []): Op[] {
  const ops: Op[] = [];
  if (before === after) return ops;
  for (const key of Object.keys(before)) {
    if (!has(after, key)) ops.push({ op: 'del', path: [...path, key] });
  }
  for (const key of Object.keys(after)) {
    const a = after[key]!;
    const b = before[key];
    const known = has(before, key);
    // An object on both sides is compared key by key (diff of two equal ones is empty).
    if (known && isPlainObject(a) && isPlainObject(b)) ops.push(...diff(b, a, [...path, key]));
    else if (!known || !jsonEqual(a, b)) ops.push({ op: 'set', path: [...path, key], value: a });
  }
  return ops;
}
