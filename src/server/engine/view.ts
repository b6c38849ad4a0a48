/**
 * How server code sees a session's data: the committed data with the middleware's defaults
 * filled in, and with the writes still on their way to the store laid over it.
 */
import { applyOps, isPlainObject, type JsonObject, type JsonValue, type Op } from '../../shared/index.js';

const merged = new WeakMap<JsonObject, WeakMap<JsonObject, JsonObject>>();

/**
 * Fills keys missing from `data` with `defaults`, recursively through plain objects, without
 * copying when nothing is missing. Cached per (defaults, data) pair.
 *
 * @param data - the session data
 * @param defaults - the middleware's defaults
 * @returns data with defaults filled in
 * @example
 * withDefaults({ a: 1 }, { a: 0, cart: [] }) // { a: 1, cart: [] }
 */
export function withDefaults(data: JsonObject, defaults: JsonObject): JsonObject {
  if (Object.keys(defaults).length === 0) return data;
  let byData = merged.get(defaults);
  if (!byData) merged.set(defaults, (byData = new WeakMap()));
  const hit = byData.get(data);
  if (hit) return hit;
  const fill = (d: JsonObject, f: JsonObject): JsonObject => {
    let out: JsonObject | undefined;
    for (const key of Object.keys(f)) {
      const have = d[key];
      let value: JsonValue | undefined;
      if (!Object.prototype.hasOwnProperty.call(d, key)) value = f[key];
      else if (isPlainObject(have) && isPlainObject(f[key])) {
        const inner = fill(have, f[key] as JsonObject);
        if (inner !== have) value = inner;
      }
      if (value !== undefined) (out ??= { ...d })[key] = value;
    }
    return out ?? d;
  };
  const result = fill(data, defaults);
  byData.set(data, result);
  return result;
}

/**
 * Applies in-flight ops over committed data for reads (cheap when there are none).
 *
 * @param data - committed data
 * @param batches - ops sent to the store and not yet acknowledged
 * @returns the data as it will be once they land
 * @example
 * overlay({ n: 1 }, [[{ op: 'inc', path: ['n'], by: 1 }]]) // { n: 2 }
 */
export function overlay(data: JsonObject, batches: readonly (readonly Op[])[]): JsonObject {
  let out = data;
  for (const ops of batches) {
    try {
      out = applyOps(out, ops).data;
    } catch {
      // The store will refuse this batch as invalid; reads just do not show it.
    }
  }
  return out;
}
