/**
 * Starts a throwaway `redis-server` for tests: a free loopback port, no persistence (or AOF
 * in a temp dir when asked), killed on `stop()` and when the process exits.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running test Redis. */
export interface TestRedis {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Kills the server (the port and the AOF dir are kept so `restart()` can use them). */
  stop(): Promise<void>;
  /** Starts the server again on the same port (stops it first when it runs). */
  restart(): Promise<void>;
}

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** Persist with an append-only file (fsync always) in a temp dir, so a restart keeps data. */
  appendonly?: boolean;
  /** A command the server runs under, e.g. `['taskset', '-c', '0']` (the benchmarks pin servers). */
  wrap?: string[];
}

const INSTALL = 'sudo apt-get install -y redis-server';
const children = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL and rmSync are.
  process.on('exit', () => {
    for (const child of children) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * A fresh directory for redis-server's files, removed when the test process exits.
 *
 * @param prefix - the start of its name under the system's temporary directory
 * @returns its path
 */
export function scratchDir(prefix: string): string {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

/**
 * Removes a {@link scratchDir} now.
 *
 * @param dir - its path
 */
export function dropScratchDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/**
 * Spawns redis-server with `args`, under `wrap` (e.g. `['taskset', '-c', '0']`), unref'd (a
 * forgotten stop must not keep the test process alive) and SIGKILLed when the test process
 * exits; its last 4000 characters of output are kept for error messages.
 *
 * @param args - redis-server's arguments
 * @param wrap - a command to run it under, or none
 * @returns the process and its output so far
 */
export function spawnRedisServer(args: string[], wrap: string[] = []): { proc: ChildProcess; output: () => string } {
  installExitHook();
  const proc = spawn(wrap[0] ?? 'redis-server', [...(wrap.length ? [...wrap.slice(1), 'redis-server'] : []), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer): void => void (output = (output + chunk.toString()).slice(-4000));
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  proc.unref();
  (proc.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (proc.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return { proc, output: () => output };
}

/**
 * A free TCP port on 127.0.0.1 (closed again before it is returned).
 *
 * @returns the port
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Whether a Redis answers PING on a loopback port.
 *
 * @param port - the port
 * @returns true on +PONG
 */
export function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

/** Throws with the install command when redis-server is missing. */
export function assertInstalled(): void {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    throw new Error(`redis-server is not installed (the Redis tests need a real one); install it with: ${INSTALL}`);
  }
}

/**
 * Spawns `redis-server` on a free 127.0.0.1 port and resolves once it answers PING.
 *
 * @param options - `appendonly: true` for AOF persistence (fsync always) in a temp dir
 * @returns the url, port, `stop()` and `restart()`
 * @throws Error with the install command when `redis-server` is missing
 * @example
 * const redis = await startRedis()
 * const store = new RedisStore({ url: redis.url })
 * // ...
 * await store.close(); await redis.stop()
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<TestRedis> {
  assertInstalled();
  const port = await freePort();
  const dir = scratchDir('session-sync-redis-');
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    options.appendonly ? 'yes' : 'no',
    ...(options.appendonly ? ['--appendfsync', 'always'] : []),
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
  ];
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    const { proc, output } = spawnRedisServer(args, options.wrap);
    child = proc;
    let exited = false;
    proc.once('exit', () => void (exited = true));
    const deadline = Date.now() + 10_000;
    while (!(await ping(port))) {
      if (exited) throw new Error(`redis-server exited at start on port ${port}:\n${output()}`);
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`redis-server did not answer PING on port ${port} within 10 s:\n${output()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function stop(): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.ref(); // keep the loop alive until the exit is seen
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    // SIGKILL, not SIGTERM: an outage is abrupt, and with AOF fsync always nothing acknowledged is lost.
    proc.kill('SIGKILL');
    await exited;
  }

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    async restart() {
      await stop();
      await start();
    },
  };
}
