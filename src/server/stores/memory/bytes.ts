/**
 * What a string's characters cost on V8's heap, for the byte budget of a MemoryStore. V8 keeps
 * a string whose characters all fit in Latin-1 at one byte per character, and any other at two,
 * so `length` alone would count text in most non-Latin scripts at half its cost (a flood of
 * such writers would hold twice `maxBytes`).
 */

import type { DeviceNote } from '../store.js';

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

/** Heap bytes of one record beyond its text: the Map entry, the id string, its table columns. */
export const RECORD_OVERHEAD = 200;
// Heap bytes of a device note beyond its strings: the object and its two slots.
const NOTE_OVERHEAD = 40;

/**
 * A copy of a device note that keeps only its non-empty strings (the caller's object is not
 * the store's to hold), or undefined when it says nothing.
 *
 * @param device - the note as given
 * @returns the note to keep
 */
export function noteOf(device: DeviceNote): DeviceNote | undefined {
  const note: DeviceNote = {};
  if (typeof device.userAgent === 'string' && device.userAgent !== '') note.userAgent = device.userAgent;
  if (typeof device.ip === 'string' && device.ip !== '') note.ip = device.ip;
  return note.userAgent === undefined && note.ip === undefined ? undefined : note;
}

/**
 * The heap bytes of a kept device note.
 *
 * @param note - the note, if any
 * @returns bytes
 */
export function noteBytes(note: DeviceNote | undefined): number {
  return note ? NOTE_OVERHEAD + (note.userAgent?.length ?? 0) + (note.ip?.length ?? 0) : 0;
}
