// 4. Memory per idle session (bench/memory-store.ts) and 6. the browser SDK's size
// (scripts/size.mjs), each run as its own process and read from its output.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, round } from '../lib/util.mjs';

function run(args, { failing = false } = {}) {
  const out = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  if (out.status !== 0 && !failing) throw new Error(`${args.join(' ')} failed:\n${out.stdout}\n${out.stderr}`);
  return out.stdout;
}

export function memoryBench({ quick }) {
  const sessions = quick ? 20_000 : 100_000;
  const text = run(['--expose-gc', '--import', 'tsx', join(ROOT, 'bench/memory-store.ts'), String(sessions), '3']);
  const ours = Number(/session-sync MemoryStore:\s+([\d.]+)/.exec(text)?.[1]);
  const theirs = Number(/express-session MemoryStore:\s+([\d.]+)/.exec(text)?.[1]);
  return {
    name: 'memory',
    sessions,
    bytesPerSession: { 'session-sync': ours, 'express-session': theirs },
    ratio: round(ours / theirs, 3),
  };
}

export function sizeBench() {
  // scripts/size.mjs exits 1 when the SDK is over its CI ceiling; the figures still belong in
  // the table (where the target column shows the miss), so only missing figures are an error.
  const text = run([join(ROOT, 'scripts/size.mjs')], { failing: true });
  const sdk = Number(/browser SDK[^:]*:\s+(\d+) B min\+gzip/.exec(text)?.[1]);
  const io = Number(/socket\.io-client alone[^:]*:\s+(\d+) B min\+gzip/.exec(text)?.[1]);
  if (!sdk || !io) throw new Error(`scripts/size.mjs printed no sizes:\n${text}`);
  return { name: 'size', sdkBytesMinGzip: sdk, socketIoClientBytesMinGzip: io, budget: 4096 };
}
