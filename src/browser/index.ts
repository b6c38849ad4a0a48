/**
 * `session-sync/browser`: the visitor's session as a live, cached, offline-tolerant
 * reactive object.
 *
 * @packageDocumentation
 */
export { createSession } from './session.js';
export { session } from './default.js';
export type {
  BrowserData,
  CacheOptions,
  PathInput,
  Session,
  SessionEvents,
  SessionOptions,
  Snapshot,
  Status,
  SyncSocket,
} from './types.js';
export { SessionSyncError } from '../shared/index.js';
export type { ErrorCode, Exposed, JsonObject, JsonValue, SessionData } from '../shared/index.js';
