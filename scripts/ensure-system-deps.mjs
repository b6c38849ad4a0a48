#!/usr/bin/env node
// The system programs the test suite needs: redis-server and redis-cli (RedisStore tests start
// their own servers and clusters on free loopback ports) and Debian's Chromium at
// /usr/bin/chromium (e2e tests drive it with playwright-core; no downloaded browsers). Tests that need them never skip silently, so a
// missing one is installed here (as root) or named with the exact command (otherwise).
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** @param {string} name @returns {boolean} whether an executable of that name is on PATH */
function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

function executable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const missing = [];
if (!onPath('redis-server')) missing.push('redis-server');
// redis-cli joins the test clusters (`redis-cli --cluster create`); Debian ships it in redis-tools.
if (!onPath('redis-cli')) missing.push('redis-tools');
if (!executable('/usr/bin/chromium')) missing.push('chromium');
if (missing.length === 0) process.exit(0);

const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
if (process.getuid?.() !== 0) {
  console.error(`session-sync tests need ${missing.join(' and ')}. Install with:\n\n  sudo sh -c '${command}'\n`);
  process.exit(1);
}

console.log(`session-sync tests need ${missing.join(' and ')}: installing with apt-get`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const argv of [
  ['apt-get', 'update'],
  ['apt-get', 'install', '-y', '--no-install-recommends', ...missing],
]) {
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env });
  if (r.status !== 0) {
    console.error(`session-sync: \`${argv.join(' ')}\` failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}
