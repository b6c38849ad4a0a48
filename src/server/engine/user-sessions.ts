/**
 * What the facade and `logoutOthers()` do over every session of one user (option `user`).
 * The index itself lives inside each store and moves with every apply;
 * this file only lists it and acts on what it lists.
 */
import { isPlainObject, SessionSyncError, type JsonObject, type Op } from '../../shared/index.js';
import { wrapStoreError, type Core } from './core.js';
import { Draft } from './draft.js';
import { asUserId } from '../stores/common.js';
import type { UserSession } from '../stores/store.js';

/** A change for `update` / `updateUser`: ops, or a function that edits a draft (or returns new data). */
export type SessionUpdate = readonly Op[] | ((data: JsonObject) => void | JsonObject | Promise<void | JsonObject>);

/**
 * Checks that the option `user` is set and turns a user id into the index's key: a
 * non-empty string as is, a finite number as its string (`42` and `'42'` are one user).
 *
 * @param core - the shared state
 * @param method - the API method, named in errors
 * @param user - the user id as given
 * @returns the index key
 * @throws TypeError without the option `user`, or for a user id that is no id
 * @example
 * userKeyOf(core, 'sessionsOf', 42) // '42'
 */
export function userKeyOf(core: Core, method: string, user: unknown): string {
  if (!core.options.user) throw new TypeError(`session-sync: ${method}() needs the option "user"`);
  const key = asUserId(user);
  if (key !== undefined) return key;
  throw new TypeError(`session-sync: ${method}(user) takes a non-empty string or a number (got ${describe(user)})`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'an empty string' : typeof value;
}

/**
 * The live sessions of a user, store failures as `store_unavailable`.
 *
 * @param core - the shared state
 * @param user - the index key (see {@link userKeyOf})
 * @returns `{ id, version, lastActive }` of each
 * @example
 * await listSessions(core, 'u1')
 */
export async function listSessions(core: Core, user: string): Promise<UserSession[]> {
  try {
    return await core.store.sessionsOf(user);
  } catch (err) {
    throw wrapStoreError(err);
  }
}

/**
 * Ends every session of a user but `except`: records gone, every mirror told
 * `session:ended { reason: 'destroyed' }` through the store's feed, on every node.
 *
 * @param core - the shared state
 * @param user - the index key
 * @param except - a session id to keep, if any
 * @returns how many live sessions were ended (one already gone meanwhile does not count)
 * @example
 * await endSessions(core, 'u1', req.session.id)
 */
export async function endSessions(core: Core, user: string, except: string | undefined): Promise<number> {
  const sessions = (await listSessions(core, user)).filter((s) => s.id !== except);
  const ended = await everyOne(sessions.map((s) => core.destroy(s.id, 'destroyed')));
  return ended.filter(Boolean).length;
}

// Waits for every session's work before failing, so a rejection never leaves writes to
// other sessions still running behind the caller's back; the first failure is thrown.
async function everyOne<T>(work: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(work);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * The ops a function change makes to `data` (the function edits a draft, or returns new data).
 *
 * @param data - the data to change
 * @param change - the function
 * @param method - the API method, named in errors
 * @returns the ops (`[]` when it changed nothing)
 * @throws TypeError when the function returns something other than nothing or a plain object
 * @example
 * await opsOf({ n: 1 }, (d) => { d.n = 2 }, 'update') // [{ op: 'set', path: ['n'], value: 2 }]
 */
export async function opsOf(
  data: JsonObject,
  change: Exclude<SessionUpdate, readonly Op[]>,
  method: string,
): Promise<Op[]> {
  const draft = new Draft(
    () => data,
    () => {},
  );
  const returned = await change(draft.proxy());
  if (returned !== undefined) {
    if (!isPlainObject(returned)) {
      throw new TypeError(`session-sync: ${method}(…, fn): fn must return nothing or a plain object`);
    }
    draft.replace(returned);
  }
  return draft.take();
}

/**
 * Applies one change to every session of a user; each is pushed live to its mirrors. A
 * session that ends between the listing and its write is not brought back: the store
 * applies the change only while the record exists. When one session refuses the change (`invalid`, `too_large`), the
 * others still get it and the call then rejects with that error.
 *
 * @param core - the shared state
 * @param user - the index key
 * @param change - ops, or a function called with each session's own data
 * @returns how many sessions changed
 * @throws TypeError for a change that is neither ops nor a function (before anything is written)
 * @example
 * await updateSessions(core, 'u1', [{ op: 'set', path: ['user', 'plan'], value: 'pro' }])
 */
export async function updateSessions(core: Core, user: string, change: SessionUpdate): Promise<number> {
  if (typeof change !== 'function' && !Array.isArray(change)) {
    throw new TypeError('session-sync: updateUser(user, change) takes ops or a function');
  }
  // Ops are checked once, up front: a bad value fails the call before any session changed.
  if (typeof change !== 'function') core.checkOps(change);
  const sessions = await listSessions(core, user);
  const changed = await everyOne(sessions.map((s) => updateExisting(core, s.id, change)));
  return changed.filter(Boolean).length;
}

async function updateExisting(core: Core, id: string, change: SessionUpdate): Promise<boolean> {
  let ops: readonly Op[];
  if (typeof change === 'function') {
    let stored;
    try {
      stored = await core.store.get(id);
    } catch (err) {
      throw wrapStoreError(err);
    }
    if (!stored) return false;
    ops = await opsOf(stored.data, change, 'updateUser');
  } else {
    ops = change;
  }
  if (ops.length === 0) return false;
  try {
    // Only while the record exists: a session that ended since the listing stays ended.
    return (await core.commit(id, ops, { when: { exists: true } })).changed;
  } catch (err) {
    if (err instanceof SessionSyncError && err.code === 'ended') return false;
    throw err;
  }
}
