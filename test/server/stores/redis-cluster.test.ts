/**
 * RedisStore on a real Redis Cluster (3 primaries on loopback ports, started by the test):
 * the whole store contract, sessions spread over every primary with each session's keys on
 * one, a Cluster client of your own, parallel writers, and two app nodes with live patches.
 */
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RedisStore } from '../../../src/server/stores/redis/redis-store.js';
import type { StoreEvent } from '../../../src/server/stores/store.js';
import type { JsonValue, Op } from '../../../src/shared/index.js';
import { patches, post, record, startNodes, until } from '../../support/nodes.js';
import { startCluster, type TestCluster } from '../../support/redis-cluster.js';
import { storeContract } from './store-contract.js';

// One cluster for the file, started by the first test that needs it; the last suite stops it.
let started: Promise<TestCluster> | undefined;
const cluster = (): Promise<TestCluster> => (started ??= startCluster({ primaries: 3 }));

const LIFETIMES = { ttl: 60_000, absolute: 600_000 };
const newId = (): string => randomBytes(32).toString('base64url');
const set = (path: string[], value: JsonValue): Op => ({ op: 'set', path, value });

/** A store on the cluster whose change feed is subscribed before it is handed out. */
async function node(prefix?: string): Promise<RedisStore> {
  const store = new RedisStore(
    { cluster: (await cluster()).nodes },
    { watchInterval: 50, ...(prefix ? { prefix } : {}) },
  );
  store.subscribe(() => undefined);
  await store.ready();
  return store;
}

storeContract(
  'RedisStore on Redis Cluster',
  async () => {
    const store = await node();
    return { store, close: () => store.close() };
  },
  { history: 50 },
);

// ---

const spread = suite('on a cluster, sessions spread over every primary and each keeps its keys on one');

spread('60 sessions land on all three primaries; record, history, mutations and order share a node', async () => {
  const { primaries } = await cluster();
  const prefix = `sp${randomBytes(3).toString('hex')}:`;
  const store = await node(prefix);
  const ports = await primaries();
  const raws = ports.map((port) => new Redis({ port, host: '127.0.0.1' }));
  try {
    const ids = Array.from({ length: 60 }, newId);
    await Promise.all(ids.map((id, i) => store.apply(id, [set(['i'], i)], { ...LIFETIMES, mutation: `m${i}` })));
    const perNode = await Promise.all(raws.map((r) => r.keys(`${prefix}*`)));
    const records = perNode.map((keys) => keys.filter((k) => k.startsWith(`${prefix}s:`)).length);
    console.log(`  records per primary (ports ${ports.join(', ')}): ${records.join(', ')}`);
    assert.is(records.length, 3);
    for (const n of records) assert.ok(n > 0, `every primary holds sessions (${records.join(', ')})`);
    assert.is(
      records.reduce((a, b) => a + b, 0),
      60,
    );
    for (const id of ids) {
      const holders = perNode.map((keys) => keys.filter((k) => k.endsWith(`{${id}}`)).length);
      assert.equal(holders.filter((n) => n > 0).length, 1, 'all keys of one session on one primary');
      assert.is(Math.max(...holders), 4, 's, h, m, o of the session together');
    }
  } finally {
    for (const r of raws) r.disconnect();
    await store.close();
  }
});

spread('40 concurrent writes of one session through two stores land as versions 1..40, each heard once', async () => {
  const [a, b] = [await node(), await node()];
  const heard: StoreEvent[] = [];
  b.subscribe((e) => heard.push(e));
  try {
    const id = newId();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? b : a).apply(id, [set([`k${i}`], i)], LIFETIMES)),
    );
    assert.equal(
      results.map((r) => r.version).sort((x, y) => x - y),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const stored = await a.get(id);
    assert.is(stored?.version, 40);
    assert.equal(stored?.data, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i])));
    await until(() => heard.length >= 40, '40 changes on B');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(
      heard.map((e) => (e.type === 'change' ? e.version : -1)).sort((x, y) => x - y),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

spread('{ client: new Cluster(…) } works the same, and close() leaves your client open', async () => {
  const mine = new Cluster((await cluster()).nodes);
  const store = new RedisStore({ client: mine });
  const heard: StoreEvent[] = [];
  store.subscribe((e) => heard.push(e));
  await store.ready();
  try {
    const id = newId();
    await store.apply(id, [set(['a'], [])], LIFETIMES);
    await until(() => heard.length === 1, 'the change');
    assert.equal(heard[0], { type: 'change', id, version: 1, base: 0, ops: [set(['a'], [])] });
    assert.is(await mine.hget(`session-sync:s:{${id}}`, 'd'), '{"a":[]}');
  } finally {
    await store.close();
  }
  assert.is(mine.status, 'ready');
  assert.is(await mine.ping(), 'PONG');
  mine.disconnect();
});

spread('a target that is neither url, client nor cluster, or two of them, is a TypeError', async () => {
  const nodes = (await cluster()).nodes;
  assert.throws(() => new RedisStore({ cluster: [] }), /cluster/);
  assert.throws(() => new RedisStore({ cluster: nodes, url: 'redis://x' } as never), /not both/);
  assert.throws(() => new RedisStore({} as never), /url.*client.*cluster/);
  assert.throws(() => new RedisStore({ cluster: nodes }, { prefix: '{app}:' }), /prefix/);
});

spread.run();

// ---

const lost = suite('on a cluster, a change the feed never carried is caught up from the history, once');

lost('a version written behind the feed reaches a watching store; its late copy on the feed is dropped', async () => {
  const [a, b] = [await node(), await node()];
  const heard: StoreEvent[] = [];
  b.subscribe((e) => heard.push(e));
  const raw = new Cluster((await cluster()).nodes);
  try {
    const id = newId();
    await a.apply(id, [set(['n'], 1)], LIFETIMES);
    await until(() => heard.length === 1, 'version 1 on B');
    const release = b.watch(id, 1);
    // Version 2 stored with its history entry and no publish, as when a message is lost.
    const patch = { version: 2, base: 1, ops: [set(['n'], 2)] };
    await raw.hset(`session-sync:s:{${id}}`, 'd', JSON.stringify({ n: 2 }), 'v', '2');
    await raw.rpush(`session-sync:h:{${id}}`, JSON.stringify(patch));
    await until(() => heard.length === 2, 'version 2 caught up on B');
    assert.equal(heard[1], { type: 'change', id, ...patch });
    // The copy the feed would have carried, arriving late: not delivered again.
    await raw.publish('session-sync:events', JSON.stringify({ type: 'change', id, ...patch }));
    await a.apply(id, [set(['n'], 3)], LIFETIMES);
    await until(() => heard.length >= 3, 'version 3 on B');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(
      heard.map((e) => (e.type === 'change' ? e.version : -1)),
      [1, 2, 3],
    );
    release();
  } finally {
    raw.disconnect();
    await Promise.all([a.close(), b.close()]);
  }
});

lost.run();

// ---

const apps = suite('two app nodes on one Redis Cluster share sessions live');

apps.after(async () => {
  if (started) await (await started).stop(); // the last suite of the file
});

apps('a write on A reaches a socket on B; a write on B reaches A; a destroy on B ends the socket on A', async () => {
  const nodes = (await cluster()).nodes;
  const {
    nodes: running,
    visitor,
    connect,
    close,
  } = await startNodes({
    count: 2,
    makeStore: () => new RedisStore({ cluster: nodes }, { watchInterval: 50 }),
  });
  try {
    const [a, b] = running as [(typeof running)[0], (typeof running)[0]];
    const ann = visitor();
    await ann.fetch(`${a.url}/write`, post({ n: 1 }));
    const onA = await connect(a, ann);
    const onB = await connect(b, ann);
    const framesA = record(onA);
    const framesB = record(onB);
    assert.equal(await ann.json(`${a.url}/write`, post({ n: 2, list: [] })), { version: 2 });
    await until(() => patches(framesB).length === 1, 'the patch on B');
    assert.equal(patches(framesB)[0], {
      version: 2,
      base: 1,
      ops: [
        { op: 'set', path: ['n'], value: 2 },
        { op: 'set', path: ['list'], value: [] },
      ],
    });
    assert.equal(await ann.json(`${b.url}/write`, post({ n: 3 })), { version: 3 });
    await until(() => patches(framesA).length === 2, 'both patches on A');
    assert.equal(
      patches(framesA).map((p) => p.version),
      [2, 3],
    );
    assert.equal(await ann.json(`${b.url}/destroy`, post({})), { ok: true });
    await until(() => framesA.some((f) => f.event === 'disconnect'), 'the disconnect on A');
    assert.equal(
      framesA.filter((f) => f.event === 'session:ended').map((f) => f.payload),
      [{ reason: 'destroyed' }],
    );
    assert.equal(
      patches(framesB).map((p) => p.version),
      [2, 3],
      'each patch once',
    );
  } finally {
    await close();
  }
});

apps.run();
