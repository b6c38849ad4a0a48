import { SessionSyncError, type Op } from '../shared/index.js';
import type { Cache } from './cache.js';
import type { Held, Write } from './mirror.js';

/** The writes of one mirror that the server has not confirmed: their order, their promises, their record. */
export interface Outbox {
  /** The pending writes, oldest first. */
  readonly list: Write[];
  /** How many wait for the server's answer (acknowledged ones are not counted). */
  waiting(): number;
  /** Queues a write made under `held`; `store` false keeps it out of IndexedDB. Resolves with the server version. */
  add(held: Held, ops: Op[], store: boolean): [Write, Promise<number>];
  /** Keeps only `kept` (the writes re-owned by a new state); the others end with `ended`. */
  keep(kept: Write[]): void;
  /** Ends writes: rejected with `err` (and reported) or, without one, with `ended`. */
  drop(gone: Write[], err?: SessionSyncError): void;
  /** Resolves a write the server acknowledged at `version`; it stays shown until the state held reaches it. */
  ack(id: string, version: number): void;
  /** Resolves the writes the state held now contains: the one a patch names, and those acknowledged at or below it. */
  confirm(held: number, mutation?: string, version?: number): void;
}

// 128 random bits as four decimal numbers: at most 43 characters, under the 64 the server
// allows. Not randomUUID: browsers offer it in secure contexts only.
const mutationId = (): string => crypto.getRandomValues(new Uint32Array(4)).join('-');

/**
 * The error of a write that can no longer reach its session.
 *
 * @returns a `SessionSyncError` with code `ended`
 */
export const ended = (): SessionSyncError => new SessionSyncError('ended', 'session-sync: the session ended');

/**
 * A promise already settled with `value`, or rejected when it is an Error. A rejection is
 * reported through `'error'` too: a fire-and-forget write must not be an unhandled rejection.
 *
 * @param value - the version, or the error
 * @returns the promise
 */
export const settled = <V>(value: V | Error): Promise<V> => {
  const p = value instanceof Error ? Promise.reject(value) : Promise.resolve(value);
  p.catch(() => {});
  return p;
};

/**
 * Opens the outbox of one mirror.
 *
 * @param cache - where pending writes are stored, beside their session
 * @param report - called with each refusal (the mirror's `'error'` event)
 * @returns the outbox
 * @example
 * const outbox = openOutbox(cache, (err) => emit('error', err))
 * const [write, done] = outbox.add(held, [{ op: 'del', path: ['draft'] }], true)
 */
export function openOutbox(cache: Cache, report: (err: SessionSyncError) => void): Outbox {
  let list: Write[] = [];
  // What settles each write's promise: a version resolves it, an Error rejects it.
  const waiters = new Map<string, (result: number | Error) => void>();
  const settle = (id: string, result: number | Error): void => {
    waiters.get(id)?.(result);
    waiters.delete(id);
  };
  // Takes writes out of the list and the record, and settles them.
  const finish = (gone: Write[], result: number | Error): void => {
    list = list.filter((w) => !gone.includes(w));
    if (gone.length) cache.remove(gone.map((w) => w.id));
    for (const w of gone) settle(w.id, result);
  };
  const drop = (gone: Write[], err?: SessionSyncError): void => {
    finish(gone, err ?? ended());
    if (err) gone.forEach(() => report(err));
  };
  return {
    get list() {
      return list;
    },
    waiting: () => list.filter((w) => w.acked === undefined).length,
    add(held, ops, store) {
      const w: Write = { id: mutationId(), ops, tag: held.tag, epoch: held.epoch };
      const done = new Promise<number>((resolve, reject) =>
        waiters.set(w.id, (result) => (typeof result === 'number' ? resolve(result) : reject(result))),
      );
      done.catch(() => {}); // reported through 'error' too: never an unhandled rejection
      list.push(w);
      if (store) cache.add(held, w);
      return [w, done];
    },
    keep(kept) {
      drop(list.filter((w) => !kept.some((k) => k.id === w.id)));
      list = kept;
    },
    drop,
    ack(id, version) {
      const w = list.find((x) => x.id === id);
      if (!w) return; // confirmed by its patch already, or dropped by an end or a switch of session
      settle(id, version);
      cache.remove([id]);
      w.acked = version;
    },
    confirm(held, mutation, version = held) {
      finish(
        list.filter((w) => w.id === mutation || (w.acked ?? Infinity) <= held),
        version,
      );
    },
  };
}
