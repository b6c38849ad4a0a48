// 8. The cost of `req.session.devices()` for a user with 100 sessions (issue 16), on both
// stores: 100 devices sign in over HTTP (each with its own User-Agent, so each record holds a
// device note), then one of them lists its devices again and again. Timed inside the handler,
// so the figure is the listing itself (store read, tags, summaries), not HTTP.
import { createServer } from 'node:http';
import express from 'express';
import { createSessionSync, MemoryStore, RedisStore } from '../../dist/server.js';
import { cookieOf, median, percentile, round, SECRET } from '../lib/util.mjs';

const SESSIONS = 100;
const AGENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68',
];

async function devicesCost(store, calls) {
  const sync = createSessionSync({ secret: SECRET, store, user: 'user.id' });
  const app = express();
  app.use(sync.express());
  app.post('/sign-in', async (req, res) => {
    req.session.val.user = { id: 'u1' };
    await req.session.synchronize();
    res.end();
  });
  const micros = [];
  app.get('/devices', async (req, res) => {
    const start = process.hrtime.bigint();
    const list = await req.session.devices();
    micros.push(Number(process.hrtime.bigint() - start) / 1000);
    res.json({ count: list.length });
  });
  const server = createServer(app);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  try {
    let cookie = '';
    for (let i = 0; i < SESSIONS; i++) {
      const res = await fetch(`${url}/sign-in`, {
        method: 'POST',
        headers: { 'user-agent': AGENTS[i % AGENTS.length] },
      });
      cookie = cookieOf(res);
    }
    const list = async () => {
      const res = await fetch(`${url}/devices`, { headers: { cookie } });
      const { count } = await res.json();
      if (count !== SESSIONS) throw new Error(`devices() listed ${count} sessions, expected ${SESSIONS}`);
    };
    for (let i = 0; i < 20; i++) await list(); // warm-up, discarded
    micros.length = 0;
    for (let i = 0; i < calls; i++) await list();
    return { medianMs: round(median(micros) / 1000, 3), p99Ms: round(percentile(micros, 99) / 1000, 3) };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await sync.close();
  }
}

export async function devicesBench({ quick, redisUrl }) {
  const calls = quick ? 100 : 500;
  const result = { name: 'devices', sessions: SESSIONS, calls };
  const memory = new MemoryStore();
  result.memory = await devicesCost(memory, calls);
  await memory.close();
  if (redisUrl) {
    const redis = new RedisStore({ url: redisUrl, prefix: `bench:devices:${Date.now()}:` });
    result.redis = await devicesCost(redis, calls);
    await redis.close();
  }
  return result;
}
