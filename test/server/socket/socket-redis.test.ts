import { randomBytes } from 'node:crypto';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RedisStore } from '../../../src/server/stores/redis/redis-store.js';
import type { SessionSyncOptions } from '../../../src/server/options.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import {
  post,
  record,
  request,
  sleep,
  startSocketServer,
  until,
  type SocketTestServer,
} from '../../support/socket-server.js';

/** Two "nodes": each its own RedisStore and Socket.IO server with the Redis adapter, one Redis. */
async function cluster(
  redis: TestRedis,
  options: SessionSyncOptions = {},
): Promise<{ a: SocketTestServer; b: SocketTestServer; close(): Promise<void> }> {
  const prefix = `socket-test-${randomBytes(4).toString('hex')}:`;
  const closers: (() => Promise<unknown>)[] = [];
  const node = async (): Promise<SocketTestServer> => {
    const store = new RedisStore({ url: redis.url }, { prefix, watchInterval: 50 });
    await store.ready();
    const pub = new Redis(redis.url);
    const sub = pub.duplicate();
    const t = await startSocketServer(
      { store, ...options },
      { io: { adapter: createAdapter(pub, sub, { key: `${prefix}io` }) } },
    );
    closers.push(
      () => t.close(),
      () => store.close(),
      () => pub.quit(),
      () => sub.quit(),
    );
    return t;
  };
  const a = await node();
  const b = await node();
  return {
    a,
    b,
    close: async () => {
      for (const close of closers) await close().catch(() => {});
    },
  };
}

let started: Promise<TestRedis> | undefined;
const shared = (): Promise<TestRedis> => (started ??= startRedis());

const patches = (frames: { event: string; args: unknown[] }[]): any[] =>
  frames.filter((f) => f.event === 'session:patch').map((f) => f.args[0]);

// ---

const nodes = suite('beside @socket.io/redis-adapter, every socket gets each change exactly once');

nodes('a write on node B reaches the sockets on A and B once each, and handlers on A see it', async () => {
  const c = await cluster(await shared());
  try {
    const ann = c.a.visitor();
    await ann.fetch('/write', post({ n: 1 }));
    const onA = await c.a.connect(ann);
    const onB = await c.b.connect(ann);
    const other = await c.b.connect(c.b.visitor());
    const fa = record(onA);
    const fb = record(onB);
    const fo = record(other);
    const annOnB = c.b.visitor();
    annOnB.cookies.set('sid', ann.cookies.get('sid')!); // the same browser, routed to node B
    await annOnB.fetch('/write', post({ n: 2 }));
    await until(() => patches(fa).length === 1 && patches(fb).length === 1, 3000, 'both nodes');
    await sleep(150); // a second delivery through the adapter would have arrived by now
    assert.equal(patches(fa), [{ version: 2, base: 1, ops: [{ op: 'set', path: ['n'], value: 2 }] }]);
    assert.equal(patches(fb), patches(fa));
    assert.equal(fo, [], 'another visitor on node B gets nothing');
    assert.equal(await request(onA, 'test:read'), { n: 2 }, 'live on node A without reload');
  } finally {
    await c.close();
  }
});

nodes(
  'a destroy on node A ends the socket on node B once; an idle session expires on the node that watches it',
  async () => {
    const c = await cluster(await shared(), { ttl: 400 });
    try {
      const ann = c.a.visitor();
      await ann.fetch('/write', post({ n: 1 }));
      const onB = await c.b.connect(ann);
      const ends: unknown[] = [];
      onB.on('session:ended', (m) => ends.push(m));
      await c.a.sync.destroy(ann.id()!);
      await until(() => !onB.connected, 3000, 'the disconnect');
      await sleep(100);
      assert.equal(ends, [{ reason: 'destroyed' }]);

      const bob = c.a.visitor();
      await bob.fetch('/write', post({ n: 1 }));
      const bobOnB = await c.b.connect(bob);
      const ended = new Promise((r) => bobOnB.once('session:ended', r));
      assert.equal(await ended, { reason: 'expired' }, 'RedisStore noticed the expiry of a session node B holds');
    } finally {
      await c.close();
    }
  },
);

nodes.run();

// ---

const stop = suite('the Redis test server stops');

stop('stop', async () => {
  if (started) await (await started).stop();
});

stop.run();
