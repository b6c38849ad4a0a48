// Types of demo/server.js, for the end-to-end tests (TypeScript) that start the demo in-process.
import type { Server as HttpServer } from 'node:http';
import type { Server as IoServer } from 'socket.io';
import type { SessionStore, SessionSync } from '../dist/server.js';

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** Port to listen on (default 3000; 0 picks a free one). */
  port?: number;
  /** Interface to listen on (default: all). */
  host?: string;
  /** Where sessions live (default: a MemoryStore). */
  store?: SessionStore;
  /** Cookie secret (default: $SESSION_SECRET or the demo's own). */
  secret?: string;
}

/** A running demo. */
export interface Demo {
  /** The page's URL. */
  url: string;
  /** The port listened on. */
  port: number;
  /** The session layer (for out-of-band reads: `sync.get(id)`). */
  sync: SessionSync;
  /** The Socket.IO server. */
  io: IoServer;
  /** The HTTP server. */
  server: HttpServer;
  /**
   * Test hook: `false` makes the session's channels unreachable (route, API and Socket.IO
   * handshakes fail at the network level, open sockets are dropped); `true` restores them.
   */
  setReachable(on: boolean): void;
  /** Stops everything: sockets, the HTTP server, the session layer (not a store passed in). */
  close(): Promise<void>;
}

/** The path of the IIFE build the page loads. */
export const BROWSER_BUNDLE: string;

/**
 * Starts the demo server.
 *
 * @param options - see {@link DemoOptions}
 * @returns the running demo
 * @example
 * const demo = await startDemo({ port: 0, host: '127.0.0.1' })
 * await demo.close()
 */
export function startDemo(options?: DemoOptions): Promise<Demo>;
