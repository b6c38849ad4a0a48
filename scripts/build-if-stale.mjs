#!/usr/bin/env node
// Builds dist/ when it is missing or older than what it is built from, so `npm test` and
// `npm start` work on a fresh clone after `npm install` without a separate `npm run build`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const inputs = ['src', 'rollup.config.mjs', 'package.json', 'tsconfig.json'];
const outputs = [
  'index.cjs',
  'server.js',
  'server.cjs',
  'shared.js',
  'browser.js',
  'browser.cjs',
  'session-sync.iife.min.js',
];
if (existsSync(join(root, 'src', 'react', 'index.ts'))) outputs.push('react.js', 'react.cjs');

/** Newest modification time of a file or of anything under a folder. */
function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let t = 0;
  for (const e of readdirSync(path, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs);
  }
  return t;
}

const built = outputs.map((f) => join(root, 'dist', f));
const stale =
  !built.every(existsSync) ||
  Math.max(
    ...inputs
      .map((p) => join(root, p))
      .filter(existsSync)
      .map(newest),
  ) > Math.min(...built.map((f) => statSync(f).mtimeMs));

if (stale || process.argv.includes('--force')) {
  console.log('session-sync: building dist/ (npm run build)');
  const r = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
