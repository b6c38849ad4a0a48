/**
 * App nodes in child processes (./app-node.ts, started with `node --expose-gc --import tsx`), so
 * a test can SIGKILL one, read its heap after a real GC, and keep the load's clients on another
 * core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { JsonObject } from '../../src/shared/index.js';
import type { NodeConfig } from './app-node.js';

/** Where a load goes: a base URL, and a way to read the store's record of a session. */
export interface Target {
  url: string;
  record(id: string): Promise<{ version: number; data: JsonObject } | null>;
}

/** A running app node (child process). */
export interface AppNode {
  url: string;
  port: number;
  child: ChildProcess;
  /** GET/POST to the node's `/_admin/*` routes (never captured). */
  admin<T = any>(path: string, method?: 'GET' | 'POST'): Promise<T>;
  /** heapUsed after repeated GC, in bytes. */
  heap(): Promise<number>;
  /** Problems the node recorded (unhandled rejections, uncaught exceptions, sync errors) and its socket count. */
  stats(): Promise<{ problems: string[]; sockets: number; protoClean: boolean }>;
  /** The store's record of a session (server-only data included), or null. */
  record(id: string): Promise<{ version: number; data: JsonObject } | null>;
  /** SIGKILLs the node and waits for its exit. */
  kill(): Promise<void>;
  /** Stops the node gracefully (SIGTERM, then SIGKILL after 5 s). */
  close(): Promise<void>;
}

const NODE_SCRIPT = fileURLToPath(new URL('./app-node.ts', import.meta.url));
const nodes = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of nodes) child.kill('SIGKILL');
});

/**
 * Starts an app node in a child process (`node --expose-gc --import tsx`).
 *
 * @param config - secret, store, canary, limits
 * @returns the node once it listens
 * @example
 * const node = await startNode({ secret, canary: randomText() })
 */
export async function startNode(config: NodeConfig): Promise<AppNode> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', NODE_SCRIPT], {
    env: { ...process.env, SESSION_SYNC_NODE: JSON.stringify(config), NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  nodes.add(child);
  let output = '';
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      nodes.delete(child);
      resolve();
    }),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the app node did not start within 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-8000);
      const match = /READY (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', onData);
    // The node's warnings (an unset secret, debug output) are kept for a failure message only.
    child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000)));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the app node exited at start (${code ?? signal}):\n${output}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const admin = async <T>(path: string, method: 'GET' | 'POST' = 'GET'): Promise<T> => {
    const res = await fetch(url + '/_admin/' + path, { method });
    if (!res.ok) throw new Error(`admin ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  return {
    url,
    port,
    child,
    admin,
    heap: async () => (await admin<{ heapUsed: number }>('heap')).heapUsed,
    stats: () => admin('stats'),
    record: (id) => admin(`session/${id}`),
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
