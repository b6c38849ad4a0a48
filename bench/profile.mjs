#!/usr/bin/env node
// Where a request's CPU and allocations go, per HTTP contender and route (issue 20's "profile
// first"). Same servers, sessions and load as `npm run bench` (bench/servers/http.mjs,
// server on core 0, autocannon on core 1), in two passes per contender:
//   1. node --cpu-prof --trace-gc-nvp: self time per function over the measured window only,
//      GC pauses and bytes allocated, idle share;
//   2. V8's sampling heap profiler over a window (collected objects included): bytes and
//      objects allocated per request, by owner and allocation site.
// Prints a markdown report; raw profiles and figures go to --out.
//
//   node bench/profile.mjs [--contenders=bare,session-sync] [--routes=rw,rw200,untouched]
//        [--seconds=10] [--warm=3] [--interval=4096] [--top=15] [--redis] [--out=DIR] [--from=DIR]
//   --redis: contenders bare,connect-redis,session-sync-redis on a throw-away redis-server
//   --from=DIR: no new run, only the report again from the raw files of an earlier --out=DIR
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HAS_TASKSET, ROOT, startRedis, startServer } from './lib/util.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? true];
  }),
);
if (HAS_TASKSET && !process.env.BENCH_PINNED) {
  const again = spawnSync('taskset', ['-c', '1', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_PINNED: '1' },
  });
  process.exit(again.status ?? 1);
}
const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build-if-stale.mjs')], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const { load } = await import('./lib/load.mjs');
const { ROUTES, sessions, SESSIONS } = await import('./scenarios/http.mjs');
const { cpuWindow, gcWindow, heapTotals } = await import('./lib/profile-analysis.mjs');
const { report } = await import('./lib/profile-report.mjs');

const contenders = (
  args.contenders ?? (args.redis ? 'bare,connect-redis,session-sync-redis' : 'bare,session-sync')
).split(',');
const routes = (args.routes ?? 'rw,rw200,untouched').split(',').map((k) => ROUTES.find((r) => r.key === k));
const seconds = Number(args.seconds ?? 10);
const warm = Number(args.warm ?? 3);
const interval = Number(args.interval ?? 4096);
const top = Number(args.top ?? 15);
const out = args.out ?? join(tmpdir(), `session-sync-profile-${Date.now()}`);
if (!args.from) mkdirSync(out, { recursive: true });
const redis = args.redis && !args.from ? await startRedis() : undefined;
const env = redis ? { REDIS_URL: redis.url } : {};

async function withServer(contender, options, fn) {
  const server = await startServer('http.mjs', [contender], { ...options, env: { ...env, ...options.env } });
  try {
    [server.hot, ...server.many] = await sessions(server.url, 1 + SESSIONS);
    return await fn(server);
  } finally {
    await server.stop();
  }
}
const redisCli = (...command) => {
  if (!redis) return '';
  const { hostname, port } = new URL(redis.url);
  return spawnSync('redis-cli', ['-h', hostname, '-p', port, ...command], { encoding: 'utf8' }).stdout ?? '';
};
/** Calls per command since the last CONFIG RESETSTAT (the bench's own INFO and CONFIG left out). */
const commandStats = () =>
  Object.fromEntries(
    [...redisCli('info', 'commandstats').matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)]
      .filter(([, name]) => !/^(info|config)/.test(name))
      .map(([, name, calls]) => [name, Number(calls)]),
  );
const drive = (server, route, duration) =>
  load({
    url: server.url,
    path: route.path,
    cookies: route.spread ? server.many : [server.hot],
    duration,
    redisUrl: redis?.url,
  });

/** Runs one contender's two passes and keeps everything raw in `out`. */
async function collect(contender) {
  process.stderr.write(`profile: ${contender} cpu…`);
  const name = `${contender}.cpuprofile`;
  const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${out}`, `--cpu-prof-name=${name}`, '--cpu-prof-interval=250'];
  const windows = {};
  const commands = {};
  let cpuServer;
  await withServer(contender, { nodeArgs: [...nodeArgs, '--trace-gc-nvp'], keepOutput: true }, async (server) => {
    cpuServer = server;
    for (const route of routes) {
      await drive(server, route, warm);
      redisCli('config', 'resetstat');
      windows[route.key] = await drive(server, route, seconds);
      if (redis) commands[route.key] = commandStats();
      const { non2xx, errors } = windows[route.key].failed;
      if (non2xx + errors) process.stderr.write(` (${route.key}: ${non2xx} non-2xx, ${errors} errors)`);
    }
  });
  // Read once the server has exited: --trace-gc lines reach the pipe when stdout flushes.
  writeFileSync(join(out, `${contender}.trace-gc.txt`), cpuServer.output());
  process.stderr.write(' heap…');
  const heapServed = {};
  await withServer(contender, { env: { BENCH_HEAP_SAMPLING: '1' } }, async (server) => {
    for (const route of routes) {
      await drive(server, route, warm);
      await fetch(`${server.url}/__heap/start?interval=${interval}`, { method: 'POST' });
      heapServed[route.key] = (await drive(server, route, Math.min(seconds, 5))).server.served;
      const heap = await (await fetch(`${server.url}/__heap/stop`, { method: 'POST' })).json();
      writeFileSync(join(out, `${contender}.${route.key}.heapprofile`), JSON.stringify(heap));
    }
  });
  writeFileSync(join(out, `${contender}.windows.json`), JSON.stringify({ interval, windows, heapServed, commands }));
  process.stderr.write(' done\n');
}

/** Per-request figures of one contender and route from the raw files in `dir`. */
function analyse(dir, contender, routeKey) {
  const { interval, windows, heapServed, commands } = JSON.parse(
    readFileSync(join(dir, `${contender}.windows.json`), 'utf8'),
  );
  const m = windows[routeKey];
  const served = m.server.served;
  const cpu = cpuWindow(JSON.parse(readFileSync(join(dir, `${contender}.cpuprofile`), 'utf8')), m.server.window);
  const gc = gcWindow(readFileSync(join(dir, `${contender}.trace-gc.txt`), 'utf8'), m.server.window);
  const heapProfile = JSON.parse(readFileSync(join(dir, `${contender}.${routeKey}.heapprofile`), 'utf8'));
  const heap = heapTotals(heapProfile, interval);
  const heapN = heapServed[routeKey];
  // Profile time is wall time (a sample taken late, after the core was busy elsewhere, covers
  // the wait too): scale the non-idle samples to the CPU time the process really used per
  // request, so µs/req stay comparable on a crowded machine. V8's "(idle)" is node's libuv
  // poll phase outside JavaScript: waiting in epoll, but also libuv's own socket reads, so
  // the idle share comes from busy (CPU / wall) and the event loop's idle time instead.
  const working = cpu.totalMicros - (cpu.byOwner.idle ?? 0);
  const perReq = (micros) => (micros / working) * m.server.cpuMicrosPerReq;
  const perReqOf = (map) =>
    Object.fromEntries(
      Object.entries(map)
        .filter(([k]) => k !== 'idle')
        .map(([k, v]) => [k, perReq(v)]),
    );
  return {
    heapInterval: interval,
    // Redis commands per request by name, those a Lua script calls included.
    redisCommandsPerReq: commands?.[routeKey]
      ? Object.fromEntries(Object.entries(commands[routeKey]).map(([k, v]) => [k, v / served]))
      : undefined,
    rps: Math.round(m.rps),
    served,
    wallMs: m.server.wallMs,
    cpuMicrosPerReq: m.server.cpuMicrosPerReq,
    busy: m.server.busy,
    eventLoopIdle: m.server.eventLoopIdle,
    crowding: m.crowding,
    profileMicros: cpu.totalMicros,
    idleShare: (cpu.byOwner.idle ?? 0) / cpu.totalMicros,
    gcShare: (cpu.byOwner.gc ?? 0) / working, // of the time the thread was not idle
    gcPauseShare: gc.pauseMs / m.server.wallMs,
    gc,
    gcBytesPerReq: gc.allocatedBytes / served,
    byOwnerPerReq: perReqOf(cpu.byOwner),
    byCausePerReq: perReqOf(cpu.byCause),
    functions: cpu.functions
      .filter((f) => f.owner !== 'idle')
      .slice(0, 300)
      .map((f) => ({ ...f, perReq: perReq(f.micros) })),
    heap: {
      served: heapN,
      bytesPerReq: heap.bytes / heapN,
      objectsPerReq: heap.objects / heapN,
      byOwnerPerReq: Object.fromEntries(
        Object.entries(heap.byOwner).map(([k, v]) => [k, { bytes: v.bytes / heapN, objects: v.objects / heapN }]),
      ),
      sites: heap.sites
        .slice(0, 50)
        .map((s) => ({ ...s, bytesPerReq: s.bytes / heapN, objectsPerReq: s.objects / heapN })),
    },
  };
}

if (!args.from) {
  try {
    for (const contender of contenders) await collect(contender);
  } finally {
    await redis?.stop();
  }
}
const dir = args.from ?? out;
const results = Object.fromEntries(
  contenders.map((c) => [c, Object.fromEntries(routes.map((r) => [r.key, analyse(dir, c, r.key)]))]),
);
writeFileSync(join(dir, 'profile.json'), JSON.stringify({ date: new Date().toISOString(), results }, null, 2));
const first = results[contenders[0]][routes[0].key];
const windowSeconds = Math.round(first.wallMs / 1000);
console.log(
  report({
    contenders,
    routes,
    results,
    top,
    note: `${windowSeconds} s windows, heap sampling every ${first.heapInterval} B; raw: ${dir}`,
  }),
);
