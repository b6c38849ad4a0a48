// The HTTP load side: autocannon in this process (run.mjs pins itself to core 1, away from the
// servers on core 0), with the server's own CPU time and request count read through its
// /__stats probe (bench/servers/probe.mjs) right before and right after the measured window.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { HAS_TASKSET } from './util.mjs';

const autocannon = createRequire(import.meta.url)('autocannon');

async function stats(url) {
  const response = await fetch(url + '/__stats');
  if (!response.ok) throw new Error(`${url}/__stats answered ${response.status}`);
  return response.json();
}

/** Redis's own CPU time (µs), commands and bytes received, from INFO; undefined without Redis. */
function redisStats(redisUrl) {
  if (!redisUrl) return undefined;
  const { hostname, port } = new URL(redisUrl);
  const out = spawnSync('redis-cli', ['-h', hostname, '-p', port, 'info'], { encoding: 'utf8' }).stdout ?? '';
  const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(out)?.[1] ?? NaN);
  return {
    cpuMicros: (field('used_cpu_user') + field('used_cpu_sys')) * 1e6,
    commands: field('total_commands_processed'),
    inputBytes: field('total_net_input_bytes'),
  };
}

/** Per-core jiffies from /proc/stat (Linux), to tell an idle server from a crowded core. */
function cores() {
  try {
    const lines = readFileSync('/proc/stat', 'utf8').split('\n');
    return Object.fromEntries(
      lines
        .filter((l) => /^cpu\d/.test(l))
        .map((l) => {
          const [name, user, nice, system, idle, iowait, irq, softirq, steal] = l.split(/\s+/);
          const n = (x) => Number(x ?? 0);
          const work = n(user) + n(nice) + n(system) + n(irq) + n(softirq);
          return [name, { work, idle: n(idle) + n(iowait), steal: n(steal) }];
        }),
    );
  } catch {
    return {};
  }
}

/** Shares of each core's time over the window: busy (any process), idle, stolen by the host. */
function coreShares(before, after) {
  const shares = {};
  for (const name of Object.keys(after)) {
    const d = (k) => after[name][k] - (before[name]?.[k] ?? 0);
    const total = d('work') + d('idle') + d('steal');
    if (total > 0) shares[name] = { busy: d('work') / total, idle: d('idle') / total, steal: d('steal') / total };
  }
  return shares;
}

/**
 * How much of each pinned core other work took over the window: cpu0 carries the server,
 * cpu1 this process (and Redis). Near 0 on a quiet machine; a measurement with much more is
 * suspect (the shared 2-core machine runs other people's builds and tests).
 */
function crowding(m, redisBusy) {
  const { cpu0, cpu1 } = m.cores;
  if (!HAS_TASKSET || !cpu0 || !cpu1) return { serverCore: 0, loadCore: 0 };
  return {
    serverCore: Math.max(0, cpu0.busy + cpu0.steal - m.server.busy),
    loadCore: Math.max(0, cpu1.busy + cpu1.steal - m.load.busy - redisBusy),
  };
}

/**
 * Each connection its own sessions: connection k sends cookies k, k + C, k + 2C, … in turn
 * (C connections), so no two connections share a session and every session is used.
 */
function spreadOver(path, cookies, connections) {
  let next = 0;
  return (client) => {
    const k = next++ % connections;
    const mine = cookies.filter((_, i) => i % connections === k);
    client.setRequests(mine.map((cookie) => ({ method: 'GET', path, headers: { cookie } })));
  };
}

/**
 * Loads `url + path` for `duration` seconds over `connections` keep-alive connections and
 * answers what the client saw (failed requests included, never thrown) and what the server
 * spent.
 *
 * @param options.cookies - one cookie: every connection sends it; more: spread over the
 *   connections (see spreadOver); none: no cookie
 * @param options.redisUrl - also read Redis's CPU time over the window
 * @returns { rps, requests, latencyP50, latencyP99, server: { cpuMicros, served, wallMs,
 *   cpuMicrosPerReq, busy, eventLoopIdle, window }, load: { cpuMicros, busy },
 *   cores: { cpu0: { busy, idle, steal }, … }, crowding: { serverCore, loadCore },
 *   redisCpuMicrosPerReq?, redisCommandsPerReq?, redisBytesInPerReq? }
 */
export async function load({ url, path, cookies = [], connections = 50, duration = 10, redisUrl }) {
  const options = { url: url + path, connections, duration };
  if (cookies.length === 1) options.headers = { cookie: cookies[0] };
  if (cookies.length > 1) options.setupClient = spreadOver(path, cookies, connections);
  const redisBefore = redisStats(redisUrl);
  const coresBefore = cores();
  const before = await stats(url);
  const ownBefore = process.cpuUsage();
  const result = await autocannon(options);
  const own = process.cpuUsage(ownBefore);
  const after = await stats(url);
  const coresAfter = cores();
  const redisAfter = redisStats(redisUrl);
  const cpuMicros = after.cpuMicros - before.cpuMicros;
  const served = after.served - before.served;
  const wallMs = (after.hrMicros - before.hrMicros) / 1000;
  const idle = after.eluIdleMs - before.eluIdleMs;
  const active = after.eluActiveMs - before.eluActiveMs;
  const measured = {
    rps: result.requests.average,
    requests: result.requests.total,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    latencyMax: result.latency.max,
    // Requests that did not succeed: not 2xx, or errors (a timeout, 10 s without an answer,
    // is counted in errors too). The caller decides what a window with failures is worth.
    failed: { non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts },
    server: {
      cpuMicros,
      userMicros: after.userMicros - before.userMicros,
      systemMicros: after.systemMicros - before.systemMicros,
      served,
      wallMs,
      cpuMicrosPerReq: cpuMicros / served,
      // CPU time over wall time: on one pinned core, 1 - busy is the time it sat idle.
      busy: cpuMicros / 1000 / wallMs,
      eventLoopIdle: idle / (idle + active),
      // The window on the server's clocks: process.hrtime (what --cpu-prof timestamps use)
      // and performance.now() (≈ the ms since start that --trace-gc prints).
      window: { fromMicros: before.hrMicros, toMicros: after.hrMicros, fromMs: before.uptimeMs, toMs: after.uptimeMs },
    },
    load: { cpuMicros: own.user + own.system, busy: (own.user + own.system) / 1000 / wallMs },
    cores: coreShares(coresBefore, coresAfter),
  };
  if (redisUrl) {
    // Per request served: Redis's CPU, the commands it ran (those a Lua script calls count
    // too; the two INFO probes are in the figure) and the bytes it received.
    const delta = (k) => redisAfter[k] - redisBefore[k];
    measured.redisCpuMicrosPerReq = delta('cpuMicros') / served;
    measured.redisCommandsPerReq = delta('commands') / served;
    measured.redisBytesInPerReq = delta('inputBytes') / served;
  }
  measured.crowding = crowding(measured, redisUrl ? (redisAfter.cpuMicros - redisBefore.cpuMicros) / 1000 / wallMs : 0);
  return measured;
}
