/** A JSON primitive. */
export type JsonPrimitive = string | number | boolean | null;
/** Any JSON value: what a session may hold. */
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
/** A JSON object: the root of every session. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Keys that could reach an object's prototype: never allowed in a path or a value. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'prototype', 'constructor']);

/**
 * Tells whether a value is a plain object (its prototype is `Object.prototype` or null).
 *
 * @param value - anything
 * @returns true for `{}` and `Object.create(null)`, false for arrays, class instances, null
 * @example
 * isPlainObject({ a: 1 }) // true
 * isPlainObject(new Date()) // false
 */
export function isPlainObject(value: unknown): value is JsonObject {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  const type = typeof value;
  if (type === 'number' || type === 'undefined') return String(value);
  if (type !== 'object') return `a ${type}`; // a function, a bigint, a symbol
  const name = (value as object).constructor?.name;
  return name ? `a ${name}` : 'an object with a foreign prototype';
}

/**
 * Formats a path for messages: `session.prefs.theme`, `session.list[2]`.
 *
 * @param path - keys from the root
 * @param root - the name shown for the root
 * @returns the printable path
 * @example
 * formatPath(['prefs', 'theme']) // 'session.prefs.theme'
 */
export function formatPath(path: readonly (string | number)[], root = 'session'): string {
  let out = root;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}

/**
 * Finds the first value that is not JSON, or a forbidden key.
 *
 * @param value - the value to check
 * @param path - where the value sits, for the message
 * @returns undefined when the value is JSON, else `{ path, problem }`
 */
export function findNonJson(
  value: unknown,
  path: (string | number)[] = [],
): { path: (string | number)[]; problem: string } | undefined {
  // An explicit stack instead of recursion: a value thousands of levels deep must get its
  // answer (and the depth limit its clear error later), not a RangeError. Each frame is an
  // array or object being walked, its keys (none for an array: its indexes), the next one to
  // visit and the key the container sits under.
  type Frame = [
    node: Record<string | number, unknown>,
    keys: string[] | undefined,
    next: number,
    key?: string | number,
  ];
  const stack: Frame[] = [];
  const ancestors = new Set<unknown>(); // the containers on the stack: meeting one again is a cycle
  let key: string | number | undefined;
  let problem: string | undefined;
  for (;;) {
    // Checks `value` (under `key` of the top frame; the root has none), entering a container.
    if (
      !problem &&
      value !== null &&
      typeof value !== 'string' &&
      typeof value !== 'boolean' &&
      !Number.isFinite(value)
    ) {
      const array = Array.isArray(value);
      if (!array && !isPlainObject(value)) problem = `is ${describe(value)}`;
      else if (ancestors.has(value)) problem = 'is a cycle';
      else if (!array && Object.getOwnPropertySymbols(value).length > 0) problem = 'has symbol keys';
      else {
        stack.push([value as JsonObject, array ? undefined : Object.keys(value as object), 0, key]);
        ancestors.add(value);
      }
    }
    if (problem) {
      const keys = [...path, ...stack.slice(1).map((frame) => frame[3]!)];
      return { path: key === undefined ? keys : [...keys, key], problem };
    }
    let top: Frame | undefined;
    while ((top = stack[stack.length - 1]) && top[2] >= (top[1] ?? (top[0] as unknown as unknown[])).length)
      ancestors.delete(stack.pop()![0]);
    if (!top) return undefined;
    const [node, keys] = top;
    const index = top[2]++;
    key = keys ? keys[index]! : index;
    value = node[key];
    if (keys) {
      if (FORBIDDEN_KEYS.has(key as string)) problem = 'uses a forbidden key';
    } else if (!(index in node)) problem = 'is a hole in a sparse array'; // it would turn into null
  }
}

/**
 * Throws a `TypeError` naming the path of the first value that is not JSON
 * (Date, Map, undefined, a function, NaN, Infinity, a cycle, a class instance)
 * or of a forbidden key (`__proto__`, `prototype`, `constructor`).
 *
 * @param value - the value to check
 * @param path - where the value sits, for the message
 * @throws TypeError
 * @example
 * assertJson({ when: new Date() }) // TypeError: session-sync: session.when is a Date; ...
 */
export function assertJson(value: unknown, path: (string | number)[] = []): asserts value is JsonValue {
  const found = findNonJson(value, path);
  if (found) {
    throw new TypeError(`session-sync: ${formatPath(found.path)} ${found.problem}; a session holds only JSON`);
  }
}

/**
 * Deep equality of two JSON values (object key order does not matter).
 *
 * @param a - a JSON value
 * @param b - a JSON value
 * @returns true when both hold the same JSON
 * @example
 * jsonEqual({ a: [1] }, { a: [1] }) // true
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  // A Date, Map or class instance equals nothing: diff must emit it so assertJson can refuse it.
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!jsonEqual((a as JsonObject)[k], (b as JsonObject)[k])) return false;
  }
  return true;
}

/**
 * A deep copy of a JSON value that shares nothing with the input.
 *
 * @param value - a JSON value
 * @returns the copy
 * @example
 * const copy = cloneJson({ a: [1] })
 */
export function cloneJson<T extends JsonValue>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => cloneJson(v)) as T;
  const out: JsonObject = {};
  for (const key of Object.keys(value)) {
    const copy = cloneJson((value as JsonObject)[key]!);
    // An own "__proto__" key (JSON.parse makes one) would set the copy's prototype instead.
    if (key === '__proto__')
      Object.defineProperty(out, key, { value: copy, enumerable: true, writable: true, configurable: true });
    else out[key] = copy;
  }
  return out as T;
}

const isLowSurrogate = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

/**
 * The UTF-8 byte length of a string, without I/O or allocation.
 *
 * @param text - any string
 * @returns its size in bytes once encoded as UTF-8
 * @example
 * utf8Length('é') // 2
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3; // a lone surrogate is encoded as U+FFFD, 3 bytes
  }
  return bytes;
}
