/**
 * `session-sync` / `session-sync/server`: one live session per visitor, shared by Express
 * handlers, Socket.IO handlers and the browser.
 *
 * @example
 * import { createSessionSync } from 'session-sync/server'
 * const sync = createSessionSync({ secret: process.env.SESSION_SECRET })
 * app.use(sync.express())
 * sync.attach(io)
 *
 * @packageDocumentation
 */
import { createSessionSync } from './session-sync.js';
import type { HttpSession } from './express.js';
import type { JsonValue } from '../shared/index.js';

export { createSessionSync, SessionSync } from './session-sync.js';
export type { SessionSnapshot, SessionRecord, SessionUpdate } from './session-sync.js';
export type { SessionSyncOptions, Validator, WriteContext, ServerLimits } from './options.js';
export { DEFAULT_SERVER_LIMITS } from './options.js';
export type { SessionChange } from './core.js';
export { HttpSession } from './express.js';
export { SocketSession, type SocketSessionOf } from './socket-session.js';
export { SessionHandle, type SynchronizeOptions } from './handle.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { RedisStore, type RedisStoreOptions, type RedisStoreTarget } from './redis-store.js';
export type * from './store.js';
export {
  SessionSyncError,
  PROTOCOL_VERSION,
  ERROR_CODES,
  DEFAULT_LIMITS,
  type ErrorCode,
  type Op,
  type JsonObject,
  type JsonValue,
  type EndReason,
} from '../shared/index.js';

/**
 * The shape of your sessions, for types. Augment it:
 *
 * @example
 * declare module 'session-sync' {
 *   interface SessionData { user?: { id: string; name: string }; cart?: string[] }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface SessionData {
  [key: string]: JsonValue | undefined;
}

/** `req.session` as typed for Express: the handle plus `val` (or your key) as {@link SessionData}. */
export type RequestSession = HttpSession & { val: SessionData } & { [key: string]: unknown };

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The visitor's session (session-sync). */
      session: RequestSession;
    }
  }
}

export default createSessionSync;
