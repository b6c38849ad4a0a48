#!/usr/bin/env node
// Where the fan-out's CPU goes: the fan-out server (bench/servers/fanout.mjs) under
// --cpu-prof, 1000 sessions with one socket each, every session changed 10 times a second
// for 5 s; for session-sync and for the raw `io.to(room).emit`. Prints CPU µs per delivered
// patch, the non-idle profile ticks of each, session-sync's own share and its top functions.
//   node bench/profile-fanout.mjs [--out=DIR]
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as connect } from 'socket.io-client';
import { cookieOf, sleep, startServer } from './lib/util.mjs';

const out = process.argv.find((a) => a.startsWith('--out='))?.slice(6) ?? mkdtempSync(join(tmpdir(), 'fanout-prof-'));

async function run(mode) {
  const server = await startServer('fanout.mjs', [mode], {
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${out}`, `--cpu-prof-name=${mode}.cpuprofile`],
  });
  const cookies = [];
  for (let i = 0; i < 1000; i++) cookies.push(cookieOf(await fetch(server.url + '/init')));
  const sockets = cookies.map((cookie) =>
    connect(server.url, { transports: ['websocket'], extraHeaders: { cookie }, forceNew: true }),
  );
  await Promise.all(sockets.map((s) => new Promise((resolve) => s.once('connect', resolve))));
  let delivered = 0;
  for (const s of sockets) s.on('session:patch', () => delivered++);
  await sleep(300);
  const { cpuMicros } = await (await fetch(`${server.url}/run?rate=10&ms=5000`, { method: 'POST' })).json();
  await sleep(300);
  sockets.forEach((s) => s.close());
  await server.stop(); // the profile is written as the process exits
  return { perPatch: cpuMicros / delivered, delivered };
}

function analyse(mode) {
  const profile = JSON.parse(readFileSync(join(out, `${mode}.cpuprofile`), 'utf8'));
  const self = new Map();
  let busy = 0;
  let own = 0;
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    busy += node.hitCount;
    if (!url.includes('/dist/') || url.includes('node_modules')) continue; // session-sync's build only
    own += node.hitCount;
    const key = `${functionName || '(anonymous)'} ${url.replace(/.*\/dist\//, 'dist/')}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + node.hitCount);
  }
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 15);
  return { busy, own, top };
}

const figures = {};
for (const mode of ['session-sync', 'raw']) figures[mode] = { ...(await run(mode)), ...analyse(mode) };
for (const [mode, f] of Object.entries(figures)) {
  console.log(
    `${mode}: ${f.perPatch.toFixed(2)} µs CPU per delivered patch (${f.delivered} delivered); ${f.busy} non-idle ticks` +
      (f.own ? `, session-sync's own code ${((100 * f.own) / f.busy).toFixed(1)}% of them` : ''),
  );
}
console.log(`\nsession-sync's own functions (self time, share of the non-idle profile):`);
for (const [name, ticks] of figures['session-sync'].top)
  console.log(`  ${((100 * ticks) / figures['session-sync'].busy).toFixed(1).padStart(5)}%  ${name}`);
console.log(`\nraw profiles: ${out}`);
process.exit(0);
