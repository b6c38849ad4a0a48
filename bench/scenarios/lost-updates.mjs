// 3. Lost updates: 50 concurrent connections of ONE visitor, each request reads the session,
// awaits (0–5 ms, as a handler awaiting a database would), then writes. (a) every write sets
// a distinct key: lost = keys missing at the end; (b) every write increments one counter:
// lost = acknowledged increments minus the final count. express-session saves the whole
// object, so concurrent requests overwrite each other; session-sync commits ops.
import { Agent, get } from 'node:http';
import { cookieOf, startServer } from '../lib/util.mjs';

function request(url, cookie, agent) {
  return new Promise((resolve, reject) => {
    get(url, { agent, headers: { cookie } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject);
  });
}

async function hammer(url, cookie, paths, connections) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  let next = 0;
  let acked = 0;
  const worker = async () => {
    while (next < paths.length) {
      const status = await request(url + paths[next++], cookie, agent);
      if (status === 200) acked++;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  agent.destroy();
  return acked;
}

export async function lostUpdatesBench({ quick }) {
  const writes = quick ? 1000 : 3000; // bounded: distinct keys must fit one session
  const rows = [];
  for (const contender of ['express-session', 'session-sync']) {
    const server = await startServer('http.mjs', [contender]);
    try {
      const cookie = cookieOf(await fetch(server.url + '/init'));
      const keys = Array.from({ length: writes }, (_, i) => `/write-key?k=k${i}`);
      const ackedKeys = await hammer(server.url, cookie, keys, 50);
      const dump = await (await fetch(server.url + '/dump', { headers: { cookie } })).json();
      const present = Object.keys(dump).filter((k) => /^k\d+$/.test(k)).length;
      const increments = Array.from({ length: writes }, () => '/incr');
      const ackedIncrements = await hammer(server.url, cookie, increments, 50);
      const counter = (await (await fetch(server.url + '/dump', { headers: { cookie } })).json()).counter ?? 0;
      rows.push({
        contender,
        distinctKeys: { acknowledged: ackedKeys, lost: ackedKeys - present },
        counter: { acknowledged: ackedIncrements, final: counter, lost: ackedIncrements - counter },
      });
    } finally {
      await server.stop();
    }
  }
  return { name: 'lost-updates', writes, connections: 50, rows };
}
