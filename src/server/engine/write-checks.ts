/**
 * What every write is judged on, inside the store's atomic apply (the `check` of
 * `SessionStore.apply`), against the data it is actually applied to:
 * - sizes: `limits.size` bounds the data the browser can see and `limits.serverSize` the
 *   server-only data, each on its own, so a browser's `too_large` never depends on bytes it
 *   cannot see (no size oracle);
 * - for browser writes, `clientWritable`'s validators or its function form.
 */
import { SessionSyncError, utf8Length, type Op } from '../../shared/index.js';
import type { ResolvedOptions } from '../options.js';
import type { CheckedChange } from '../stores/store.js';
import { needsData, project, validateWrite } from './policy.js';

const tooLarge = (message: string): SessionSyncError => new SessionSyncError('too_large', `session-sync: ${message}`);

/**
 * The largest record a store may hold: the visible and the server-only limits together.
 *
 * @param options - the resolved options
 * @returns bytes
 */
export function recordLimit(options: ResolvedOptions): number {
  return options.limits.size + options.limits.serverSize;
}

/**
 * The `check` of one write.
 *
 * @param options - the resolved options
 * @param id - the session id
 * @param ops - the checked ops
 * @param fromClient - a browser write: judged on the visible size only, and by `clientWritable`
 * @returns the check to pass to the store's apply
 * @example
 * store.apply(id, ops, { ...lifetimes, check: writeCheck(options, id, ops, true) })
 */
export function writeCheck(
  options: ResolvedOptions,
  id: string,
  ops: readonly Op[],
  fromClient: boolean,
): (change: CheckedChange) => void | Promise<void> {
  const { size, serverSize } = options.limits;
  const smallest = Math.min(size, serverSize);
  const validate = fromClient && needsData(options.clientWritable);
  return ({ before, after, text }) => {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: a small session cannot pass either limit.
    if (text.length * 3 > smallest) {
      const visible = utf8Length(JSON.stringify(project(options.expose, after)));
      if (visible > size) throw tooLarge(`the data the browser can see would be larger than ${size} bytes`);
      // A browser write is never judged on bytes it cannot see; the store's record limit
      // still bounds the whole.
      if (!fromClient && utf8Length(text) - visible > serverSize) {
        throw tooLarge(`the server-only data would be larger than ${serverSize} bytes (limits.serverSize)`);
      }
    }
    if (validate) return validateWrite(options.clientWritable, ops, id, before, after);
  };
}
