import createDebug from 'debug';

const warned = new Set<string>();

/**
 * Prints a warning once per process, prefixed `session-sync:`.
 *
 * @param key - what the warning is about (printed once per key)
 * @param message - the text
 * @example
 * warnOnce('no-secret', 'no "secret" given')
 */
export function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  warn(message);
}

/**
 * Prints a warning, prefixed `session-sync:` (for warnings an instance prints once itself).
 *
 * @param message - the text
 * @example
 * warn('MemoryStore is full')
 */
export function warn(message: string): void {
  console.warn(`session-sync: ${message}`);
}

/**
 * A debug logger under `session-sync:<area>` (enable with `DEBUG=session-sync:*`).
 *
 * @param area - the part of the server
 * @returns the logger
 * @example
 * const debug = logger('express')
 */
export function logger(area: string): createDebug.Debugger {
  return createDebug(`session-sync:${area}`);
}
