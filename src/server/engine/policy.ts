/**
 * What the browser may see (`expose`) and change (`clientWritable`). Server-only data never
 * leaves the server: every route body, hello answer and patch goes through `project`.
 */
import type { StandardSchemaV1 } from '../standard-schema.js';
import {
  applyOps,
  covers,
  diff,
  getIn,
  isPlainObject,
  type ErrorAck,
  type JsonObject,
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

const refuse = (message: string): ErrorAck => ({ ok: false, code: 'forbidden', message });

async function runValidator(validate: Validator, value: unknown): Promise<true | string> {
  if (typeof validate === 'function') {
    const verdict = validate(value);
    return verdict === true ? true : typeof verdict === 'string' ? verdict : 'refused by the validator';
  }
  const result = await (validate as StandardSchemaV1)['~standard'].validate(value);
  if (!result.issues) return true;
  return result.issues.map((issue) => issue.message).join('; ') || 'refused by the schema';
}

/**
 * Checks a browser write against `clientWritable`.
 *
 * @param writable - the resolved option
 * @param ops - the parsed ops
 * @param id - the session id
 * @param data - the whole session before the write
 * @returns true, or the refusal to send back (code `forbidden`)
 * @example
 * await checkWritable({ paths: [['prefs']] }, ops, id, data)
 */
export async function checkWritable(
  writable: ResolvedOptions['clientWritable'],
  ops: readonly Op[],
  id: string,
  data: JsonObject,
): Promise<true | ErrorAck> {
  if ('none' in writable) return refuse('this session is not writable from the browser (option clientWritable)');
  if ('fn' in writable) {
    const verdict = await writable.fn(ops, { id, data });
    return verdict === true ? true : refuse(typeof verdict === 'string' ? verdict : 'refused by clientWritable');
  }
  if ('paths' in writable) {
    for (const op of ops) {
      if (!writable.paths.some((p) => covers(p, op.path)))
        return refuse(`${op.path.join('.')} is not writable from the browser`);
    }
    return true;
  }
  const touched = new Set<(typeof writable.validators)[number]>();
  for (const op of ops) {
    const rule = writable.validators.find((v) => covers(v.path, op.path));
    if (!rule) return refuse(`${op.path.join('.')} is not writable from the browser`);
    touched.add(rule);
  }
  let after: JsonObject;
  try {
    after = applyOps(data, ops).data;
  } catch {
    return true; // the store refuses it as `invalid`, with the precise reason
  }
  for (const rule of touched) {
    const verdict = await runValidator(rule.validate, getIn(after, rule.path));
    if (verdict !== true) return refuse(`${rule.path.join('.')}: ${verdict}`);
  }
  return true;
}
