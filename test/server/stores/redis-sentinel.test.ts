/**
 * RedisStore behind Redis Sentinel: ioredis asks the sentinels for the primary of a named
 * group, so `new RedisStore({ client: new Redis({ sentinels, name }) })` needs nothing of
 * its own. One primary and one sentinel (`redis-server --sentinel` with a config file in a
 * temp dir), started by the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RedisStore } from '../../../src/server/stores/redis/redis-store.js';
import type { StoreEvent } from '../../../src/server/stores/store.js';
import { freePort, ping, startRedis } from '../../support/redis.js';
import { until } from '../../support/nodes.js';

const sentinel = suite('behind Redis Sentinel, { client: new Redis({ sentinels, name }) } is a working store');

sentinel('apply, get, the change feed and destroy go to the primary the sentinel names', async () => {
  const primary = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), 'session-sync-sentinel-'));
  const port = await freePort();
  const config = join(dir, 'sentinel.conf');
  writeFileSync(
    config,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor main 127.0.0.1 ${primary.port} 1`,
      'sentinel down-after-milliseconds main 1000',
      '',
    ].join('\n'),
  );
  const proc: ChildProcess = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' });
  proc.unref();
  const client = new Redis({ sentinels: [{ host: '127.0.0.1', port }], name: 'main' });
  client.on('error', () => undefined);
  try {
    const deadline = Date.now() + 10_000;
    while (!(await ping(port))) {
      if (Date.now() > deadline) throw new Error('the sentinel did not start');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const prefix = `st${randomBytes(3).toString('hex')}:`;
    const store = new RedisStore({ client }, { prefix });
    const heard: StoreEvent[] = [];
    store.subscribe((e) => heard.push(e));
    await store.ready();
    const id = randomBytes(32).toString('base64url');
    const answer = await store.apply(id, [{ op: 'set', path: ['n'], value: [1] }], { ttl: 60_000, absolute: 600_000 });
    assert.equal(answer, { version: 1, ops: [{ op: 'set', path: ['n'], value: [1] }], changed: true });
    assert.equal(await store.get(id), { data: { n: [1] }, version: 1 });
    await until(() => heard.length === 1, 'the change on the feed');
    assert.is(heard[0]?.id, id);
    // The sentinel named the primary we started: the record is there.
    const direct = new Redis(primary.url);
    assert.is(await direct.exists(`${prefix}s:{${id}}`), 1);
    direct.disconnect();
    assert.is(await store.destroy(id, 'destroyed'), true);
    await until(() => heard.length === 2, 'the end on the feed');
    assert.equal(heard[1], { type: 'end', id, reason: 'destroyed' });
    await store.close();
    assert.is(client.status, 'ready', 'close() leaves your client open');
  } finally {
    client.disconnect();
    proc.kill('SIGKILL');
    await primary.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

sentinel.run();
