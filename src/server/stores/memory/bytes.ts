/**
 * What a string's characters cost on V8's heap, for the byte budget of a MemoryStore. V8 keeps
 * a string whose characters all fit in Latin-1 at one byte per character, and any other at two,
 * so `length` alone would count text in most non-Latin scripts at half its cost (a flood of
 * such writers would hold twice `maxBytes`).
 */

// Any character outside Latin-1 makes V8 store the whole string with two bytes per character.
const WIDE = /[^\u0000-\u00ff]/;

/**
 * The heap bytes of a string's characters (without the string's fixed header).
 *
 * @param text - the string
 * @returns `length`, or twice it when V8 keeps the string two bytes per character
 * @example
 * heapBytes('abc') // 3
 * heapBytes('中文') // 4
 */
export function heapBytes(text: string): number {
  return WIDE.test(text) ? text.length * 2 : text.length;
}
