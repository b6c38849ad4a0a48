import { parseSnapshot, toPath } from '../shared/index.js';
import type { SessionOptions, Snapshot, SyncSocket } from './types.js';

/** {@link SessionOptions} checked, with every default filled in. */
export interface Config {
  /** True without a window (server rendering): no socket, no storage, no timers. */
  server: boolean;
  url: string | undefined;
  routeUrl: string;
  name: string;
  channel: string | false;
  socket: SyncSocket | false | undefined;
  cache: boolean;
  exclude: string[][];
  maxAge: number;
  fetch: typeof globalThis.fetch;
  initial: Snapshot | undefined;
  indexedDB: IDBFactory | null | undefined;
  timeout: number;
  log: (message: string, ...args: unknown[]) => void;
}

// Names the option; its TSDoc says what it takes (kept short: this ships to browsers).
const check = (ok: unknown, name: string): void => {
  if (!ok) throw new TypeError(`session-sync: option ${name} is invalid`);
};

function defaultLog(message: string, ...args: unknown[]): void {
  try {
    // The debug package would triple this SDK's size; this honours its usual switch.
    if (/session-sync/.test(localStorage.debug)) console.debug('session-sync:browser', message, ...args);
  } catch {
    // no localStorage (Node, sandboxed frames)
  }
}

/**
 * Checks the options of `createSession` and fills in the defaults.
 *
 * @param o - the options as given
 * @returns the full configuration
 * @throws TypeError naming the first bad option
 * @example
 * const config = readOptions({ route: '/api/session' })
 */
export function readOptions<T extends object>(o: SessionOptions<T>): Config {
  const { url, route = '/get/session', socket, cache = true, initial, channel, timeout = 1000 } = o;
  check(url === undefined || typeof url === 'string', 'url');
  check(typeof route === 'string', 'route');
  check(socket === undefined || socket === false || typeof socket?.emit === 'function', 'socket');
  check(typeof cache === 'boolean' || (cache && typeof cache === 'object'), 'cache');
  const { exclude = [], maxAge = Infinity } = typeof cache === 'object' ? cache : {};
  check(Array.isArray(exclude), 'cache.exclude');
  check(maxAge >= 0, 'cache.maxAge');
  check(o.fetch === undefined || typeof o.fetch === 'function', 'fetch');
  const start = initial && parseSnapshot(initial);
  check(!start || start.ok, 'initial');
  check(timeout > 0, 'timeout');
  // No window: rendered on a server, where one instance serves every request.
  const server = typeof window === 'undefined';
  let routeUrl = route;
  try {
    if (!server) routeUrl = new URL(route, url ?? location.href).href;
  } catch {
    check(0, 'url');
  }
  const name = o.name ?? routeUrl;
  return {
    server,
    url,
    routeUrl,
    name,
    channel: channel ?? `session-sync:${name}`,
    socket,
    cache: cache !== false,
    exclude: exclude.map((p, i) => toPath(p, `cache.exclude[${i}]`)),
    maxAge,
    // Unbound window.fetch throws "Illegal invocation" in Chrome.
    fetch: o.fetch ?? ((input, init) => fetch(input, init)),
    initial: start && start.ok ? start.value : undefined,
    indexedDB: o.indexedDB === undefined ? globalThis.indexedDB : o.indexedDB,
    timeout,
    log: o.log ?? defaultLog,
  };
}
