/**
 * The apply of `RedisStore`: how one change lands atomically from any node, on one Redis or
 * on a Redis Cluster.
 *
 * Node reads the record (data as JSON text, version, user) — or, for a record it read or wrote
 * last, takes what it saw (known-records.ts) and lets the compare-and-set judge the guess —
 * applies the ops with `applyOps`,
 * runs the `check` hook on what it read, encodes the new data, the patch and the event
 * itself; then one Lua script, in the session's slot, compare-and-sets on the version and in
 * the same step checks and records the mutation id, decides the write condition (the born
 * key), stores the data, appends the patch, refreshes the lifetimes, keeps the device note
 * and publishes. A lost race answers `conflict` and Node retries from a fresh read (so the
 * check runs again on the data it will really apply to). Lua never decodes a session value
 * (its cjson turns `[]` into `{}` and cuts numbers to 14 digits).
 *
 * The user index lives in another slot: when the apply will make the record name a user it
 * did not name, Node adds the session to that user's index BEFORE the script, and prunes it
 * from the previous user's index AFTER (see user-index.ts for the invariant).
 */
import createDebug from 'debug';
import {
  applyOps,
  isPlainObject,
  MUTATION_MEMORY,
  SessionSyncError,
  type JsonObject,
  type Op,
} from '../../../shared/index.js';
import { adoptionWindow, assertSize, duplicateAnswer, endedError, runCheck, userAfter, withTimes } from '../common.js';
import type { ApplyOptions, ApplyResult, DeviceNote, StoredPatch } from '../store.js';
import type { StoreContext } from './client.js';
import { sessionKeys } from './keys.js';
import { APPLY, runScript } from './scripts.js';
import { newWriteMark, type KnownRecords } from './known-records.js';
import type { UserIndex } from './user-index.js';

const debug = createDebug('session-sync:redis');

const MAX_ATTEMPTS = 50;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A device note as script arguments: 'note', User-Agent, IP ('' for none), or no note at all.
 *
 * @param device - the note, if any
 * @returns three script arguments
 * @example
 * noteArgs({ userAgent: 'curl/8' }) // ['note', 'curl/8', '']
 */
export function noteArgs(device: DeviceNote | undefined): [string, string, string] {
  if (!device) return ['', '', ''];
  const text = (value: unknown): string => (typeof value === 'string' ? value : '');
  return ['note', text(device.userAgent), text(device.ip)];
}

/**
 * Reads a record's data text.
 *
 * @param text - the `d` field
 * @param id - the session id (its start goes in the message)
 * @returns the data
 * @throws SessionSyncError `internal` when the record does not hold a JSON object
 * @example
 * parseData('{"a":1}', id) // { a: 1 }
 */
export function parseData(text: string | null, id: string): JsonObject {
  try {
    const data: unknown = JSON.parse(text ?? '{}');
    if (isPlainObject(data)) return data;
  } catch {
    // fall through
  }
  throw new SessionSyncError(
    'internal',
    `session-sync: the Redis record of a session is not a JSON object (${id.slice(0, 6)}…)`,
  );
}

/**
 * Applies one change (see {@link SessionStore.apply}); the caller queues applies per id and
 * starts the next when this one calls `sent`, so the compare-and-sets of one node reach
 * Redis in order and race only with other nodes (or, after a lost race, with the writes
 * queued behind this one).
 *
 * @param ctx - the store's connection and names
 * @param index - the store's user index
 * @param known - the records this node last saw, the first attempt's guess (kept up to date)
 * @param id - the session id
 * @param ops - the change
 * @param options - the apply's options (lifetimes checked by the caller)
 * @param sent - called once this apply's compare-and-set is on its way: the next one may go
 * @returns the answer
 * @throws SessionSyncError `invalid`, `too_large`, `ended`, `store_unavailable`; or what `check` threw
 * @example
 * await applyChange(ctx, index, known, id, [{ op: 'set', path: ['n'], value: 1 }], { ttl, absolute })
 */
export async function applyChange(
  ctx: StoreContext,
  index: UserIndex,
  known: KnownRecords,
  id: string,
  ops: readonly Op[],
  options: ApplyOptions,
  sent: () => void = () => undefined,
): Promise<ApplyResult> {
  const keys = sessionKeys(ctx.prefix, id);
  const mutation = options.mutation ?? '';
  const when = options.when;
  const condition = when === undefined ? '' : 'exists' in when ? 'exists' : 'adopt';
  const adoptUntil = when && 'adopt' in when ? when.adopt + adoptionWindow(options) : 0;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    // A change without a mutation id to a record this node just read or wrote goes straight
    // to the compare-and-set. A replayed mutation is always read first: a duplicate must be
    // answered as one before `check` judges it again.
    const guess = attempt === 1 && !mutation ? known.of(id) : undefined;
    const [[text, stored, storedUser, storedMark], seen] = guess
      ? [[guess.text, String(guess.version), guess.user, guess.mark], null]
      : await ctx.conn.run('apply', (c) =>
          Promise.all([
            c.hmget(keys.record, 'd', 'v', 'u', 'w'),
            mutation ? c.hget(keys.mutations, mutation) : Promise.resolve(null),
          ]),
        );
    if (seen) return duplicateAnswer(Number(seen));
    const base = stored ? Number(stored) : 0;
    // The script decides again, atomically; this only spares a round trip.
    if (base === 0 && condition === 'exists') throw endedError();
    const before = base ? parseData(text ?? null, id) : {};
    const { data, changed } = applyOps(before, ops);
    if (!changed && base === 0) return { version: 0, ops: [...ops], changed: false };
    let dataText = '';
    if (changed) {
      dataText = JSON.stringify(data);
      assertSize(dataText, options.maxSize);
      // Judged against the data read in THIS attempt: a lost race re-reads and re-judges.
      await runCheck(options, { before, after: data, text: dataText });
    }
    const patch: StoredPatch = { version: base + 1, base, ops: [...ops] };
    if (options.mutation !== undefined) patch.mutation = options.mutation;
    const epoch = Date.now();
    // The published JSON names the creation time `epoch`; the feed reads it into TIMES.
    const event = base === 0 ? { type: 'change', id, ...patch, epoch } : { type: 'change', id, ...patch };
    const setUser = changed && options.user !== undefined;
    const user = setUser ? (userAfter(options, data) ?? '') : '';
    // Before the apply that names the user: the invariant of user-index.ts. A record that
    // already names this user joined the index before the apply that named it (the CAS
    // guarantees the record still does when this one lands).
    const landBy = user !== '' && user !== (storedUser ?? '') ? await index.add(user, id, options.absolute) : '';
    // What the record will be if this lands: the next apply queued here builds on it and is
    // sent right behind this one (Redis runs one connection's commands in order); if this
    // one fails, that one's compare-and-set fails too and it reads afresh.
    const mark = changed ? newWriteMark() : (storedMark ?? '');
    if (changed)
      known.remember(id, { version: base + 1, mark, text: dataText, user: setUser ? user : (storedUser ?? '') });
    const reply = ctx.conn.run('apply', (c) =>
      runScript(
        c,
        APPLY,
        [keys.record, keys.history, keys.mutations, keys.order, keys.born],
        [
          base,
          changed ? '1' : '0',
          dataText,
          changed ? JSON.stringify(patch) : '',
          changed ? JSON.stringify(event) : '',
          ctx.channel,
          mutation,
          Math.ceil(options.ttl),
          Math.ceil(options.absolute),
          ctx.history,
          MUTATION_MEMORY,
          setUser ? 'set' : 'keep',
          user,
          condition,
          adoptUntil,
          epoch,
          ...noteArgs(options.device),
          landBy,
          storedMark ?? '',
          mark,
        ],
      ),
    );
    sent();
    let answer: string[];
    try {
      answer = (await reply) as string[];
    } catch (err) {
      known.forget(id); // it may or may not have landed
      throw err;
    }
    if (answer[0] !== 'ok') known.forget(id);
    if (answer[0] === 'dup') return duplicateAnswer(Number(answer[1]));
    if (answer[0] === 'ended') throw endedError();
    if (answer[0] === 'ok') {
      const previous = answer[5];
      const version = Number(answer[1]);
      if (version > 0)
        known.remember(id, {
          version,
          mark,
          text: changed ? dataText : (text ?? '{}'),
          user: setUser ? user : (previous ?? ''),
        });
      // After the apply, lazily: a failure (or a crash here) only leaves an extra member.
      if (setUser && previous && previous !== user) void index.prune(previous, [id], Number(answer[6]));
      const result: ApplyResult = { version, ops: [...ops], changed: answer[2] === '1' };
      return withTimes(result, answer[3] ? { epoch: Number(answer[3]), expires: Number(answer[4]) } : undefined);
    }
    debug('apply %s on attempt %d (version now %s)', answer[0], attempt, answer[1]);
    // A stale guess is no race lost: read at once.
    if (answer[0] === 'conflict' && !guess) await sleep(Math.random() * Math.min(5 * attempt, 50));
  }
  throw new SessionSyncError(
    'store_unavailable',
    `session-sync: Redis apply lost ${MAX_ATTEMPTS} version races in a row`,
  );
}
