/**
 * Starts a throwaway Redis Cluster for tests, from Node, without docker: N `redis-server
 * --cluster-enabled yes` processes on free loopback ports (no persistence, a short
 * `cluster-node-timeout` so a failover takes about two seconds), joined by `redis-cli --cluster
 * create`, ready once every node reports `cluster_state:ok` with all slots served (and every
 * replica is in sync). Everything is killed on `stop()` and when the process exits.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { assertInstalled, dropScratchDir, freePort, ping, scratchDir, spawnRedisServer } from './redis.js';

const run = promisify(execFile);

/** Options of {@link startCluster}. */
export interface StartClusterOptions {
  /** Primaries (default 3; Redis Cluster needs at least 3). */
  primaries?: number;
  /** Replicas per primary (default 0). */
  replicas?: number;
  /** `cluster-node-timeout` in ms (default 1000). */
  nodeTimeout?: number;
  /** A command each server runs under, e.g. `['taskset', '-c', '0']` (the benchmarks pin servers). */
  wrap?: string[];
}

/** A running test cluster. */
export interface TestCluster {
  /** Every server's startup address, for `new Cluster(nodes)` / `new RedisStore({ cluster: nodes })`. */
  nodes: { host: string; port: number }[];
  /** The ports of the primaries now (after a failover, a promoted replica is one). */
  primaries(): Promise<number[]>;
  /** The port of the primary that serves the slot of `key`. */
  ownerOf(key: string): Promise<number>;
  /** SIGKILLs one server (as a crash would). */
  kill(port: number): Promise<void>;
  /** Resolves once every running server reports `cluster_state:ok` with all slots served. */
  healthy(timeout?: number): Promise<void>;
  /** Kills every server and removes the temp dir. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

const field = (info: string, name: string): string | undefined =>
  new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();

/**
 * Starts a cluster of `primaries × (1 + replicas)` servers and waits until it serves every slot.
 *
 * @param options - primaries, replicas per primary, node timeout
 * @returns the startup nodes and the controls
 * @throws Error with the install command when redis-server is missing
 * @example
 * const cluster = await startCluster({ primaries: 3 })
 * const store = new RedisStore({ cluster: cluster.nodes })
 * // ...
 * await store.close(); await cluster.stop()
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<TestCluster> {
  assertInstalled();
  const { primaries = 3, replicas = 0, nodeTimeout = 1000, wrap = [] } = options;
  const dir = scratchDir('session-sync-cluster-');
  const count = primaries * (1 + replicas);
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    // Each server also listens on port + 10000 (the cluster bus): both must be free, and distinct.
    if (port + 10000 < 65536 && !ports.includes(port) && !ports.includes(port + 10000)) ports.push(port);
  }
  const procs = new Map<number, ChildProcess>();
  const outputs: (() => string)[] = [];
  const output = (): string => outputs.map((o) => o()).join('');
  for (const port of ports) {
    const { proc, output: own } = spawnRedisServer(
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        String(nodeTimeout),
        '--appendonly',
        'no',
        '--save',
        '',
        '--dir',
        dir,
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      wrap,
    );
    outputs.push(own);
    procs.set(port, proc);
  }
  const stop = async (): Promise<void> => {
    await Promise.all([...procs.keys()].map((port) => kill(port)));
    dropScratchDir(dir);
  };
  const kill = async (port: number): Promise<void> => {
    const proc = procs.get(port);
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.ref();
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
  };
  const running = (): number[] =>
    [...procs].filter(([, p]) => p.exitCode === null && p.signalCode === null).map(([port]) => port);

  const healthy = async (timeout = 20_000): Promise<void> => {
    const deadline = Date.now() + timeout;
    for (;;) {
      const states = await Promise.all(
        running().map((port) =>
          ask(port, async (r) => {
            const info = String(await r.call('CLUSTER', 'INFO'));
            const ok = field(info, 'cluster_state') === 'ok' && field(info, 'cluster_slots_ok') === '16384';
            const repl = await r.info('replication');
            // A replica counts once it is in sync with its primary.
            return ok && (field(repl, 'role') !== 'slave' || field(repl, 'master_link_status') === 'up');
          }).catch(() => false),
        ),
      );
      if (states.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`the test cluster is not healthy after ${timeout} ms:\n${output()}`);
      await sleep(100);
    }
  };

  try {
    const deadline = Date.now() + 10_000;
    for (const port of ports) {
      while (!(await ping(port))) {
        if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}:\n${output()}`);
        await sleep(20);
      }
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
    await healthy();
  } catch (err) {
    await stop();
    throw err;
  }

  const primariesNow = async (): Promise<number[]> => {
    const text = String(await ask(running()[0]!, (r) => r.call('CLUSTER', 'NODES')));
    return text
      .split('\n')
      .map((line) => line.split(' '))
      .filter((parts) => {
        const flags = (parts[2] ?? '').split(',');
        return flags.includes('master') && !flags.includes('fail') && !flags.includes('fail?');
      })
      .map((parts) => Number(/:(\d+)@/.exec(parts[1] ?? '')?.[1]))
      .sort((a, b) => a - b);
  };
  return {
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    primaries: primariesNow,
    async ownerOf(key) {
      return ask(running()[0]!, async (r) => {
        const slot = Number(await r.call('CLUSTER', 'KEYSLOT', key));
        const ranges = (await r.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        const range = ranges.find(([from, to]) => slot >= from && slot <= to);
        if (!range) throw new Error(`no node serves slot ${slot}`);
        return Number(range[2][1]);
      });
    },
    kill,
    healthy,
    stop,
  };
}
