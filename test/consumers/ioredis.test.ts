// ioredis is an optional peer: the package loads it only when a RedisStore is constructed, so
// MemoryStore users need not install it, and those who forget it get the command to run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runIn, workspace, writeApp } from '../support/consumers.js';

/** Prints whether ioredis is in the module cache, by which the CJS and ESM loaders both go. */
const LOADED = `Object.keys(require.cache).some((file) => /[\\\\/]node_modules[\\\\/]ioredis[\\\\/]/.test(file))`;

const STORE = `new RedisStore({ url: 'redis://127.0.0.1:1' }, { timeout: 100, clientOptions: { lazyConnect: true } })`;

const CJS = `'use strict';
const sessionSync = require('session-sync');
require('session-sync/server');
require('session-sync/shared');
const report = { afterRequire: ${LOADED} };
const { RedisStore, MemoryStore } = sessionSync;
sessionSync({ store: new MemoryStore(), secret: 'a secret long enough for this test run' });
report.afterMemoryStore = ${LOADED};
try {
  const store = ${STORE};
  report.afterRedisStore = ${LOADED};
  store.close().then(() => { console.log(JSON.stringify(report)); process.exit(0); });
} catch (err) {
  report.error = err.message;
  console.log(JSON.stringify(report));
}
`;

const ESM = `import { createRequire } from 'node:module';
import { createSessionSync, MemoryStore, RedisStore } from 'session-sync';
import 'session-sync/server';
import 'session-sync/shared';
const require = createRequire(import.meta.url);
const report = { afterRequire: ${LOADED} };
createSessionSync({ store: new MemoryStore(), secret: 'a secret long enough for this test run' });
report.afterMemoryStore = ${LOADED};
try {
  const store = ${STORE};
  report.afterRedisStore = ${LOADED};
  await store.close();
} catch (err) {
  report.error = err.message;
}
console.log(JSON.stringify(report));
process.exit(0);
`;

async function report(root: string, name: string, file: string, source: string): Promise<Record<string, unknown>> {
  const dir = writeApp(root, name, { 'package.json': '{}', [file]: source });
  const r = await runIn(dir, process.execPath, [file], 20_000);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

// ---

const installed = suite('with ioredis installed, only a RedisStore loads it');

installed("require('session-sync') does not load ioredis; new RedisStore() does", async () => {
  const r = await report(workspace().redis, 'ioredis-cjs', 'check.cjs', CJS);
  assert.equal(r, { afterRequire: false, afterMemoryStore: false, afterRedisStore: true });
});

installed("import 'session-sync' does not load ioredis; new RedisStore() does", async () => {
  const r = await report(workspace().redis, 'ioredis-esm', 'check.mjs', ESM);
  assert.equal(r, { afterRequire: false, afterMemoryStore: false, afterRedisStore: true });
});

installed.run();

// ---

const absent = suite('without ioredis, everything but RedisStore works and RedisStore says what to install');

for (const [file, source] of [
  ['check.cjs', CJS],
  ['check.mjs', ESM],
] as const) {
  absent(`${file}: MemoryStore works; new RedisStore() throws naming npm i ioredis`, async () => {
    const r = await report(workspace().plain, `no-ioredis-${file.replace('.', '-')}`, file, source);
    assert.is(r.afterRequire, false);
    assert.is(r.afterMemoryStore, false);
    assert.match(String(r.error), /npm i ioredis/);
    assert.match(String(r.error), /^session-sync: RedisStore needs the ioredis package/);
  });
}

absent.run();
