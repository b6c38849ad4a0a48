import { FORBIDDEN_KEYS, isPlainObject, type JsonObject, type JsonValue } from './json.js';

/** A path from the session's root: an array of keys. */
export type Path = readonly string[];

/** A path as options accept it: `'prefs.theme'` or `['prefs', 'theme']`. */
export type PathInput = string | readonly string[];

/**
 * Turns a path option into an array of keys, refusing forbidden and empty keys.
 *
 * @param input - a dot string (`'prefs.theme'`) or an array of keys
 * @param name - what to call the path in the error, e.g. the option's name
 * @returns the keys
 * @throws TypeError naming `name` when the path is empty, has an empty key or a forbidden key
 * @example
 * toPath('prefs.theme') // ['prefs', 'theme']
 */
export function toPath(input: PathInput, name = 'path'): string[] {
  const keys = typeof input === 'string' ? input.split('.') : Array.isArray(input) ? [...input] : [];
  const refuse = (why: string): TypeError => new TypeError(`session-sync: ${name} ${why}`);
  if (keys.length === 0) throw refuse('must be a dot string or an array of keys');
  for (const key of keys) {
    if (typeof key !== 'string' || key === '') throw refuse(`has an empty or non-string key: ${JSON.stringify(input)}`);
    if (FORBIDDEN_KEYS.has(key)) throw refuse(`uses the forbidden key "${key}"`);
  }
  return keys;
}

/**
 * Tells whether `prefix` covers `path`: equal, or an ancestor of it.
 *
 * @param prefix - a listed path
 * @param path - the path to test
 * @returns true when every key of `prefix` starts `path`
 * @example
 * covers(['prefs'], ['prefs', 'theme']) // true
 */
export function covers(prefix: Path, path: Path): boolean {
  if (prefix.length > path.length) return false;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== path[i]) return false;
  return true;
}

/**
 * Reads the value at a path, through plain objects only.
 *
 * @param data - the root
 * @param path - keys from the root
 * @returns the value, or undefined when a step is missing or not an object
 * @example
 * getIn({ prefs: { theme: 'dark' } }, ['prefs', 'theme']) // 'dark'
 */
export function getIn(data: JsonObject, path: Path): JsonValue | undefined {
  let node: JsonValue | undefined = data;
  for (const key of path) {
    if (!isPlainObject(node) || !Object.prototype.hasOwnProperty.call(node, key)) return undefined;
    node = node[key];
  }
  return node;
}
