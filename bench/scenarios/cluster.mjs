// 9. Redis Cluster (issue 19): store applies/s on 3 primaries vs one Redis (same load as the
// stores scenario: 50 concurrent applies over 500 sessions, in this process), propagation of an
// HTTP write on node A to a socket on node B with both nodes on the cluster, and the raw
// pub/sub hop under it: classic PUBLISH (what the store uses; every node of the cluster relays
// it) against sharded SPUBLISH (stays on the slot's shard), publisher and subscriber on
// different connections, sequential messages.
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { tsImport } from 'tsx/esm/api';
import { io as connect } from 'socket.io-client';
import { RedisStore } from '../../dist/server.js';
import { cookieOf, HAS_TASKSET, median, percentile, round, startServer } from '../lib/util.mjs';

const lifetimes = { ttl: 3600_000, absolute: 86_400_000 };
const newId = () => randomBytes(32).toString('base64url');

async function applyRate(store, total) {
  const ids = Array.from({ length: 500 }, newId);
  let next = 0;
  const start = process.hrtime.bigint();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      await store.apply(ids[i % ids.length], [{ op: 'set', path: [`k${i % 20}`], value: i }], lifetimes);
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  return total / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function propagation(a, b, writes) {
  const cookie = cookieOf(await fetch(`${a.url}/init`));
  const socket = connect(b.url, { transports: ['websocket'], extraHeaders: { cookie }, forceNew: true });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  let waiting;
  socket.on('session:patch', (p) =>
    p.ops.forEach((op) => op.path[0] === 'i' && waiting?.i === op.value && waiting.resolve()),
  );
  const times = [];
  for (let i = 1; i <= writes; i++) {
    const start = process.hrtime.bigint();
    const heard = new Promise((resolve) => (waiting = { i, resolve }));
    await Promise.all([
      heard,
      fetch(`${a.url}/write?i=${i}`, { method: 'POST', headers: { cookie } }).then((r) => r.text()),
    ]);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  socket.close();
  const warm = times.slice(Math.min(50, writes / 10));
  return { p50: percentile(warm, 50), p99: percentile(warm, 99) };
}

// One publisher, one subscriber on another node; each message waits for the previous one.
async function pubsub(nodes, sharded, messages) {
  const channel = `bench:hop:${newId()}`;
  const probe = new Cluster(nodes);
  const slot = Number(await probe.call('CLUSTER', 'KEYSLOT', channel));
  const owner = (await probe.call('CLUSTER', 'SLOTS')).find(([from, to]) => slot >= from && slot <= to)[2][1];
  probe.disconnect();
  const other = nodes.find((n) => n.port !== owner);
  // Classic: published on the slot's node, heard on another (the bus relays it). Sharded: the
  // subscriber must sit on the slot's shard.
  const pub = new Redis({ port: owner, host: '127.0.0.1' });
  const sub = new Redis({ port: sharded ? owner : other.port, host: '127.0.0.1' });
  let waiting;
  sub.on(sharded ? 'smessage' : 'message', (_c, text) => waiting?.(text));
  await (sharded ? sub.ssubscribe(channel) : sub.subscribe(channel));
  const times = [];
  for (let i = 0; i < messages; i++) {
    const heard = new Promise((resolve) => (waiting = resolve));
    const start = process.hrtime.bigint();
    await (sharded ? pub.spublish(channel, String(i)) : pub.publish(channel, String(i)));
    await heard;
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  pub.disconnect();
  sub.disconnect();
  const warm = times.slice(messages / 10);
  return { p50: round(percentile(warm, 50), 3), p99: round(percentile(warm, 99), 3) };
}

export async function clusterBench({ quick }) {
  const { startCluster } = await tsImport('../../test/support/redis-cluster.ts', import.meta.url);
  const { startRedis } = await tsImport('../../test/support/redis.ts', import.meta.url);
  // Every Redis of this scenario (the 3 primaries, and the one Redis they are compared with)
  // on core 0, the load on core 1: on this 2-core machine the 3 primaries share one core.
  const wrap = HAS_TASKSET ? ['taskset', '-c', '0'] : [];
  const cluster = await startCluster({ primaries: 3, wrap });
  const one = await startRedis({ wrap });
  const redisUrl = one.url;
  const total = quick ? 5000 : 50_000;
  const writes = quick ? 150 : 600;
  const rounds = 3;
  const result = { name: 'cluster', primaries: 3, applies: total, concurrency: 50, writes };
  try {
    const rates = { cluster: [], single: [] };
    for (let r = 0; r < rounds; r++) {
      const onCluster = new RedisStore({ cluster: cluster.nodes, prefix: `bench:${newId()}:` });
      rates.cluster.push(await applyRate(onCluster, total / rounds));
      await onCluster.close();
      if (redisUrl) {
        const onOne = new RedisStore({ url: redisUrl, prefix: `bench:${newId()}:` });
        rates.single.push(await applyRate(onOne, total / rounds));
        await onOne.close();
      }
    }
    result.clusterAppliesPerSec = Math.round(median(rates.cluster));
    if (redisUrl) result.singleAppliesPerSec = Math.round(median(rates.single));
    const env = { CLUSTER_NODES: JSON.stringify(cluster.nodes) };
    const runs = [];
    for (let r = 0; r < rounds; r++) {
      const a = await startServer('cluster.mjs', [], { env });
      const b = await startServer('cluster.mjs', [], { env });
      try {
        runs.push(await propagation(a, b, writes));
      } finally {
        await a.stop();
        await b.stop();
      }
    }
    result.crossNode = {
      p50: round(median(runs.map((x) => x.p50)), 3),
      p99: round(median(runs.map((x) => x.p99)), 3),
    };
    const messages = quick ? 500 : 3000;
    result.pubsubHop = {
      classic: await pubsub(cluster.nodes, false, messages),
      sharded: await pubsub(cluster.nodes, true, messages),
    };
  } finally {
    await cluster.stop();
    await one.stop();
  }
  return result;
}
