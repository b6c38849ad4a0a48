import type { JsonObject } from '../shared/index.js';

type Node = JsonObject | unknown[];

/**
 * Keeps every branch of `prev` that deep-equals the same branch of `next`, so a recompute
 * (server state + pending writes re-applied) hands React and selectors the old references
 * wherever nothing changed — and `prev` itself when nothing changed at all.
 *
 * @param prev - the value shown so far
 * @param next - the value just computed
 * @returns `next`, with unchanged branches replaced by those of `prev`
 * @example
 * const a = { x: { y: 1 }, z: 1 }
 * share(a, { x: { y: 1 }, z: 2 }).x === a.x // true
 */
export function share<V>(prev: V, next: V): V {
  if (
    prev === next ||
    !prev ||
    !next ||
    typeof prev !== 'object' ||
    typeof next !== 'object' ||
    Array.isArray(prev) !== Array.isArray(next)
  ) {
    return next;
  }
  const p = prev as Node as Record<string, unknown>;
  const n = next as Node as Record<string, unknown>;
  const out: Record<string, unknown> = Array.isArray(next) ? ([] as never) : {};
  const keys = Object.keys(n);
  let same = keys.length === Object.keys(p).length;
  for (const key of keys) {
    // An inherited p[key] (toString…) is a function, never equal to a JSON value: no hasOwn needed.
    if ((out[key] = share(p[key], n[key])) !== p[key]) same = false;
  }
  return (same ? prev : out) as V;
}
