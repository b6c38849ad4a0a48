/**
 * ioredis is an optional peer dependency: only `RedisStore` needs it, so it is loaded when a
 * store is constructed, never by `import 'session-sync'` (MemoryStore users do not install its
 * 1.2 MB). `createRequire` keeps that load synchronous, so a missing package fails in the
 * constructor with the command to run; in dist/server.cjs `import.meta.url` becomes the file's
 * URL from `__filename` (rollup.config.mjs, cjsImportMetaUrl).
 *
 * The option types below are structural on purpose: a type import of ioredis in the shipped
 * declarations would fail to type-check (TS2307) for every consumer without it.
 */
import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';

/**
 * What `RedisStore` needs of your client: an ioredis `Redis` (one server, or a Sentinel-managed
 * primary) or an ioredis `Cluster` (commands run through it, and its `duplicate()` becomes the
 * pub/sub connection). Any ioredis client fits this type; a Cluster is told by its
 * `isCluster` flag and `nodes()` method.
 */
export interface RedisClientLike {
  /** ioredis' `duplicate(overrides?)`. */
  duplicate(...args: never[]): unknown;
  /** ioredis' `evalsha(sha, numkeys, ...args)`. */
  evalsha(...args: never[]): unknown;
  /** `true` on an ioredis `Cluster`. */
  isCluster?: boolean;
  /** ioredis' `Cluster#nodes(role?)`. */
  nodes?(...args: never[]): unknown;
}

/** One startup node of a Redis Cluster, as ioredis takes it: `{ host, port }`, a port, or `'host:port'`. */
export type RedisClusterNode = { host?: string; port?: number } | string | number;

/**
 * ioredis options for the connections the store makes: `RedisOptions` (host, password, tls,
 * db, keyPrefix, …) with `{ url }`, passed to `new Redis(url, options)`; `ClusterOptions`
 * (`redisOptions`, `natMap`, `scaleReads`, …) with `{ cluster }`, passed to
 * `new Cluster(nodes, options)` over the store's defaults.
 */
export interface RedisClientOptions {
  /** Prepended to every key by ioredis; keep braces out of it (they would put every key in one Cluster slot). */
  keyPrefix?: string;
  // `any`, not `unknown`: an ioredis `RedisOptions` value (an interface) is then assignable.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [option: string]: any;
}

let ioredis: typeof IORedis | undefined;

/**
 * Loads ioredis once, synchronously.
 *
 * @returns the ioredis module
 * @throws Error naming `npm i ioredis` when the package is not installed
 * @example
 * const { Redis } = loadIoredis()
 */
export function loadIoredis(): typeof IORedis {
  if (ioredis) return ioredis;
  try {
    ioredis = createRequire(import.meta.url)('ioredis') as typeof IORedis;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException)?.code === 'MODULE_NOT_FOUND' && /'ioredis'/.test(String(err));
    if (!missing) throw err;
    throw new Error('session-sync: RedisStore needs the ioredis package, an optional peer dependency: npm i ioredis', {
      cause: err,
    });
  }
  return ioredis;
}
