/**
 * A stand-in for the network where a test needs no real server: a fetch that answers the
 * session route from a snapshot the test controls (ETag `"<tag>:<epoch>:<version>"` and 304,
 * as the server's route answers), or fails like an unreachable server; and a socket.io-client
 * socket to a closed port.
 */
import { io } from 'socket.io-client';
import {
  createSession,
  type Session,
  type SessionOptions,
  type Snapshot,
  type SyncSocket,
} from '../../src/browser/index.js';
import type { JsonObject } from '../../src/shared/index.js';

// What tests opened, so `cleanup` (a suite's after.each) closes it even when a test failed
// half-way: a retrying session or a reconnecting socket would keep the process alive.
const opened: { close(): void }[] = [];

/**
 * `createSession`, remembered for {@link cleanup}.
 *
 * @param options - as for createSession
 * @returns the session
 */
export function open<T extends JsonObject = JsonObject>(options: SessionOptions<T> = {}): Session<T> {
  const session = createSession<T>(options);
  opened.push(session);
  return session;
}

/** Closes every session and socket opened through this module since the last call. */
export function cleanup(): void {
  for (const handle of opened.splice(0)) handle.close();
}

/** What a scripted route answers: `epoch` and `expiresIn` default to null (no record). */
export type RouteState = Omit<Snapshot, 'epoch' | 'expiresIn'> & Partial<Pick<Snapshot, 'epoch' | 'expiresIn'>>;

/** A scripted route. */
export interface FakeRoute {
  /** What the route answers; change it between calls. */
  snapshot: RouteState;
  /** When true, every call fails as fetch does when the server is unreachable. */
  offline: boolean;
  /** The headers of every request, in order. */
  requests: Headers[];
  fetch: typeof globalThis.fetch;
}

/**
 * Makes a scripted route.
 *
 * @param snapshot - the first answer
 * @returns the route; pass `route.fetch` to createSession
 * @example
 * const route = fakeRoute({ version: 1, tag: 'T', data: { a: 1 } })
 */
export function fakeRoute(snapshot: RouteState = { version: 0, tag: null, data: {} }): FakeRoute {
  const route: FakeRoute = {
    snapshot,
    offline: false,
    requests: [],
    fetch: (async (_input: RequestInfo | URL, init?: RequestInit) => {
      route.requests.push(new Headers(init?.headers));
      if (route.offline) throw new TypeError('fetch failed');
      const { version, tag, data, epoch = null, expiresIn = null } = route.snapshot;
      const etag = `"${tag}:${epoch}:${version}"`;
      if (new Headers(init?.headers).get('if-none-match') === etag) return new Response(null, { status: 304 });
      return new Response(JSON.stringify({ version, tag, epoch, expiresIn, data }), {
        headers: { 'content-type': 'application/json', etag },
      });
    }) as typeof globalThis.fetch,
  };
  return route;
}

/**
 * A socket to a port where nothing listens: it keeps failing to connect (offline).
 * Disconnect it at the end of the test.
 *
 * @returns the socket, not connected
 */
export function deadSocket(): SyncSocket {
  const socket = io('http://127.0.0.1:9', {
    autoConnect: false,
    reconnectionDelay: 50,
    reconnectionDelayMax: 100,
    timeout: 200,
  }) as SyncSocket;
  opened.push({ close: () => socket.disconnect() });
  return socket;
}

/**
 * Waits until `check` returns true (polling every 5 ms).
 *
 * @param check - the condition
 * @param what - named in the failure
 * @param ms - how long to wait at most
 */
export async function until(check: () => boolean, what = 'condition', ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
