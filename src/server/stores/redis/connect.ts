/**
 * Where a `RedisStore`'s Redis is, and the connections it makes there: a URL (one Redis; the
 * store opens and closes its connections), your ioredis client (a `Redis`, Sentinel-managed
 * or not, or a `Cluster`; kept open on close), or the startup nodes of a Redis Cluster (the
 * store creates and closes its `Cluster`). The pub/sub connection is always a new one: a
 * `duplicate()` of the command client, or made from the same URL or nodes.
 */
import createDebug from 'debug';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { isPlainObject } from '../../../shared/index.js';
import { CLUSTER_DEFAULTS, COMMAND_DEFAULTS, isCluster, SUBSCRIBER_OVERRIDES, type RedisClient } from './client.js';
import { loadIoredis, type RedisClientLike, type RedisClientOptions, type RedisClusterNode } from './ioredis.js';

const debug = createDebug('session-sync:redis');

/** Where the store's Redis is: exactly one of `url`, `client`, `cluster`. */
export type RedisStoreTarget =
  | { url: string; client?: undefined; cluster?: undefined }
  | { client: RedisClientLike; url?: undefined; cluster?: undefined }
  | { cluster: readonly RedisClusterNode[]; url?: undefined; client?: undefined };

/** The connections of one store. */
export interface Connections {
  /** The command client. */
  client: RedisClient;
  /** Whether the store made it (and so closes it). */
  owns: boolean;
  /** Makes the subscriber connection (on the first subscription). */
  subscriber(): RedisClient;
}

/**
 * Makes (or adopts) the connections for a target.
 *
 * @param target - `{ url }`, `{ client }` or `{ cluster }`
 * @param clientOptions - ioredis options for the connections the store makes
 * @returns the command client and the subscriber factory
 * @throws TypeError for a target that is none of them, or more than one
 * @example
 * const { client, subscriber } = connect({ cluster: [{ host: '127.0.0.1', port: 7000 }] }, {})
 */
export function connect(target: RedisStoreTarget, clientOptions: RedisClientOptions): Connections {
  const given = (['url', 'client', 'cluster'] as const).filter((k) => target[k] !== undefined);
  if (given.length !== 1) {
    throw new TypeError(
      given.length === 0
        ? 'session-sync: RedisStore needs { url }, { client } or { cluster }'
        : `session-sync: RedisStore takes one of { url }, { client }, { cluster }, not both ${given.join(' and ')}`,
    );
  }
  if (target.client !== undefined) return adopt(target.client);
  if (target.cluster !== undefined) return makeCluster(target.cluster, clientOptions);
  const { url } = target;
  if (typeof url !== 'string' || url === '')
    throw new TypeError('session-sync: RedisStore `url` must be a non-empty string');
  const IORedis = loadIoredis().Redis;
  const options = { ...COMMAND_DEFAULTS, ...(clientOptions as RedisOptions) };
  const client = new IORedis(url, options);
  client.on('error', (err: Error) => debug('command connection: %s', err.message));
  return { client, owns: true, subscriber: () => new IORedis(url, { ...options, ...SUBSCRIBER_OVERRIDES }) };
}

function adopt(given: RedisClientLike): Connections {
  const c = given as unknown as Partial<Record<'duplicate' | 'evalsha', unknown>>;
  if (typeof c.duplicate !== 'function' || typeof c.evalsha !== 'function') {
    throw new TypeError('session-sync: RedisStore `client` must be an ioredis client (Redis or Cluster)');
  }
  const client = given as unknown as RedisClient;
  if (isCluster(client)) {
    // ClusterSubscriber picks a node for SUBSCRIBE and another when it fails; the offline
    // queue holds the first SUBSCRIBE until the cluster is ready.
    return { client, owns: false, subscriber: () => client.duplicate([], { enableOfflineQueue: true }) };
  }
  return { client, owns: false, subscriber: () => client.duplicate(SUBSCRIBER_OVERRIDES) };
}

function makeCluster(nodes: readonly RedisClusterNode[], clientOptions: RedisClientOptions): Connections {
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw new TypeError('session-sync: RedisStore `cluster` must be a non-empty array of { host, port }');
  }
  const given = clientOptions as ClusterOptions;
  if (given.redisOptions !== undefined && !isPlainObject(given.redisOptions)) {
    throw new TypeError('session-sync: RedisStore option `clientOptions.redisOptions` must be an object');
  }
  const options: ClusterOptions = {
    ...CLUSTER_DEFAULTS,
    ...given,
    redisOptions: { ...CLUSTER_DEFAULTS.redisOptions, ...given.redisOptions },
  };
  const { Cluster } = loadIoredis();
  const client = new Cluster([...nodes], options);
  client.on('error', (err: Error) => debug('cluster: %s', err.message));
  return {
    client,
    owns: true,
    subscriber: () => new Cluster([...nodes], { ...options, enableOfflineQueue: true }),
  };
}
