/**
 * One simulated browser for the browser-SDK tests: jsdom has no fetch and Node's fetch has
 * no cookie jar, so the SDK gets a fetch and a socket.io-client socket that share one
 * cookie jar (the {@link Jar} of ./http.ts), as a page's fetch and WebSocket share cookies.
 */
import { io } from 'socket.io-client';
import type { SyncSocket } from '../../src/browser/index.js';
import { Jar } from './http.js';

/** A fetch and a socket factory over one cookie jar. */
export interface Browser {
  jar: Jar;
  /** `fetch` for `createSession({ fetch })`: sends and stores the jar's cookies. */
  fetch: typeof globalThis.fetch;
  /**
   * A socket for `createSession({ socket })` that sends the jar's cookies on every handshake
   * (also on reconnects, after the jar changed). Not connected: the SDK connects it.
   */
  socket(): SyncSocket;
}

/**
 * Makes a simulated browser for a server.
 *
 * @param base - the server's base URL
 * @param jar - an existing jar (two "tabs" of one browser share it)
 * @returns the browser
 * @example
 * const b = browser(url)
 * const s = createSession({ url, fetch: b.fetch, socket: b.socket(), name: 'x' })
 */
export function browser(base: string, jar = new Jar(base)): Browser {
  return {
    jar,
    fetch: ((input: RequestInfo | URL, init?: RequestInit) =>
      jar.fetch(String(input), init)) as typeof globalThis.fetch,
    socket: () =>
      io(base, {
        autoConnect: false,
        reconnectionDelay: 50,
        reconnectionDelayMax: 200,
        // In Node, socket.io-client sends extraHeaders on every handshake request; a getter
        // reads the jar each time, so a reconnect after regenerate() carries the new cookie.
        extraHeaders: {
          get cookie() {
            return jar.header;
          },
        } as Record<string, string>,
      }) as SyncSocket,
  };
}
