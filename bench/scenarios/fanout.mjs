// 5. Fan-out: (a) N sessions with one socket each, every session changed `rate` times a
// second: server CPU per delivered patch, session-sync vs a raw io.to(room).emit of the
// same payload; (b) one change to a session with 100 sockets: time until all received.
import { io as connect } from 'socket.io-client';
import { cookieOf, median, round, sleep, startServer } from '../lib/util.mjs';

async function sockets(url, cookies) {
  const list = cookies.map((cookie) =>
    connect(url, { transports: ['websocket'], extraHeaders: { cookie }, forceNew: true }),
  );
  await Promise.all(
    list.map((s) => new Promise((resolve, reject) => (s.once('connect', resolve), s.once('connect_error', reject)))),
  );
  return list;
}

async function perPatch(mode, sessions, rate, ms) {
  const server = await startServer('fanout.mjs', [mode]);
  try {
    const cookies = [];
    for (let i = 0; i < sessions; i++) cookies.push(cookieOf(await fetch(server.url + '/init')));
    const list = await sockets(server.url, cookies);
    let delivered = 0;
    for (const s of list) s.on('session:patch', () => delivered++);
    await sleep(200);
    const { cpuMicros, changes } = await (
      await fetch(`${server.url}/run?rate=${rate}&ms=${ms}`, { method: 'POST' })
    ).json();
    await sleep(300);
    list.forEach((s) => s.close());
    return { cpuMicrosPerPatch: cpuMicros / delivered, delivered, changes };
  } finally {
    await server.stop();
  }
}

async function hundred(server, trials) {
  const cookie = cookieOf(await fetch(server.url + '/init'));
  const list = await sockets(server.url, Array(100).fill(cookie));
  const times = [];
  for (let t = 0; t < trials; t++) {
    let left = list.length;
    const start = process.hrtime.bigint();
    const all = new Promise((resolve) => {
      for (const s of list) s.once('session:patch', () => --left === 0 && resolve());
    });
    await Promise.all([all, fetch(server.url + '/bump', { method: 'POST' }).then((r) => r.text())]);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  list.forEach((s) => s.close());
  return median(times.slice(5));
}

export async function fanoutBench({ quick }) {
  const sessions = quick ? 100 : 1000;
  const ms = quick ? 1000 : 10_000;
  const rate = 10;
  const rounds = 3;
  const runs = { 'session-sync': [], raw: [] };
  const deliveries = { 'session-sync': [], raw: [] };
  // (b) reuses one server per mode across rounds (each round a new visitor whose 100 sockets
  // /bump reaches); (a) needs a fresh one each time, as it changes every session it has.
  const servers = {};
  try {
    for (const mode of ['session-sync', 'raw']) servers[mode] = await startServer('fanout.mjs', [mode]);
    for (let r = 0; r < rounds; r++) {
      for (const mode of r % 2 ? ['raw', 'session-sync'] : ['session-sync', 'raw']) {
        runs[mode].push(await perPatch(mode, sessions, rate, ms));
        deliveries[mode].push(await hundred(servers[mode], quick ? 15 : 60));
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
  const cpu = (m) => median(runs[m].map((x) => x.cpuMicrosPerPatch));
  const hundredMs = (m) => median(deliveries[m]);
  return {
    name: 'fanout',
    sessions,
    rate,
    seconds: ms / 1000,
    cpuMicrosPerPatch: { 'session-sync': round(cpu('session-sync'), 2), raw: round(cpu('raw'), 2) },
    cpuRatio: round(median(runs['session-sync'].map((x, i) => x.cpuMicrosPerPatch / runs.raw[i].cpuMicrosPerPatch)), 3),
    delivered: { 'session-sync': runs['session-sync'].map((x) => x.delivered), raw: runs.raw.map((x) => x.delivered) },
    hundredSocketsMs: { 'session-sync': round(hundredMs('session-sync'), 3), raw: round(hundredMs('raw'), 3) },
    hundredRatio: round(median(deliveries['session-sync'].map((x, i) => x / deliveries.raw[i])), 3),
  };
}
