// 1. HTTP: bare Express vs express-session vs session-sync (and on Redis: connect-redis vs
// session-sync's RedisStore). Per route: req/s as the client saw it and the server's CPU µs per
// request served, each also as a ratio to bare Express in the same round; contenders alternate
// in every round, warm-up discarded, medians of the rounds (raw figures per round kept).
import { load } from '../lib/load.mjs';
import { cookieOf, median, round, startServer } from '../lib/util.mjs';

/** Sessions in the many-visitors routes, spread over the connections. */
export const SESSIONS = 200;

/** The routes: one hot session (every connection sends the same cookie) or SESSIONS of them. */
export const ROUTES = [
  { key: 'rw', path: '/rw', spread: false, label: 'read+write one key, one hot session' },
  { key: 'rw200', path: '/rw', spread: true, label: `read+write one key, ${SESSIONS} sessions` },
  { key: 'untouched', path: '/untouched', spread: false, label: 'ignores the session (valid cookie), one hot session' },
  {
    key: 'untouched200',
    path: '/untouched',
    spread: true,
    label: `ignores the session (valid cookie), ${SESSIONS} sessions`,
    fullOnly: true, // keeps --quick under 90 s
  },
];

/** `count` sessions made by /init (each a real stored record, or for bare a look-alike cookie). */
export async function sessions(url, count) {
  const cookies = [];
  for (let i = 0; i < count; i += 20) {
    const batch = Array.from({ length: Math.min(20, count - i) }, () =>
      fetch(url + '/init').then((r) => {
        if (!r.ok) throw new Error(`${url}/init answered ${r.status}`);
        return cookieOf(r);
      }),
    );
    cookies.push(...(await Promise.all(batch)));
  }
  if (cookies.some((c) => !c)) throw new Error(`${url}/init set no cookie`);
  return cookies;
}

const summary = (xs) => round(median(xs), 3);
const crowdedBy = (m) => Math.max(m.crowding.serverCore, m.crowding.loadCore);
const failures = (m) => m.failed.non2xx + m.failed.errors;
// The better of two windows: one without failed requests, then the less crowded.
const better = (a, b) =>
  failures(a) > 0 !== failures(b) > 0 ? (failures(a) > 0 ? b : a) : crowdedBy(b) < crowdedBy(a) ? b : a;
// Other people's work on this shared machine can take a pinned core in the middle of a
// measurement; the full run measures such a window once more and keeps the least
// crowded attempt. Every attempt stays in the raw figures.
const CROWDED = 0.1;

export async function httpBench({ quick, redisUrl, connections = 50 }) {
  const contenders = redisUrl
    ? ['bare', 'connect-redis', 'session-sync-redis']
    : ['bare', 'express-session', 'session-sync'];
  const rounds = 3;
  const routes = ROUTES.filter((r) => !quick || !r.fullOnly);
  const duration = quick ? 1 : 10;
  const warm = quick ? 1 : 3;
  const runs = Object.fromEntries(contenders.map((c) => [c, Object.fromEntries(routes.map((r) => [r.key, []]))]));
  // One server per contender for the whole run (starting one costs seconds); every round
  // still warms each up again (quick mode: once) and rotates the order, so none always runs
  // first or last.
  const servers = {};
  const measure = (server, route, seconds) =>
    load({
      url: server.url,
      path: route.path,
      cookies: route.spread ? server.many : [server.hot],
      connections,
      duration: seconds,
      redisUrl,
    });
  try {
    for (const contender of contenders) {
      const server = await startServer('http.mjs', [contender], { env: redisUrl ? { REDIS_URL: redisUrl } : {} });
      servers[contender] = server;
      [server.hot, ...server.many] = await sessions(server.url, 1 + SESSIONS);
      if (quick) await measure(server, ROUTES[0], warm);
    }
    for (let r = 0; r < rounds; r++) {
      const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
      for (const contender of order) {
        const server = servers[contender];
        if (!quick) await measure(server, ROUTES[0], warm);
        for (const route of routes) {
          const attempts = [];
          do attempts.push(await measure(server, route, duration));
          while (
            attempts.length < 2 &&
            (failures(attempts.at(-1)) > 0 || (!quick && crowdedBy(attempts.at(-1)) > CROWDED))
          );
          const best = attempts.reduce(better);
          for (const a of attempts.filter(failures))
            process.stderr.write(
              `\nbench: ${contender} ${route.key}: ${a.failed.non2xx} non-2xx, ${a.failed.errors} errors (${a.failed.timeouts} timeouts), latency max ${a.latencyMax} ms${a === best ? ' (kept: the other attempt failed too)' : ' (measured again)'}\n`,
            );
          runs[contender][route.key].push({
            ...best,
            attempts: attempts.length,
            discarded: attempts.filter((a) => a !== best),
          });
        }
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }

  // Ratios to bare Express, and for the others to the reference (express-session or
  // connect-redis), each taken within one round and then the median of the rounds.
  const [bare, reference] = contenders;
  const rows = [];
  for (const contender of contenders) {
    for (const route of routes) {
      const mine = runs[contender][route.key];
      const base = runs[bare][route.key];
      const ref = runs[reference][route.key];
      const cpu = (m) => m.server.cpuMicrosPerReq;
      const row = {
        contender,
        route: route.key,
        label: route.label,
        rps: Math.round(median(mine.map((m) => m.rps))),
        ratio: contender === bare ? 1 : summary(mine.map((m, i) => m.rps / base[i].rps)),
        cpuMicrosPerReq: round(median(mine.map(cpu)), 1),
        cpuRatio: contender === bare ? 1 : summary(mine.map((m, i) => cpu(m) / cpu(base[i]))),
        ratioToReference: summary(mine.map((m, i) => m.rps / ref[i].rps)),
        cpuRatioToReference: summary(mine.map((m, i) => cpu(m) / cpu(ref[i]))),
        busy: summary(mine.map((m) => m.server.busy)),
        eventLoopIdle: summary(mine.map((m) => m.server.eventLoopIdle)),
        // The cores' time taken by anything but this server / this load (see load.mjs).
        serverCoreOthers: summary(mine.map((m) => m.crowding.serverCore)),
        loadCoreOthers: summary(mine.map((m) => m.crowding.loadCore)),
        // Failed requests in the windows kept (each printed when it happened): should be 0.
        failedRequests: mine.reduce((sum, m) => sum + failures(m), 0),
        latencyP50: median(mine.map((m) => m.latencyP50)),
        latencyP99: median(mine.map((m) => m.latencyP99)),
      };
      if (redisUrl) {
        row.redisCpuMicrosPerReq = round(median(mine.map((m) => m.redisCpuMicrosPerReq)), 1);
        row.redisCommandsPerReq = round(median(mine.map((m) => m.redisCommandsPerReq)), 2);
        row.redisBytesInPerReq = Math.round(median(mine.map((m) => m.redisBytesInPerReq)));
      }
      rows.push(row);
    }
  }
  return {
    name: redisUrl ? 'http-redis' : 'http',
    rounds,
    duration,
    connections,
    sessions: SESSIONS,
    contenders,
    reference,
    routes: Object.fromEntries(routes.map((r) => [r.key, r.label])),
    rows,
    runs,
  };
}
