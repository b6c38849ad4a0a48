// The markdown report of bench/profile.mjs: per route, the headline figures of every
// contender, self time by owner and by cause, top functions and allocation sites, and what
// each contender adds over the first (bare Express).
import { round } from './util.mjs';

const pct = (x) => `${(x * 100).toFixed(1)}%`;
const us = (x) => round(x, 2);

/**
 * @param options.results - { [contender]: { [routeKey]: analysed figures } }
 * @returns the report, markdown
 */
export function report({ contenders, routes, results, top, note }) {
  const lines = [];
  const say = (s = '') => lines.push(s);
  say(`Profiles of ${contenders.join(', ')}; ${note}`);
  for (const route of routes) {
    const of = (c) => results[c][route.key];
    say();
    say(`### ${route.label}`);
    say();
    say(
      '| contender | req/s (profiled) | CPU µs/req | CPU busy | ev. loop idle | (idle) in profile: libuv poll phase | GC (share of the rest) | GC pauses | GCs (s/mc) | alloc B/req (heap) | objects/req | alloc B/req (trace-gc) | core 0 / 1 to others |',
    );
    say('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const c of contenders) {
      const r = of(c);
      say(
        `| ${c} | ${r.rps} | ${us(r.cpuMicrosPerReq)} | ${pct(r.busy)} | ${pct(r.eventLoopIdle)} | ${pct(r.idleShare)} | ${pct(r.gcShare)} | ${pct(r.gcPauseShare)} | ${r.gc.scavenges}/${r.gc.markCompacts} | ${Math.round(r.heap.bytesPerReq)} | ${us(r.heap.objectsPerReq)} | ${Math.round(r.gcBytesPerReq)} | ${pct(r.crowding.serverCore)} / ${pct(r.crowding.loadCore)} |`,
      );
    }
    say();
    const table = (title, pick, value) => {
      const keys = [...new Set(contenders.flatMap((c) => Object.keys(pick(of(c)))))].sort();
      say(title);
      say();
      say(`| owner | ${contenders.join(' | ')} |`);
      say(`| --- | ${contenders.map(() => '---').join(' | ')} |`);
      for (const k of keys) say(`| ${k} | ${contenders.map((c) => value(pick(of(c))[k])).join(' | ')} |`);
      say();
    };
    table(
      'Self time by owner (µs/req: share of the non-idle profile × measured CPU µs/req)',
      (r) => r.byOwnerPerReq,
      (v) => us(v ?? 0),
    );
    table(
      "By cause: node's JS and V8/C++ frames charged to their nearest other caller (µs/req)",
      (r) => r.byCausePerReq,
      (v) => us(v ?? 0),
    );
    table(
      'Allocations by owner (bytes / objects per request; V8 builtins and natives charged to their JS caller)',
      (r) => r.heap.byOwnerPerReq,
      (v) => (v ? `${Math.round(v.bytes)} / ${us(v.objects)}` : '0'),
    );
    if (contenders.some((c) => of(c).redisCommandsPerReq))
      table(
        'Redis commands per request (calls inside Lua scripts included)',
        (r) => r.redisCommandsPerReq ?? {},
        (v) => (v ? round(v, 2) : 0),
      );
    const [base] = contenders;
    for (const c of contenders) {
      const r = of(c);
      say(`${c}: top ${top} self-time functions (µs/req; share of the non-idle profile)`);
      say();
      say('| function | owner | where / called from | µs/req | share |');
      say('| --- | --- | --- | --- | --- |');
      const total = r.functions.reduce((sum, f) => sum + f.micros, 0);
      for (const f of r.functions.slice(0, top))
        say(`| ${f.name} | ${f.owner} | ${f.caller || f.where} | ${us(f.perReq)} | ${pct(f.micros / total)} |`);
      say();
      say(`${c}: top ${Math.min(top, 12)} allocation sites (per request)`);
      say();
      say('| allocated by | owner | where | bytes | objects |');
      say('| --- | --- | --- | --- | --- |');
      for (const s of r.heap.sites.slice(0, Math.min(top, 12)))
        say(`| ${s.name} | ${s.owner} | ${s.where} | ${Math.round(s.bytesPerReq)} | ${us(s.objectsPerReq)} |`);
      say();
      if (c === base) continue;
      const b = new Map(of(base).functions.map((f) => [f.key, f.perReq]));
      const added = r.functions
        .map((f) => ({ ...f, added: f.perReq - (b.get(f.key) ?? 0) }))
        .sort((x, y) => y.added - x.added)
        .slice(0, top);
      say(`${c}: what it adds over ${base} (µs/req, functions outside session-sync included)`);
      say();
      say('| function | owner | where / called from | + µs/req |');
      say('| --- | --- | --- | --- |');
      for (const f of added) say(`| ${f.name} | ${f.owner} | ${f.caller || f.where} | ${us(f.added)} |`);
      say();
    }
  }
  return lines.join('\n');
}
