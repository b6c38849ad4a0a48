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
import { createSessionSync } from './create.js';

export { createSessionSync, SessionSync } from './create.js';
export type { SessionSnapshot, SessionRecord, SessionUpdate } from './create.js';
export type { SessionSyncOptions, Validator, WriteContext, ServerLimits } from './options.js';
export { DEFAULT_SERVER_LIMITS } from './options.js';
export type { SessionChange } from './engine/core.js';
export type { DeviceInfo, UserDevice, UserSessionInfo } from './engine/devices.js';
export { HttpSession } from './http/http-session.js';
export { SocketSession } from './socket/socket-session.js';
export type { SessionData, RequestSession, SocketSessionOf } from './types.js';
export { SessionHandle } from './engine/handle.js';
export type { SynchronizeOptions } from './engine/seed.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory/memory-store.js';
export { RedisStore, type RedisStoreOptions, type RedisStoreTarget } from './stores/redis/redis-store.js';
export type { RedisClientLike, RedisClientOptions, RedisClusterNode } from './stores/redis/ioredis.js';
export type * from './stores/store.js';
export { TIMES } from './stores/store.js';
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

export default createSessionSync;
