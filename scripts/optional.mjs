#!/usr/bin/env node
// Runs a script that a later issue adds, or says so: `node scripts/optional.mjs FILE NOTE [args]`.
// Used by `npm start` (demo/start.js) and `npm run bench` (bench/run.mjs) until those exist.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const [file, note, ...args] = process.argv.slice(2);
if (!existsSync(file)) {
  console.log(`session-sync: ${file} does not exist yet: ${note}`);
  process.exit(0);
}
const r = spawnSync(process.execPath, [file, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
