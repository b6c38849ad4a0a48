// 1. HTTP throughput: bare Express vs express-session vs session-sync (and the Redis pair),
// alternating contenders in every round, warm-up discarded, median of the rounds.
import { autocannon, cookieOf, median, round, startServer } from '../lib/util.mjs';

export async function httpBench({ quick, redisUrl }) {
  const contenders = redisUrl
    ? ['bare', 'connect-redis', 'session-sync-redis']
    : ['bare', 'express-session', 'session-sync'];
  const rounds = 3;
  const duration = quick ? 1 : 10;
  const warm = quick ? 1 : 3;
  const rps = Object.fromEntries(contenders.map((c) => [c, { rw: [], untouched: [] }]));
  // One server per contender for the whole run (starting one costs seconds); every round
  // still warms each up again and rotates the order, so none always runs first or last.
  const servers = {};
  try {
    for (const contender of contenders) {
      const server = await startServer('http.mjs', [contender], { env: redisUrl ? { REDIS_URL: redisUrl } : {} });
      servers[contender] = server;
      const cookie = cookieOf(await fetch(server.url + '/init'));
      server.headers = cookie ? { cookie } : {};
      // Quick mode warms each server once; the full run warms it again every round.
      if (quick) await autocannon({ url: server.url + '/rw', duration: warm, headers: server.headers });
    }
    for (let r = 0; r < rounds; r++) {
      const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
      for (const contender of order) {
        const { url, headers } = servers[contender];
        if (!quick) await autocannon({ url: url + '/rw', duration: warm, headers });
        for (const route of ['rw', 'untouched']) {
          const result = await autocannon({ url: `${url}/${route}`, duration, headers });
          rps[contender][route].push(result.requests.average);
        }
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
  const [bare, ...others] = contenders;
  const rows = [];
  for (const contender of contenders) {
    for (const route of ['rw', 'untouched']) {
      const ratios = rps[contender][route].map((v, i) => v / rps[bare][route][i]);
      rows.push({
        contender,
        route: route === 'rw' ? 'read+write one key' : 'does not touch the session',
        rps: Math.round(median(rps[contender][route])),
        ratio: contender === bare ? 1 : round(median(ratios), 3),
      });
    }
  }
  return { name: redisUrl ? 'http-redis' : 'http', rounds, duration, rows, others };
}
