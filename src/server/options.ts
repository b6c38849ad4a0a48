/**
 * The options of `createSessionSync`: what an app may pass, and what they become once
 * checked (resolve-options.ts checks them).
 */
import type { StandardSchemaV1 } from './standard-schema.js';
import { DEFAULT_LIMITS, type JsonObject, type Limits, type Op, type PathInput } from '../shared/index.js';
import type { SessionStore } from './stores/store.js';

/** A per-path validator: any Standard Schema (zod, valibot, arktype…) or a function. */
export type Validator = StandardSchemaV1 | ((value: unknown) => true | string | Promise<true | string>);

/** What a `clientWritable` function is told about a browser write. */
export interface WriteContext {
  /** The session id the write targets. */
  id: string;
  /** The session's data the write is applied to (read inside the store's atomic apply). */
  data: JsonObject;
}

/** Rate and size limits; see {@link DEFAULT_LIMITS}. */
export interface ServerLimits extends Limits {
  /** Browser mutations a socket may send per second, sustained (token bucket refill). */
  rate: number;
  /** Browser mutations a socket may send in a burst (token bucket size). */
  burst: number;
  /**
   * Bytes of the server-only data (what `expose` hides), judged on its own: `size` bounds
   * only what the browser can see, so a browser's `too_large` never depends on server-only
   * bytes. Default 64 KiB.
   */
  serverSize: number;
}

/** The default server limits: the protocol's, 20 mutations/s with bursts of 40, 64 KiB of server-only data. */
export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  ...DEFAULT_LIMITS,
  rate: 20,
  burst: 40,
  serverSize: 64 * 1024,
});

/** The cookie attributes in force (option `cookie`, resolved). */
export interface CookieSettings {
  name: string;
  httpOnly: boolean;
  sameSite: 'lax' | 'strict' | 'none' | false;
  secure: boolean | 'auto';
  path: string;
  domain?: string;
  /** ms */
  maxAge: number;
}

/** Options of `createSessionSync`. All are optional outside production. */
export interface SessionSyncOptions {
  /** Signing secret, or an array (newest first) for rotation. Required when NODE_ENV=production. */
  secret?: string | readonly string[];
  /** Where sessions live. Default: a new `MemoryStore` (one process). */
  store?: SessionStore;
  /** The JSON route: a pathname (query ignored), a RegExp, or null/false for none. Default `/get/session`. */
  route?: string | RegExp | null | false;
  /** Commit tracked changes at the end of the tick (default true); false: only `synchronize()` commits. */
  autoSync?: boolean;
  /** The property of `req.session` / `socket.session` that holds the data. Default `val`. */
  key?: string;
  /** Values a session starts with; filled in, never written until changed. */
  defaults?: JsonObject;
  /** Cookie attributes. */
  cookie?: Partial<CookieSettings>;
  /** Idle lifetime in ms (default 24 h): an HTTP request or a socket message of the session is activity. */
  ttl?: number;
  /** Longest lifetime in ms (default 30 days). */
  absolute?: number;
  /** Trust `X-Forwarded-Proto`/`-Host` on socket handshakes (HTTP follows Express `trust proxy`). */
  trustProxy?: boolean;
  /** What the browser and the route may see: paths, or a projection. Default: all but top-level `_` keys. */
  expose?: readonly PathInput[] | ((data: JsonObject) => JsonObject);
  /** What the browser may change: paths, path → validator, or a function over the ops. Default: nothing. */
  clientWritable?:
    | readonly PathInput[]
    | Readonly<Record<string, Validator>>
    | ((ops: readonly Op[], context: WriteContext) => boolean | string | Promise<boolean | string>);
  /** Allowed origins for socket handshakes and route CORS: a list, or a function. Default: same origin. */
  origins?: readonly string[] | ((origin: string) => boolean);
  /** Limits on every input. */
  limits?: Partial<ServerLimits>;
  /** The user a session belongs to: a path (`'user.id'`) or a function, evaluated in Node. */
  user?: PathInput | ((data: JsonObject) => string | undefined);
  /**
   * Keep the client's IP address in each session's device note (`sessionsOf()`,
   * `devices()`): HTTP's as Express `trust proxy` says (`req.ip`), a socket handshake's as
   * `trustProxy` says. Default false: an IP is personal data, kept only when asked.
   */
  deviceIp?: boolean;
}

/** Options after checking, with defaults filled. */
export interface ResolvedOptions {
  secrets: string[];
  store: SessionStore;
  ownsStore: boolean;
  route: string | RegExp | null;
  autoSync: boolean;
  key: string;
  defaults: JsonObject;
  cookie: CookieSettings;
  ttl: number;
  absolute: number;
  trustProxy: boolean;
  expose: { paths: string[][] } | { fn: (data: JsonObject) => JsonObject } | { hideUnderscore: true };
  clientWritable:
    | { paths: string[][] }
    | { validators: { path: string[]; validate: Validator }[] }
    | { fn: (ops: readonly Op[], context: WriteContext) => boolean | string | Promise<boolean | string> }
    | { none: true };
  origins: { list: string[] } | { fn: (origin: string) => boolean } | { sameOrigin: true };
  limits: ServerLimits;
  user: ((data: JsonObject) => string | undefined) | undefined;
  deviceIp: boolean;
}
