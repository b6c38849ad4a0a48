// Shared pieces of the benchmarks: statistics, pinned child processes, Redis.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SECRET = 'bench-secret-bench-secret-bench-secret';

/** Whether `taskset` can pin processes (server on core 0, load on core 1). */
export const HAS_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const round = (x, digits = 2) => Number(x.toFixed(digits));
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pinned(core, command, args) {
  return HAS_TASKSET ? ['taskset', ['-c', String(core), command, ...args]] : [command, args];
}

/**
 * Starts `node <script> ...args` pinned to `core`; the child prints one JSON line
 * `{ "port": N }` when it listens. Returns { port, proc, url, stop(), output() }; output()
 * is everything the child printed, kept only with `keepOutput` (e.g. `--trace-gc` lines).
 */
export async function startServer(script, args = [], { core = 0, env = {}, nodeArgs = [], keepOutput = false } = {}) {
  const [cmd, argv] = pinned(core, process.execPath, [...nodeArgs, join(ROOT, 'bench/servers', script), ...args]);
  const proc = spawn(cmd, argv, {
    env: { ...process.env, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buffer = '';
  const port = await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      buffer += chunk;
      const line = buffer.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        proc.stdout.off('data', onData);
        resolve(JSON.parse(line).port);
      }
    };
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`${script} ${args.join(' ')} exited with ${code}`)));
  });
  if (keepOutput) proc.stdout.on('data', (chunk) => (buffer += chunk));
  else proc.stdout.resume();
  return {
    port,
    proc,
    url: `http://127.0.0.1:${port}`,
    output: () => buffer,
    async stop() {
      if (proc.exitCode !== null) return;
      const closed = once(proc, 'close'); // after 'exit', once its output is all read
      proc.kill('SIGTERM');
      await closed;
    },
  };
}

/** The first `name=value` pair of a response's Set-Cookie. */
export function cookieOf(response) {
  const header = response.headers.get('set-cookie');
  return header ? header.split(';')[0] : '';
}

async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  return port;
}

/** Starts a throw-away redis-server on loopback (no persistence). */
export async function startRedis() {
  const which = spawnSync('sh', ['-c', 'command -v redis-server']);
  if (which.status !== 0) throw new Error('redis-server is missing: apt-get install -y redis-server');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    {
      stdio: 'ignore',
    },
  );
  for (let i = 0; i < 100; i++) {
    const ok =
      spawnSync('redis-cli', ['-p', String(port), 'ping'])
        .stdout?.toString()
        .trim() === 'PONG';
    if (ok) break;
    await sleep(50);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      proc.kill('SIGTERM');
      await once(proc, 'exit');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Heap and CPU of this process, for the results file. */
export function machine() {
  return { node: process.version, platform: `${process.platform} ${process.arch}`, taskset: HAS_TASKSET };
}
