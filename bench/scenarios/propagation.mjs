// 2. Propagation: an HTTP write, then the same visitor's socket receives the change.
// session-sync vs the Socket.IO recipe; p50/p99 over sequential writes. With Redis: the
// write goes to node A and the socket listens on node B, beside the single-node figure.
import { io as connect } from 'socket.io-client';
import { cookieOf, median, percentile, round, startServer } from '../lib/util.mjs';

async function measure(writeUrl, listenUrl, mode, writes) {
  const cookie = cookieOf(await fetch(writeUrl + '/init'));
  const socket = connect(listenUrl, { transports: ['websocket'], extraHeaders: { cookie }, forceNew: true });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  let waiting;
  const seen = (i) => waiting && waiting.i === i && waiting.resolve();
  if (mode === 'recipe') socket.on('session', (m) => seen(m.i));
  else socket.on('session:patch', (p) => p.ops.forEach((op) => op.path[0] === 'i' && seen(op.value)));
  const times = [];
  for (let i = 1; i <= writes; i++) {
    const start = process.hrtime.bigint();
    const heard = new Promise((resolve) => (waiting = { i, resolve }));
    await Promise.all([
      heard,
      fetch(`${writeUrl}/write?i=${i}`, { method: 'POST', headers: { cookie } }).then((r) => r.text()),
    ]);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  socket.close();
  const warm = times.slice(Math.min(50, writes / 10)); // first writes warm the JIT: discarded
  return { p50: percentile(warm, 50), p99: percentile(warm, 99) };
}

export async function propagationBench({ quick, redisUrl }) {
  const writes = quick ? 150 : 600;
  const rounds = 3;
  const runs = { 'session-sync': [], recipe: [] };
  // One server per contender for all rounds (each round is a new visitor with a new socket):
  // starting servers was most of --quick's time here.
  const servers = {};
  try {
    for (const mode of ['session-sync', 'recipe']) servers[mode] = await startServer('propagation.mjs', [mode]);
    for (let r = 0; r < rounds; r++) {
      for (const mode of r % 2 ? ['recipe', 'session-sync'] : ['session-sync', 'recipe']) {
        runs[mode].push(await measure(servers[mode].url, servers[mode].url, mode, writes));
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
  const summary = (list) => ({
    p50: round(median(list.map((x) => x.p50)), 3),
    p99: round(median(list.map((x) => x.p99)), 3),
  });
  const result = {
    name: 'propagation',
    writes,
    rounds,
    'session-sync': summary(runs['session-sync']),
    recipe: summary(runs.recipe),
  };
  if (redisUrl) {
    const cross = [];
    const single = [];
    const a = await startServer('propagation.mjs', ['session-sync'], { env: { REDIS_URL: redisUrl } });
    const b = await startServer('propagation.mjs', ['session-sync'], { env: { REDIS_URL: redisUrl } }).catch(
      async (err) => {
        await a.stop();
        throw err;
      },
    );
    try {
      for (let r = 0; r < rounds; r++) {
        single.push(await measure(a.url, a.url, 'session-sync', writes));
        cross.push(await measure(a.url, b.url, 'session-sync', writes));
      }
    } finally {
      await a.stop();
      await b.stop();
    }
    result.redis = { singleNode: summary(single), crossNode: summary(cross) };
  }
  return result;
}
