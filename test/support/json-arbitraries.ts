/**
 * fast-check arbitraries for session data, and small helpers for tests over JSON.
 */
import fc from 'fast-check';
import { FORBIDDEN_KEYS, type JsonObject, type JsonValue, type Op } from '../../src/shared/index.js';

/**
 * Keys for session data: a few short ones that collide often (so two random objects share
 * branches and diff recurses), plus any string, never a forbidden key.
 */
export const jsonKey: fc.Arbitrary<string> = fc
  .oneof(fc.constantFrom('a', 'b', 'c', 'd', ''), fc.string({ maxLength: 6 }))
  .filter((key) => !FORBIDDEN_KEYS.has(key));

/** Any JSON primitive, including -0, huge and tiny doubles, and non-ASCII strings. */
export const jsonLeaf: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 6, unit: 'grapheme' }),
);

const tree = fc.letrec<{ value: JsonValue; array: JsonValue[]; object: JsonObject }>((tie) => ({
  value: fc.oneof({ maxDepth: 4, depthIdentifier: 'json' }, jsonLeaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4, depthIdentifier: 'json' }),
  object: fc.dictionary(jsonKey, tie('value'), { maxKeys: 5, noNullPrototype: true, depthIdentifier: 'json' }),
}));

/** A random session: a plain JSON object a few levels deep. */
export const jsonObject: fc.Arbitrary<JsonObject> = tree.object;

/** A random JSON value of any kind. */
export const jsonAny: fc.Arbitrary<JsonValue> = tree.value;

/**
 * Every path in a value, arrays included (as index strings), so ops can aim at real nodes,
 * at places under arrays and primitives, and at places that do not exist.
 *
 * @param value - the root
 * @returns the paths, root excluded
 */
export function pathsOf(value: JsonValue): string[][] {
  const out: string[][] = [];
  const walk = (v: JsonValue, at: string[]): void => {
    if (v === null || typeof v !== 'object') return;
    for (const key of Object.keys(v)) {
      out.push([...at, key]);
      walk((v as JsonObject)[key]!, [...at, key]);
    }
  };
  walk(value, []);
  return out;
}

/**
 * Random ops aimed at `data`: at existing paths, below them, or elsewhere.
 *
 * @param data - the object the ops will be applied to
 * @returns an arbitrary of op lists (possibly invalid ones, e.g. through an array)
 */
export function opsOn(data: JsonObject): fc.Arbitrary<Op[]> {
  const existing = pathsOf(data);
  const fresh = fc.array(jsonKey, { minLength: 1, maxLength: 3 });
  const path = existing.length
    ? fc.oneof(
        fc.constantFrom(...existing),
        fc.tuple(fc.constantFrom(...existing), fresh).map(([p, more]) => [...p, ...more]),
        fresh,
      )
    : fresh;
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('set' as const), path, value: jsonAny }, { noNullPrototype: true }),
    fc.record({ op: fc.constant('del' as const), path }, { noNullPrototype: true }),
  );
  return fc.array(op, { maxLength: 6 });
}

/**
 * Freezes a value and everything in it, so a write anywhere throws in strict mode.
 *
 * @param value - any object graph
 * @returns the same value, frozen
 */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
