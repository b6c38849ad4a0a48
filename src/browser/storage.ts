import { get, promisifyRequest, update, type UseStore } from 'idb-keyval';

/** A key-value store that never throws and never hangs: IndexedDB when it works, memory otherwise. */
export interface Storage {
  /** False once IndexedDB is missing or has failed: writes then live in memory only. */
  readonly persistent: boolean;
  /** Reads a key; `undefined` when absent or when IndexedDB failed. */
  get<V>(key: string): Promise<V | undefined>;
  /** Writes a key (`undefined` deletes it); resolves once stored or given up. */
  set(key: string, value: unknown): Promise<void>;
  /** Read-modify-write of one key in one transaction (tabs share the outbox). */
  update<V>(key: string, fn: (old: V | undefined) => V): Promise<void>;
  /** Closes the database connection. */
  close(): void;
}

let warned = false;
/**
 * Says once per page that IndexedDB cannot be used (missing, blocked or failing).
 *
 * @param why - the failure, if any
 */
export const warn = (why?: unknown): void => {
  if (!warned) console.warn('session-sync: no usable IndexedDB; the session is kept in memory only', why ?? '');
  warned = true;
};

// idb-keyval's createStore reads the global indexedDB; this one takes the factory, so tests
// can hand in a broken one. One database, one object store, keys carry the instance's name.
function idbStore(factory: IDBFactory): [UseStore, () => void] {
  let db: Promise<IDBDatabase> | undefined;
  const open = (): Promise<IDBDatabase> => {
    const request = factory.open('session-sync');
    request.onupgradeneeded = () => request.result.createObjectStore('kv');
    return promisifyRequest(request);
  };
  return [
    (mode, fn) => (db ||= open()).then((d) => fn(d.transaction('kv', mode).objectStore('kv'))),
    () =>
      db?.then(
        (d) => d.close(),
        () => {},
      ),
  ];
}

/**
 * Opens the storage of one mirror. Every IndexedDB call is raced against `timeout`: a
 * missing, blocked (another tab holds an old version open) or failing database switches
 * the storage to memory for good, with one warning.
 *
 * @param factory - the IndexedDB factory, or null/undefined for memory only
 * @param timeout - milliseconds before a call counts as failed
 * @param warn - called once with the reason when IndexedDB is given up
 * @returns the storage
 * @example
 * const storage = openStorage(indexedDB, 1000, console.warn)
 * await storage.set('a|snap', { version: 1 })
 */
export function openStorage(
  factory: IDBFactory | null | undefined,
  timeout: number,
  warn?: (why: unknown) => void,
): Storage {
  const memory = new Map<string, unknown>();
  let [store, close] = factory ? idbStore(factory) : [];
  const guard = async <R>(run: (s: UseStore) => Promise<R>): Promise<R | undefined> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return (
        store &&
        (await new Promise<R>((resolve, reject) => {
          timer = setTimeout(reject, timeout, new Error('IndexedDB timed out'));
          // A factory can throw synchronously (private modes, sandboxed frames): the
          // promise constructor turns that into a rejection.
          run(store!).then(resolve, reject);
        }))
      );
    } catch (err) {
      if (store) warn?.(err);
      store = undefined;
    } finally {
      clearTimeout(timer);
    }
  };
  const storage: Storage = {
    get persistent() {
      return !!store;
    },
    async get<V>(key: string) {
      // Memory first: it holds what this page wrote, also after IndexedDB was given up.
      return (memory.has(key) ? memory.get(key) : await guard((s) => get<V>(key, s))) as V | undefined;
    },
    // A write is an update that ignores what was there.
    set: (key, value) => storage.update(key, () => value),
    async update<V>(key: string, fn: (old: V | undefined) => V) {
      memory.set(key, fn(memory.get(key) as V | undefined));
      await guard((s) => update<V>(key, fn, s));
    },
    close: () => close?.(),
  };
  return storage;
}
