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
//        [--seconds=10] [--warm=3] [--interval=4096] [--top=15] [--redis] [--out=DIR]
//   --redis: contenders bare,connect-redis,session-sync-redis on a throw-away redis-server
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HAS_TASKSET, ROOT, round, startRedis, startServer } from './lib/util.mjs';

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

const contenders = (
  args.contenders ?? (args.redis ? 'bare,connect-redis,session-sync-redis' : 'bare,session-sync')
).split(',');
const routes = (args.routes ?? 'rw,rw200,untouched').split(',').map((k) => ROUTES.find((r) => r.key === k));
const seconds = Number(args.seconds ?? 10);
const warm = Number(args.warm ?? 3);
const interval = Number(args.interval ?? 4096);
const top = Number(args.top ?? 15);
const out = args.out ?? join(tmpdir(), `session-sync-profile-${Date.now()}`);
mkdirSync(out, { recursive: true });
const redis = args.redis ? await startRedis() : undefined;
const env = redis ? { REDIS_URL: redis.url } : {};

async function withServer(contender, options, fn) {
  const server = await startServer('http.mjs', [contender], { env: { ...env, ...options.env }, ...options });
  try {
    [server.hot, ...server.many] = await sessions(server.url, 1 + SESSIONS);
    return await fn(server);
  } finally {
    await server.stop();
  }
}
const drive = (server, route, duration) =>
  load({
    url: server.url,
    path: route.path,
    cookies: route.spread ? server.many : [server.hot],
    duration,
    redisUrl: redis?.url,
  });

const results = {};
try {
  for (const contender of contenders) {
    process.stderr.write(`profile: ${contender} cpu…`);
    const name = `${contender}.cpuprofile`;
    const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${out}`, `--cpu-prof-name=${name}`, '--cpu-prof-interval=250'];
    const windows = {};
    let cpuServer;
    await withServer(contender, { nodeArgs: [...nodeArgs, '--trace-gc-nvp'], keepOutput: true }, async (server) => {
      cpuServer = server;
      for (const route of routes) {
        await drive(server, route, warm);
        windows[route.key] = await drive(server, route, seconds);
      }
    });
    // Read once the server has exited: --trace-gc lines reach the pipe when stdout flushes.
    const gcText = cpuServer.output();
    writeFileSync(join(out, `${contender}.trace-gc.txt`), gcText);
    const profile = JSON.parse(readFileSync(join(out, name), 'utf8'));
    process.stderr.write(' heap…');
    const heaps = {};
    await withServer(contender, { env: { BENCH_HEAP_SAMPLING: '1' } }, async (server) => {
      for (const route of routes) {
        await drive(server, route, warm);
        await fetch(`${server.url}/__heap/start?interval=${interval}`, { method: 'POST' });
        const measured = await drive(server, route, Math.min(seconds, 5));
        const heap = await (await fetch(`${server.url}/__heap/stop`, { method: 'POST' })).json();
        writeFileSync(join(out, `${contender}.${route.key}.heapprofile`), JSON.stringify(heap));
        heaps[route.key] = { served: measured.server.served, ...heapTotals(heap, interval) };
      }
    });
    process.stderr.write(' done\n');
    results[contender] = {};
    for (const route of routes) {
      const m = windows[route.key];
      const served = m.server.served;
      const cpu = cpuWindow(profile, m.server.window);
      // Profile time is wall time (a sample taken late, after the core was busy elsewhere,
      // covers the wait too): scale the non-idle samples to the CPU time the process really
      // used per request, so µs/req stay comparable on a crowded machine.
      const working = cpu.totalMicros - (cpu.byOwner.idle ?? 0);
      const perReq = (micros) => (micros / working) * m.server.cpuMicrosPerReq;
      const gc = gcWindow(gcText, m.server.window);
      const heap = heaps[route.key];
      results[contender][route.key] = {
        rps: Math.round(m.rps),
        served,
        wallMs: m.server.wallMs,
        cpuMicrosPerReq: m.server.cpuMicrosPerReq,
        busy: m.server.busy,
        eventLoopIdle: m.server.eventLoopIdle,
        cores: m.cores,
        profileMicros: cpu.totalMicros,
        idleShare: (cpu.byOwner.idle ?? 0) / cpu.totalMicros,
        gcShare: (cpu.byOwner.gc ?? 0) / working, // of the time the thread was not idle
        gcPauseShare: gc.pauseMs / m.server.wallMs,
        gc,
        gcBytesPerReq: gc.allocatedBytes / served,
        underSessionSyncPerReq: perReq(cpu.underSessionSync),
        byOwnerPerReq: Object.fromEntries(
          Object.entries(cpu.byOwner)
            .filter(([k]) => k !== 'idle')
            .map(([k, v]) => [k, perReq(v)]),
        ),
        functions: cpu.functions
          .filter((f) => f.owner !== 'idle')
          .slice(0, 300)
          .map((f) => ({ ...f, perReq: perReq(f.micros) })),
        heap: {
          served: heap.served,
          bytesPerReq: heap.bytes / heap.served,
          objectsPerReq: heap.objects / heap.served,
          byOwnerPerReq: Object.fromEntries(
            Object.entries(heap.byOwner).map(([k, v]) => [
              k,
              { bytes: v.bytes / heap.served, objects: v.objects / heap.served },
            ]),
          ),
          sites: heap.sites
            .slice(0, 50)
            .map((s) => ({ ...s, bytesPerReq: s.bytes / heap.served, objectsPerReq: s.objects / heap.served })),
        },
      };
    }
  }
} finally {
  await redis?.stop();
}
writeFileSync(
  join(out, 'profile.json'),
  JSON.stringify({ date: new Date().toISOString(), seconds, interval, results }, null, 2),
);

// --- the report
const pct = (x) => `${(x * 100).toFixed(1)}%`;
const us = (x) => round(x, 2);
const lines = [];
const say = (s = '') => lines.push(s);
say(`Profiles of ${contenders.join(', ')}; ${seconds} s windows, heap sampling every ${interval} B; raw: ${out}`);
for (const route of routes) {
  say();
  say(`### ${route.label}`);
  say();
  say(
    '| contender | req/s (profiled) | CPU µs/req | busy | ev. loop idle | profile idle | GC (of non-idle profile) | GC pauses | GCs (s/mc) | alloc B/req (heap) | objects/req | alloc B/req (trace-gc) | µs/req with session-sync on the stack |',
  );
  say('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const c of contenders) {
    const r = results[c][route.key];
    say(
      `| ${c} | ${r.rps} | ${us(r.cpuMicrosPerReq)} | ${pct(r.busy)} | ${pct(r.eventLoopIdle)} | ${pct(r.idleShare)} | ${pct(r.gcShare)} | ${pct(r.gcPauseShare)} | ${r.gc.scavenges}/${r.gc.markCompacts} | ${Math.round(r.heap.bytesPerReq)} | ${us(r.heap.objectsPerReq)} | ${Math.round(r.gcBytesPerReq)} | ${us(r.underSessionSyncPerReq)} |`,
    );
  }
  say();
  const owners = [...new Set(contenders.flatMap((c) => Object.keys(results[c][route.key].byOwnerPerReq)))];
  say('Self time by owner (µs/req: share of the non-idle profile × measured CPU µs/req)');
  say();
  say(`| owner | ${contenders.join(' | ')} |`);
  say(`| --- | ${contenders.map(() => '---').join(' | ')} |`);
  for (const o of owners.sort())
    say(`| ${o} | ${contenders.map((c) => us(results[c][route.key].byOwnerPerReq[o] ?? 0)).join(' | ')} |`);
  const [base, ...others] = contenders;
  for (const c of contenders) {
    const r = results[c][route.key];
    say();
    say(`${c}: top ${top} self-time functions (µs/req; share of the non-idle profile)`);
    say();
    say('| function | owner | where / called from | µs/req | share |');
    say('| --- | --- | --- | --- | --- |');
    const busy = r.profileMicros * (1 - r.idleShare);
    for (const f of r.functions.slice(0, top))
      say(`| ${f.name} | ${f.owner} | ${f.caller || f.where} | ${us(f.perReq)} | ${pct(f.micros / busy)} |`);
    say();
    say(`${c}: top ${Math.min(top, 10)} allocation sites (per request)`);
    say();
    say('| allocated by | owner | where | bytes | objects |');
    say('| --- | --- | --- | --- | --- |');
    for (const s of r.heap.sites.slice(0, Math.min(top, 10)))
      say(`| ${s.name} | ${s.owner} | ${s.where} | ${Math.round(s.bytesPerReq)} | ${us(s.objectsPerReq)} |`);
    if (c === base || !others.includes(c)) continue;
    const b = new Map(results[base][route.key].functions.map((f) => [f.key, f.perReq]));
    const added = r.functions
      .map((f) => ({ ...f, added: f.perReq - (b.get(f.key) ?? 0) }))
      .sort((x, y) => y.added - x.added)
      .slice(0, top);
    say();
    say(`${c}: what it adds over ${base} (µs/req, functions outside session-sync included)`);
    say();
    say('| function | owner | where / called from | + µs/req |');
    say('| --- | --- | --- | --- |');
    for (const f of added) say(`| ${f.name} | ${f.owner} | ${f.caller || f.where} | ${us(f.added)} |`);
  }
}
console.log(lines.join('\n'));
