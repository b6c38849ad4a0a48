import { parseHelloAck, toPath, type JsonObject } from '../shared/index.js';
import type { SessionOptions, Snapshot, SyncSocket } from './types.js';

/** {@link SessionOptions} checked, with every default filled in. */
export interface Config<T extends JsonObject> {
  url: string | undefined;
  routeUrl: string;
  name: string;
  channel: string | false;
  socket: SyncSocket | false | undefined;
  cache: boolean;
  exclude: string[][];
  maxAge: number;
  fetch: typeof globalThis.fetch;
  initial: Snapshot<T> | undefined;
  indexedDB: IDBFactory | null | undefined;
  timeout: number;
  log: (message: string, ...args: unknown[]) => void;
}

/**
 * Reads a snapshot-shaped value (`{ version, tag, data }`) with the protocol's guard.
 *
 * @param value - anything: a route body, a tab message, a cache entry
 * @returns the snapshot, or undefined when the shape is wrong
 * @example
 * toSnapshot({ version: 1, tag: 't', data: {} }) // { version: 1, tag: 't', data: {} }
 */
export function toSnapshot(value: unknown): Snapshot | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const parsed = parseHelloAck({ ...value, ok: true });
  if (!parsed.ok || !('data' in parsed.value)) return undefined;
  const { version, tag, data } = parsed.value;
  return { version, tag, data };
}

const fail = (name: string, what: string): never => {
  throw new TypeError(`session-sync: option ${name} must be ${what}`);
};

function defaultLog(message: string, ...args: unknown[]): void {
  try {
    // The debug package would triple this SDK's size; this honours its usual switch.
    if (/session-sync/.test(localStorage.debug)) console.debug(`session-sync:browser ${message}`, ...args);
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
export function readOptions<T extends JsonObject>(o: SessionOptions<T>): Config<T> {
  const { url, route = '/get/session', socket, cache = true, initial, channel, timeout = 1000 } = o;
  if (url !== undefined && typeof url !== 'string') fail('url', 'a string');
  if (typeof route !== 'string') fail('route', 'a string');
  if (socket !== undefined && socket !== false && typeof socket?.emit !== 'function') fail('socket', 'a socket.io-client Socket or false');
  if (typeof cache !== 'boolean' && (typeof cache !== 'object' || !cache)) fail('cache', 'true, false or { exclude, maxAge }');
  const { exclude = [], maxAge = Infinity } = typeof cache === 'object' ? cache : {};
  if (!Array.isArray(exclude)) fail('cache.exclude', 'an array of paths');
  if (typeof maxAge !== 'number' || !(maxAge >= 0)) fail('cache.maxAge', 'a number of milliseconds');
  if (o.fetch !== undefined && typeof o.fetch !== 'function') fail('fetch', 'a function');
  if (initial !== undefined && !toSnapshot(initial)) fail('initial', 'a { version, tag, data } snapshot');
  if (typeof timeout !== 'number' || !(timeout > 0)) fail('timeout', 'a positive number');
  let routeUrl = '';
  try {
    routeUrl = new URL(route, url ?? location.href).href;
  } catch {
    fail('url', 'an absolute URL outside a page');
  }
  const name = o.name ?? routeUrl;
  return {
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
    initial,
    indexedDB: o.indexedDB === undefined ? globalThis.indexedDB : o.indexedDB,
    timeout,
    log: o.log ?? defaultLog,
  };
}
