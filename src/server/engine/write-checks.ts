/**
 * What every write is judged on, inside the store's atomic apply (the `check` of
 * `SessionStore.apply`), against the data it is actually applied to:
 * - sizes: `limits.size` bounds the data the browser can see and `limits.serverSize` the
 *   server-only data, each on its own, so a browser's `too_large` never depends on bytes it
 *   cannot see (no size oracle). A browser write is judged on what the browser can see or
 *   may write (its listed `clientWritable` paths, visible or not), and nothing else: the
 *   rest of the record is what the server wrote, which a browser write never changes;
 * - for browser writes, `clientWritable`'s validators or its function form.
 */
import { isPlainObject, SessionSyncError, utf8Length, type JsonObject, type Op } from '../../shared/index.js';
import type { ResolvedOptions } from '../options.js';
import type { CheckedChange } from '../stores/store.js';
import { needsData, project, validateWrite } from './policy.js';

const tooLarge = (message: string): SessionSyncError => new SessionSyncError('too_large', `session-sync: ${message}`);

/**
 * The largest record a store may hold after a write: the visible and the server-only limits
 * together. None for a browser write whose writable paths are listed: the check bounds what
 * it can see or write, the rest is unchanged by it, and the store's own limit counts
 * server-only bytes, so its refusal would tell a browser their size.
 *
 * @param options - the resolved options
 * @param fromClient - a browser write
 * @returns bytes, or undefined for no store-side limit
 */
export function recordLimit(options: ResolvedOptions, fromClient = false): number | undefined {
  if (fromClient && writablePaths(options.clientWritable)) return undefined;
  return options.limits.size + options.limits.serverSize;
}

// The paths a browser may write, when the option lists them (not for its function form).
function writablePaths(writable: ResolvedOptions['clientWritable']): string[][] | undefined {
  if ('paths' in writable) return writable.paths;
  if ('validators' in writable) return writable.validators.map((v) => v.path);
  return undefined;
}

// Two projections of the same data, together (a value present in both is the same value, or
// one holds the other).
function union(a: JsonObject, b: JsonObject): JsonObject {
  const out: JsonObject = { ...a };
  for (const key of Object.keys(b)) {
    const mine = out[key];
    const theirs = b[key]!;
    out[key] = isPlainObject(mine) && isPlainObject(theirs) ? union(mine, theirs) : theirs;
  }
  return out;
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
  const writable = fromClient ? writablePaths(options.clientWritable) : undefined;
  return ({ before, after, text }) => {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: a small session cannot pass either limit.
    if (text.length * 3 > smallest) {
      const shown = project(options.expose, after);
      const visible = utf8Length(JSON.stringify(shown));
      if (visible > size) throw tooLarge(`the data the browser can see would be larger than ${size} bytes`);
      // A browser write is never judged on bytes it cannot see: only on what it may write
      // besides (with the function form of clientWritable, the store's record limit bounds
      // the whole instead).
      if (writable && utf8Length(JSON.stringify(union(shown, project({ paths: writable }, after)))) > size) {
        throw tooLarge(`the data the browser can see or write would be larger than ${size} bytes`);
      }
      if (!fromClient && utf8Length(text) - visible > serverSize) {
        throw tooLarge(`the server-only data would be larger than ${serverSize} bytes (limits.serverSize)`);
      }
    }
    if (validate) return validateWrite(options.clientWritable, ops, id, before, after);
  };
}
