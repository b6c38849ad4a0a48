/**
 * What the browser may see (`expose`) and change (`clientWritable`). Server-only data never
 * leaves the server: every route body, hello answer and patch goes through `project`.
 */
import type { StandardSchemaV1 } from '../standard-schema.js';
import {
  covers,
  diff,
  getIn,
  isPlainObject,
  SessionSyncError,
  toPath,
  type JsonObject,
  type PathInput,
  type JsonValue,
  type Op,
} from '../../shared/index.js';
import type { ResolvedOptions, Validator } from '../options.js';

/**
 * Projects session data through `expose`.
 *
 * Paths keep the parent objects that exist along them, so projecting data and projecting
 * each change agree: applying the projected ops to the projected data gives the projected
 * result.
 *
 * @param expose - the resolved option
 * @param data - the whole session
 * @returns what the browser may see
 * @example
 * project({ hideUnderscore: true }, { user: 'ann', _visits: 3 }) // { user: 'ann' }
 */
export function project(expose: ResolvedOptions['expose'], data: JsonObject): JsonObject {
  if ('hideUnderscore' in expose) {
    let hidden = false;
    for (const key in data) if (key.charCodeAt(0) === 95) hidden = true;
    if (!hidden) return data;
    const out: JsonObject = {};
    for (const key of Object.keys(data)) if (key.charCodeAt(0) !== 95) out[key] = data[key]!;
    return out;
  }
  if ('fn' in expose) {
    const out = expose.fn(data) as unknown;
    return isPlainObject(out) ? out : {};
  }
  const out: JsonObject = {};
  for (const path of expose.paths) {
    let from: JsonValue | undefined = data;
    let to = out;
    for (let i = 0; i < path.length; i++) {
      if (!isPlainObject(from)) break;
      const key = path[i]!;
      if (!Object.prototype.hasOwnProperty.call(from, key)) break;
      from = from[key];
      if (i === path.length - 1) to[key] = from!;
      else if (isPlainObject(from)) {
        const next = isPlainObject(to[key]) ? (to[key] as JsonObject) : (to[key] = {});
        to = next;
      }
    }
  }
  return out;
}

/** What `regenerate({ keep })` carries over: `'exposed'`, everything, nothing, or paths. */
export type Keep = 'exposed' | boolean | readonly PathInput[];

/**
 * What a regenerated session starts with (`regenerate({ keep })`).
 *
 * @param expose - the resolved option
 * @param keep - `'exposed'`: what the browser may see (with a function `expose`, the
 *   top-level keys not starting with `_`); `true` all; `false` nothing; or a list of paths
 * @returns the picker, made before anything changes so a bad `keep` throws first
 * @throws TypeError for anything else
 * @example
 * keptData({ hideUnderscore: true }, 'exposed')({ user: 'ann', _csrf: 'x' }) // { user: 'ann' }
 */
export function keptData(expose: ResolvedOptions['expose'], keep: unknown): (data: JsonObject) => JsonObject {
  if (keep === true) return (data) => data;
  if (keep === false) return () => ({});
  if (keep === 'exposed') {
    return 'fn' in expose ? (data) => project({ hideUnderscore: true }, data) : (data) => project(expose, data);
  }
  if (Array.isArray(keep)) {
    const paths = keep.map((p, i) => toPath(p as PathInput, `regenerate({ keep })[${i}]`));
    return (data) => project({ paths }, data);
  }
  throw new TypeError("session-sync: regenerate({ keep }) takes 'exposed', true, false or a list of paths");
}

/**
 * Projects one committed change through `expose`.
 *
 * @param expose - the resolved option
 * @param ops - the ops as applied
 * @param before - the whole session before (needed only for path lists and functions)
 * @param after - the whole session after
 * @returns the ops the browser may see (`[]` when the change was server-only)
 * @example
 * projectOps({ hideUnderscore: true }, [{ op: 'set', path: ['_visits'], value: 4 }]) // []
 */
export function projectOps(
  expose: ResolvedOptions['expose'],
  ops: readonly Op[],
  before?: JsonObject,
  after?: JsonObject,
): Op[] {
  if ('hideUnderscore' in expose) return ops.filter((op) => op.path[0]!.charCodeAt(0) !== 95);
  if ('paths' in expose && ops.every((op) => expose.paths.some((p) => covers(p, op.path)))) return [...ops];
  if (!before || !after) throw new Error('session-sync: projecting this change needs the data before and after');
  return diff(project(expose, before), project(expose, after));
}

/** Whether patches from the store's history can be projected without the data around them. */
export function historyProjectable(expose: ResolvedOptions['expose']): boolean {
  return 'hideUnderscore' in expose;
}

const forbidden = (message: string): SessionSyncError => new SessionSyncError('forbidden', message);

async function runValidator(validate: Validator, value: unknown): Promise<true | string> {
  try {
    if (typeof validate === 'function') {
      const verdict = await validate(value);
      return verdict === true ? true : typeof verdict === 'string' ? verdict : 'refused by the validator';
    }
    const result = await (validate as StandardSchemaV1)['~standard'].validate(value);
    if (!result.issues) return true;
    return result.issues.map((issue) => issue.message).join('; ') || 'refused by the schema';
  } catch (err) {
    // A validator that throws refuses: a bug in it must never let a write through.
    return `the validator threw: ${(err as Error)?.message ?? String(err)}`;
  }
}

/**
 * Checks that every op of a browser write is under a path `clientWritable` lists (the part
 * of the policy that needs no data, so a refused write never reaches the store).
 *
 * @param writable - the resolved option
 * @param ops - the parsed ops
 * @returns undefined when allowed, else the refusal (code `forbidden`)
 * @example
 * writablePathRefusal({ paths: [['prefs']] }, ops)
 */
export function writablePathRefusal(
  writable: ResolvedOptions['clientWritable'],
  ops: readonly Op[],
): SessionSyncError | undefined {
  if ('none' in writable) return forbidden('this session is not writable from the browser (option clientWritable)');
  if ('fn' in writable) return undefined;
  const listed = 'paths' in writable ? writable.paths : writable.validators.map((v) => v.path);
  for (const op of ops) {
    if (!listed.some((p) => covers(p, op.path)))
      return forbidden(`${op.path.join('.')} is not writable from the browser`);
  }
  return undefined;
}

/**
 * Judges a browser write against `clientWritable`'s validators (or its function form)
 * with the data the change is actually applied to: run inside the store's atomic apply.
 *
 * @param writable - the resolved option
 * @param ops - the parsed ops
 * @param id - the session id
 * @param before - the whole session the ops apply to
 * @param after - the whole session after them
 * @throws SessionSyncError `forbidden` when refused (also when a validator throws)
 * @example
 * await validateWrite(writable, ops, id, before, after)
 */
export async function validateWrite(
  writable: ResolvedOptions['clientWritable'],
  ops: readonly Op[],
  id: string,
  before: JsonObject,
  after: JsonObject,
): Promise<void> {
  if ('fn' in writable) {
    let verdict: boolean | string;
    try {
      verdict = await writable.fn(ops, { id, data: before });
    } catch (err) {
      throw forbidden(`clientWritable threw: ${(err as Error)?.message ?? String(err)}`);
    }
    if (verdict !== true) throw forbidden(typeof verdict === 'string' ? verdict : 'refused by clientWritable');
    return;
  }
  if (!('validators' in writable)) return;
  const touched = new Set<(typeof writable.validators)[number]>();
  for (const op of ops) {
    const rule = writable.validators.find((v) => covers(v.path, op.path));
    if (!rule) throw forbidden(`${op.path.join('.')} is not writable from the browser`);
    touched.add(rule);
  }
  for (const rule of touched) {
    const verdict = await runValidator(rule.validate, getIn(after, rule.path));
    if (verdict !== true) throw forbidden(`${rule.path.join('.')}: ${verdict}`);
  }
}

/** Whether browser writes need a judgement of the data (validators or a function). */
export function needsData(writable: ResolvedOptions['clientWritable']): boolean {
  return 'fn' in writable || 'validators' in writable;
}
