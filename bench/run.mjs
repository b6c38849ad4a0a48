#!/usr/bin/env node
// The benchmarks, side by side: `npm run bench` (full) or `npm run bench -- --quick` (< 90 s).
// Contenders run in the same run, alternating; servers pinned to core 0 and load to core 1
// where taskset exists. Results: bench/results/latest.json and a markdown table on stdout.
//   --only=http,propagation,lost,memory,fanout,size,stores,devices,http-redis,cluster   run a subset
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { HAS_TASKSET, ROOT, machine, startRedis } from './lib/util.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const wants = (name) => !only || only.includes(name);

// The load generators run in this process: keep it on core 1, away from the servers on core 0.
if (HAS_TASKSET && !process.env.BENCH_PINNED) {
  const again = spawnSync('taskset', ['-c', '1', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_PINNED: '1' },
  });
  process.exit(again.status ?? 1);
}

const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build-if-stale.mjs')], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const { httpBench } = await import('./scenarios/http.mjs');
const { propagationBench } = await import('./scenarios/propagation.mjs');
const { lostUpdatesBench } = await import('./scenarios/lost-updates.mjs');
const { fanoutBench } = await import('./scenarios/fanout.mjs');
const { storesBench } = await import('./scenarios/stores.mjs');
const { devicesBench } = await import('./scenarios/devices.mjs');
const { clusterBench } = await import('./scenarios/cluster.mjs');
const { memoryBench, sizeBench } = await import('./scenarios/external.mjs');

let redis;
try {
  redis = await startRedis();
} catch (err) {
  console.error(`note: the Redis benchmarks are left out: ${err.message}`);
}

const started = Date.now();
const results = {};
const step = async (name, fn) => {
  if (!wants(name)) return;
  const t = Date.now();
  process.stderr.write(`bench: ${name}…`);
  results[name] = await fn();
  process.stderr.write(` ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
};
try {
  await step('http', () => httpBench({ quick }));
  await step('propagation', () => propagationBench({ quick, redisUrl: redis?.url }));
  await step('lost', () => lostUpdatesBench({ quick }));
  await step('memory', () => memoryBench({ quick }));
  await step('fanout', () => fanoutBench({ quick }));
  await step('size', () => sizeBench());
  await step('stores', () => storesBench({ quick, redisUrl: redis?.url }));
  await step('devices', () => devicesBench({ quick, redisUrl: redis?.url }));
  if (redis) await step('cluster', () => clusterBench({ quick }));
  // The Redis pair is left out of --quick (it would not fit in 90 s) unless asked for by name.
  if (redis && (!quick || only?.includes('http-redis')))
    await step('http-redis', () => httpBench({ quick, redisUrl: redis.url }));
} finally {
  await redis?.stop();
}

const meta = {
  date: new Date().toISOString(),
  mode: quick ? 'quick' : 'full',
  seconds: Math.round((Date.now() - started) / 1000),
  ...machine(),
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
  memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
};
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results/latest.json'), JSON.stringify({ meta, results }, null, 2) + '\n');

// --- the table
const rows = [];
const verdict = (ok) => (ok ? '✅' : '❌');
// The issue's targets for session-sync against bare Express in the same run (issue 20).
const HTTP_TARGETS = {
  rw: { rps: 0.9, cpu: 1.12 },
  rw200: { rps: 0.9, cpu: 1.12 },
  untouched: { rps: 0.98, cpu: 1.03 },
  untouched200: { rps: 0.98, cpu: 1.03 },
};
const NAMES = {
  bare: 'bare Express 5',
  'express-session': 'express-session 1.19 + MemoryStore',
  'session-sync': 'session-sync (MemoryStore)',
  'connect-redis': 'connect-redis 7 + express-session',
  'session-sync-redis': 'session-sync (RedisStore)',
};
const pct = (x) => (x === undefined || Number.isNaN(x) ? 'n/a' : `${Math.round(x * 100)}%`);
const figures = (row, ratios = true) =>
  `${row.rps} req/s${ratios ? ` (${row.ratio}×)` : ''}; ${row.cpuMicrosPerReq} µs${ratios ? ` (${row.cpuRatio}×)` : ''}`;
const http = results.http;
if (http) {
  const get = (c, r) => http.rows.find((x) => x.contender === c && x.route === r);
  for (const [route, label] of Object.entries(http.routes)) {
    const ss = get('session-sync', route);
    const target = HTTP_TARGETS[route];
    rows.push([
      `HTTP, ${label} (req/s; server CPU µs/req; ratios to bare Express 5)`,
      figures(ss),
      `express-session ${figures(get('express-session', route))}; bare ${figures(get('bare', route), false)}`,
      `≥ ${target.rps}× req/s ${verdict(ss.ratio >= target.rps)}; ≤ ${target.cpu}× CPU ${verdict(ss.cpuRatio <= target.cpu)}`,
    ]);
  }
}
const hr = results['http-redis'];
if (hr) {
  const get = (c, r) => hr.rows.find((x) => x.contender === c && x.route === r);
  for (const [route, label] of Object.entries(hr.routes)) {
    const ss = get('session-sync-redis', route);
    const writes = route.startsWith('rw');
    rows.push([
      `HTTP on Redis, ${label} (req/s; server CPU µs/req; ratios to bare)`,
      `${figures(ss)}; ${ss.ratioToReference}× connect-redis req/s`,
      `connect-redis ${figures(get('connect-redis', route))}; bare ${figures(get('bare', route), false)}`,
      writes ? `≥ 1.0× connect-redis ${verdict(ss.ratioToReference >= 1)}` : 'report',
    ]);
  }
}
const p = results.propagation;
if (p) {
  const ok = p['session-sync'].p50 <= p.recipe.p50 && p['session-sync'].p99 <= p.recipe.p99;
  rows.push([
    `Propagation HTTP write → socket, ${p.writes} writes (p50 / p99 ms)`,
    `${p['session-sync'].p50} / ${p['session-sync'].p99}`,
    `Socket.IO recipe ${p.recipe.p50} / ${p.recipe.p99}`,
    `≤ recipe ${verdict(ok)}`,
  ]);
  if (p.redis) {
    rows.push([
      'Propagation on Redis, write on node A → socket on node B (p50 / p99 ms)',
      `${p.redis.crossNode.p50} / ${p.redis.crossNode.p99}`,
      `single node ${p.redis.singleNode.p50} / ${p.redis.singleNode.p99}`,
      'report',
    ]);
  }
}
const lost = results.lost;
if (lost) {
  const ss = lost.rows.find((r) => r.contender === 'session-sync');
  const es = lost.rows.find((r) => r.contender === 'express-session');
  rows.push([
    `Lost writes, ${lost.connections} concurrent connections, ${lost.writes} distinct keys`,
    `${ss.distinctKeys.lost}`,
    `express-session ${es.distinctKeys.lost}`,
    `0 ${verdict(ss.distinctKeys.lost === 0)}`,
  ]);
  rows.push([
    `Lost increments of one counter (read, await, write), ${lost.writes} requests`,
    `${ss.counter.lost}`,
    `express-session ${es.counter.lost}`,
    'report (last write wins)',
  ]);
}
const m = results.memory;
if (m) {
  rows.push([
    `Heap per idle session at ${m.sessions.toLocaleString('en')} sessions (bytes)`,
    `${m.bytesPerSession['session-sync'].toFixed(0)} (${m.ratio}×)`,
    `express-session MemoryStore ${m.bytesPerSession['express-session'].toFixed(0)}`,
    `≤ 0.75× ${verdict(m.ratio <= 0.75)}`,
  ]);
}
const f = results.fanout;
if (f) {
  rows.push([
    `Fan-out, ${f.sessions} sessions × ${f.rate}/s for ${f.seconds} s: server CPU per delivered patch (µs)`,
    `${f.cpuMicrosPerPatch['session-sync']} (${f.cpuRatio}×)`,
    `raw io.to(room).emit ${f.cpuMicrosPerPatch.raw}`,
    `≤ 1.5× ${verdict(f.cpuRatio <= 1.5)}`,
  ]);
  rows.push([
    'One change to a session with 100 sockets: all received (ms, median)',
    `${f.hundredSocketsMs['session-sync']} (${f.hundredRatio}×)`,
    `raw room emit ${f.hundredSocketsMs.raw}`,
    `≤ 1.2× ${verdict(f.hundredRatio <= 1.2)}`,
  ]);
}
const s = results.size;
if (s) {
  rows.push([
    'Browser SDK own code, min+gzip (bytes)',
    `${s.sdkBytesMinGzip}`,
    `socket.io-client ${s.socketIoClientBytesMinGzip}`,
    `≤ 4096 ${verdict(s.sdkBytesMinGzip <= 4096)}`,
  ]);
}
const st = results.stores;
if (st) {
  rows.push([
    `Store apply throughput, concurrency ${st.concurrency} (ops/s)`,
    st.redisAppliesPerSec ? `RedisStore ${st.redisAppliesPerSec}` : 'RedisStore: n/a',
    `MemoryStore ${st.memoryAppliesPerSec}`,
    'report',
  ]);
  rows.push([
    'destroyUser for a user with 100 sessions (ms, median of 5)',
    st.destroyUser100.redisMs !== undefined ? `RedisStore ${st.destroyUser100.redisMs}` : 'RedisStore: n/a',
    `MemoryStore ${st.destroyUser100.memoryMs}`,
    'report',
  ]);
}
const dv = results.devices;
if (dv) {
  rows.push([
    `req.session.devices() for a user with ${dv.sessions} sessions (ms, median / p99 of ${dv.calls})`,
    dv.redis ? `RedisStore ${dv.redis.medianMs} / ${dv.redis.p99Ms}` : 'RedisStore: n/a',
    `MemoryStore ${dv.memory.medianMs} / ${dv.memory.p99Ms}`,
    'report',
  ]);
}
const cl = results.cluster;
if (cl) {
  rows.push([
    `Redis Cluster, ${cl.primaries} primaries: store apply throughput, concurrency ${cl.concurrency} (ops/s)`,
    `${cl.clusterAppliesPerSec}`,
    `one Redis ${cl.singleAppliesPerSec}`,
    'report',
  ]);
  const one = results.propagation?.redis?.crossNode;
  rows.push([
    'Propagation on Redis Cluster, write on node A → socket on node B (p50 / p99 ms)',
    `${cl.crossNode.p50} / ${cl.crossNode.p99}`,
    one ? `one Redis ${one.p50} / ${one.p99}` : 'one Redis: see the propagation row',
    'report',
  ]);
  rows.push([
    'Pub/sub hop on the cluster, classic PUBLISH (the feed) vs sharded SPUBLISH (p50 / p99 ms)',
    `${cl.pubsubHop.classic.p50} / ${cl.pubsubHop.classic.p99}`,
    `sharded ${cl.pubsubHop.sharded.p50} / ${cl.pubsubHop.sharded.p99}`,
    'report',
  ]);
}

const table = [
  '| benchmark | session-sync | compared with | target |',
  '| --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.join(' | ')} |`),
].join('\n');
console.log(`\n${table}\n`);
for (const run of [http, hr].filter(Boolean)) {
  const detail = [
    `| ${run.name === 'http' ? 'HTTP' : 'HTTP on Redis'}, ${run.connections} connections, ${run.duration} s × ${run.rounds} rounds | contender | req/s | × bare | server CPU µs/req | × bare | server busy | event loop idle | core 0 / core 1 to others | latency p50 / p99 ms${run.name === 'http' ? '' : ' | Redis CPU µs / commands / bytes in per req'} |`,
    `| --- | --- | --- | --- | --- | --- | --- | --- | --- | ---${run.name === 'http' ? '' : ' | ---'} |`,
    ...run.rows.map(
      (r) =>
        `| ${r.label} | ${NAMES[r.contender]} | ${r.rps} | ${r.ratio} | ${r.cpuMicrosPerReq} | ${r.cpuRatio} | ${pct(r.busy)} | ${Math.round(r.eventLoopIdle * 100)}% | ${pct(r.serverCoreOthers)} / ${pct(r.loadCoreOthers)} | ${r.latencyP50} / ${r.latencyP99}${run.name === 'http' ? '' : ` | ${r.redisCpuMicrosPerReq} / ${r.redisCommandsPerReq} / ${r.redisBytesInPerReq}`} |`,
    ),
  ].join('\n');
  console.log(`${detail}\n`);
  for (const r of run.rows.filter((r) => r.failedRequests > 0))
    console.log(`note: ${NAMES[r.contender]}, ${r.label}: ${r.failedRequests} failed requests in the windows kept.\n`);
  const crowded = Math.max(...run.rows.flatMap((r) => [r.serverCoreOthers, r.loadCoreOthers]));
  if (crowded > 0.1)
    console.log(
      `note: other work took up to ${pct(crowded)} of a pinned core (median of the rounds): absolute figures are low and ratios noisy.\n`,
    );
}
console.log(
  `${meta.mode} run, ${meta.date.slice(0, 10)}, ${meta.cpus}, ${meta.memory}, Node ${meta.node}, taskset ${meta.taskset ? 'yes' : 'no'}, ${meta.seconds} s`,
);
