#!/usr/bin/env node
// `npm start`: builds dist/ when it is missing, then serves the demo on PORT (default 3000).
// Sessions live in memory; with REDIS_URL set they live in Redis, so several demo processes
// (PORT=3000 and PORT=3001 on one redis-server) behave as one app.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const needed = ['dist/server.js', 'dist/session-sync.iife.min.js'];
if (!needed.every((file) => existsSync(new URL(`../${file}`, import.meta.url)))) {
  console.log('session-sync: building dist/ (npm run build)');
  const built = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}

// Imported after the build: both modules load dist/server.js.
const { RedisStore } = await import('../dist/server.js');
const { startDemo } = await import('./server.js');

const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`session-sync demo: PORT must be a port number, not ${JSON.stringify(process.env.PORT)}`);
  process.exit(1);
}

const store = process.env.REDIS_URL ? new RedisStore({ url: process.env.REDIS_URL }) : undefined;
let demo;
try {
  demo = await startDemo({ port, host: process.env.HOST, store });
} catch (err) {
  console.error(
    err.code === 'EADDRINUSE' ? `session-sync demo: port ${port} is in use; try PORT=${port + 1} npm start` : err,
  );
  await store?.close();
  process.exit(1);
}

// One write, so whoever reads the output (a person, or a test waiting for the URL) sees the
// banner whole.
console.log(
  [
    `session-sync demo: ${demo.url}`,
    `  sessions in ${store ? `Redis (${redactUrl(process.env.REDIS_URL)})` : 'memory (set REDIS_URL to use Redis)'}`,
    '  open it in two tabs; Ctrl+C stops',
  ].join('\n'),
);

let stopping = false;
async function stop() {
  if (stopping) process.exit(1); // a second Ctrl+C
  stopping = true;
  await demo.close();
  await store?.close();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

/** The Redis URL without its password, for the console. */
function redactUrl(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return 'REDIS_URL';
  }
}
