import type { Socket } from 'socket.io-client';
import type {
  ClientToServerEvents,
  Exposed,
  JsonObject,
  JsonValue,
  PathInput,
  ServerToClientEvents,
  SessionData,
  SessionState,
  SessionSyncError,
} from '../shared/index.js';

/**
 * Where a mirror stands.
 *
 * - `'loading'`: no data yet (never seen again once data arrived);
 * - `'cached'`: showing data from the IndexedDB cache, `initial` or a GET, not live yet;
 * - `'live'`: the socket is connected and the server answered `hello`;
 * - `'offline'`: the server is unreachable; the data is kept;
 * - `'ended'`: the session was destroyed, expired or evicted; stays until `refresh()`;
 * - `'error'`: the server refused us (another protocol, a refused handshake); retried.
 */
export type Status = 'loading' | 'cached' | 'live' | 'offline' | 'ended' | 'error';

/**
 * What the route answers and `snapshot(req)` returns: the exposed session at a version, with
 * its record's `epoch` and the ms to its idle deadline (`expiresIn`).
 */
export type Snapshot<T extends object = JsonObject> = SessionState & { data: T };

/**
 * The data type of a mirror by default: your {@link SessionData} as the browser sees it, without
 * the server-only top-level `_keys`. Augment `SessionData` once (`declare module 'session-sync'`)
 * and `session.data`, `createSession()` and `useSession()` follow.
 */
export type BrowserData = Exposed<SessionData>;

/** The Socket.IO client socket the SDK speaks through, typed with the protocol's events. */
export type SyncSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** `cache` as an object: keep paths out of IndexedDB, bound the age of a shown cache. */
export interface CacheOptions {
  /** Paths never written to IndexedDB (`'profile.email'` or `['profile', 'email']`). */
  exclude?: PathInput[];
  /** Milliseconds after which a cached copy is not shown any more. */
  maxAge?: number;
}

/** Options of {@link createSession}; all optional. */
export interface SessionOptions<T extends object = BrowserData> {
  /** Base URL of the server; default the page's origin. */
  url?: string;
  /** Path of the JSON route; default `'/get/session'`. */
  route?: string;
  /** An existing socket.io-client socket, or `false` for HTTP only (read-only); default `io(url, { withCredentials: true })`. */
  socket?: SyncSocket | false;
  /** IndexedDB cache: `true` (default), `false` (nothing stored at all), or {@link CacheOptions}. */
  cache?: boolean | CacheOptions;
  /** The fetch to GET the route with; default `globalThis.fetch` with `credentials: 'include'`. */
  fetch?: typeof globalThis.fetch;
  /**
   * A snapshot embedded in the page by the server's `snapshot(req)`: shown at once (`epoch`
   * and `expiresIn` may be absent, as from an older server).
   */
  initial?: Omit<Snapshot<T>, 'epoch' | 'expiresIn'> & Partial<SessionState>;
  /** Names the cache and the tab channel; default the route's absolute URL. Instances with one name share both. */
  name?: string;
  /** BroadcastChannel name, or `false` for none; default `'session-sync:' + name`. */
  channel?: string | false;
  /** The IndexedDB factory; default `globalThis.indexedDB` (`null` for none). */
  indexedDB?: IDBFactory | null;
  /** Milliseconds before an IndexedDB call counts as failed; default 1000. */
  timeout?: number;
  /** Receives debug messages (e.g. `debug('session-sync:browser')`); default: printed when `localStorage.debug` mentions session-sync. */
  log?: (message: string, ...args: unknown[]) => void;
}

/** The events of {@link Session.on}. */
export interface SessionEvents<T> {
  change: (data: T) => void;
  status: (status: Status) => void;
  error: (error: SessionSyncError) => void;
  ended: (reason: string) => void;
  /** The count of writes waiting for the server changed (a confirmation changes no data). */
  pending: (count: number) => void;
}

/** A path as reads and writes accept it: `'prefs.theme'` or `['prefs', 'theme']`. */
export type { PathInput };

/**
 * One live mirror of the visitor's session. Every method works unbound.
 *
 * @example
 * const { subscribe, set } = createSession<{ prefs?: { theme?: string } }>()
 * subscribe((data) => render(data))
 * await set('prefs.theme', 'dark')
 */
export interface Session<T extends object = BrowserData> {
  /** The visible data: server state with pending writes on top. Always an object, never mutated. */
  readonly data: T;
  /** Where the mirror stands. */
  readonly status: Status;
  /** The server version held (pending writes not counted). */
  readonly version: number;
  /** The session's tag as last seen from the server (`null`: no session). */
  readonly tag: string | null;
  /** How many writes wait for the server's answer. */
  readonly pending: number;
  /** Resolves once data is first available, from the cache or the server. */
  readonly ready: Promise<T>;
  /** False when IndexedDB is missing, broken or turned off: nothing survives a reload. */
  readonly persistent: boolean;
  /** The same reference as `data` until something changed (for `useSyncExternalStore`). */
  getSnapshot(): T;
  /**
   * The data the instance started with (`initial`, or `{}`), always the same reference: what a
   * server render showed, so hydration matches it (`useSyncExternalStore`'s third argument).
   */
  getServerSnapshot(): T;
  /** Reads one path of `data`. */
  get(path: PathInput): JsonValue | undefined;
  /** Calls `fn` now and after every change; returns the unsubscribe. */
  subscribe(fn: (data: T) => void): () => void;
  /** Calls `fn` after every change (not now); returns the unsubscribe. */
  listen(fn: (data: T) => void): () => void;
  /** Adds a listener of `'change'`, `'status'`, `'error'`, `'ended'` or `'pending'`; returns its remover. */
  on<E extends keyof SessionEvents<T>>(event: E, fn: SessionEvents<T>[E]): () => void;
  /** Sets a value; resolves with the server version once stored. */
  set(path: PathInput, value: JsonValue): Promise<number>;
  /** Deletes a path; resolves with the server version once stored. */
  delete(path: PathInput): Promise<number>;
  /**
   * Adds `by` to the number at `path` (missing counts as 0): shown at once, and on the server
   * added to whatever is there then, so concurrent increments (other tabs, devices, the
   * server) never lose each other. Resolves with the server version once stored.
   *
   * @example
   * await session.increment('likes')
   * session.increment('cart.count', -1)
   */
  increment(path: PathInput, by?: number): Promise<number>;
  /** Runs `fn` on a deep copy of `data` and writes what it changed; resolves with the server version. */
  update(fn: (draft: T) => void | T): Promise<number>;
  /** GETs the route again and reconnects; also leaves `'ended'`. */
  refresh(): Promise<void>;
  /** Stops everything: socket listeners (and the socket it created), timers, the tab channel. */
  close(): void;
}
