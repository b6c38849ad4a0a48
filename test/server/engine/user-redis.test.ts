/**
 * Every session of one user across two nodes (option `user`, issue 10): two
 * `createSessionSync` instances, each with its own RedisStore on one real redis-server and
 * its own HTTP + Socket.IO server. Devices sign in on either node and keep sockets open on
 * either; the user API called on one node reaches the sockets of the other.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import type { Socket as ClientSocket } from 'socket.io-client';
import { RedisStore } from '../../../src/server/stores/redis/redis-store.js';
import { Jar } from '../../support/http.js';
import { post, record, request, sleep, until, type SocketTestServer } from '../../support/socket-server.js';
import { endOf, ids, patches, signIn, startAccounts } from '../../support/accounts.js';
import { startRedis, type TestRedis } from '../../support/redis.js';

let redis: TestRedis | undefined;

interface Cluster {
  a: SocketTestServer;
  b: SocketTestServer;
  close(): Promise<void>;
}

/** Two nodes on one Redis: same secret, same prefix, nothing else shared. */
async function twoNodes(): Promise<Cluster> {
  redis ??= await startRedis();
  const prefix = `un${randomBytes(3).toString('hex')}:`;
  const stores = [0, 1].map(() => new RedisStore({ url: redis!.url }, { prefix, watchInterval: 50 }));
  const [a, b] = await Promise.all(stores.map((store) => startAccounts({ store })));
  await Promise.all([a!.sync.ready(), b!.sync.ready()]);
  return {
    a: a!,
    b: b!,
    async close() {
      await Promise.all([a!.close(), b!.close()]);
      await Promise.all(stores.map((s) => s.close()));
    },
  };
}

/** The same browser talking to another node (cookies are per host, not per port). */
function via(jar: Jar, node: SocketTestServer): Jar {
  const copy = new Jar(node.url);
  for (const [k, v] of jar.cookies) copy.cookies.set(k, v);
  return copy;
}

interface Scene {
  c: Cluster;
  d1: Jar;
  d2: Jar;
  d3: Jar;
  other: Jar;
  id1: string;
  id2: string;
  id3: string;
  otherId: string;
  /** d1 on node B, d2 on node A, d3 on node B, the other user on node A. */
  sockets: [ClientSocket, ClientSocket, ClientSocket, ClientSocket];
}

/** Three devices of u1 (two signed in on A, one on B), one of u2 (on B), sockets crossed over. */
async function scene(): Promise<Scene> {
  const c = await twoNodes();
  const [d1, d2] = [c.a.visitor(), c.a.visitor()];
  const [d3, other] = [c.b.visitor(), c.b.visitor()];
  const id1 = await signIn(d1, 'u1');
  const id2 = await signIn(d2, 'u1');
  const id3 = await signIn(d3, 'u1');
  const otherId = await signIn(other, 'u2');
  const sockets = (await Promise.all([
    c.b.connect(d1),
    c.a.connect(d2),
    c.b.connect(d3),
    c.a.connect(other),
  ])) as Scene['sockets'];
  return { c, d1, d2, d3, other, id1, id2, id3, otherId, sockets };
}

// ---

const nodes = suite('two nodes on Redis: the user API on one node reaches the sockets on the other');

nodes('both nodes list the same three sessions; updateUser on B patches every mirror', async () => {
  const s = await scene();
  try {
    const three = [s.id1, s.id2, s.id3].sort();
    assert.equal(ids(await s.c.a.sync.sessionsOf('u1')), three);
    assert.equal(ids(await s.c.b.sync.sessionsOf('u1')), three);
    assert.equal(ids(await s.c.a.sync.sessionsOf('u2')), [s.otherId]);

    const frames = s.sockets.map(record);
    const op = { op: 'set' as const, path: ['user', 'plan'], value: 'pro' };
    assert.is(await s.c.b.sync.updateUser('u1', [op]), 3);
    await until(() => frames.slice(0, 3).every((f) => patches(f).length === 1), 3000, 'a patch on each socket of u1');
    for (const f of frames.slice(0, 3)) assert.equal(patches(f)[0], { version: 2, base: 1, ops: [op] });
    // socket.session on node B sees a change made through node B's API for a session signed in on A.
    assert.equal(await request(s.sockets[0], 'test:read'), { user: { id: 'u1', plan: 'pro' } });
    await sleep(50);
    assert.is(patches(frames[3]!).length, 0, 'the other user got nothing');
  } finally {
    await s.c.close();
  }
});

nodes('destroyUser on node A ends the sockets connected to node B, live; the kept device stays', async () => {
  const s = await scene();
  try {
    const [s1, s2, s3, s4] = s.sockets;
    const kept = [record(s3), record(s4)];
    const ends = [endOf(s1), endOf(s2)];
    assert.is(await s.c.a.sync.destroyUser('u1', { except: s.id3 }), 2);
    for (const end of await Promise.all(ends))
      assert.equal(end, { reason: 'destroyed', disconnect: 'io server disconnect' });
    await sleep(100);
    assert.ok(s3.connected && s4.connected);
    assert.equal(
      kept.map((f) => f.filter((x) => x.event === 'session:ended').length),
      [0, 0],
    );
    // Dead cookies on both nodes.
    for (const jar of [s.d1, s.d2]) {
      assert.equal(await jar.json('/read'), {});
      assert.equal(await via(jar, s.c.b).json('/read'), {});
    }
    assert.equal(await via(s.d3, s.c.a).json('/read'), { user: { id: 'u1' } });
    assert.equal(ids(await s.c.b.sync.sessionsOf('u1')), [s.id3]);
    assert.equal(ids(await s.c.b.sync.sessionsOf('u2')), [s.otherId]);
  } finally {
    await s.c.close();
  }
});

nodes('logoutOthers in a socket handler on node B ends the sockets on node A; over HTTP too', async () => {
  const s = await scene();
  try {
    const [s1, s2, s3] = s.sockets;
    // A second tab of d1, on node A.
    const s1a = await s.c.a.connect(s.d1);
    const ends = [endOf(s1), endOf(s1a), endOf(s2)];
    assert.equal(await request(s3, 'logout-others'), { ended: 2 });
    for (const end of await Promise.all(ends)) assert.is(end.reason, 'destroyed');
    assert.equal(ids(await s.c.a.sync.sessionsOf('u1')), [s.id3]);

    // Sign two devices in again on A; d3 logs them out over HTTP through node A.
    const again = [await signIn(s.d1, 'u1'), await signIn(s.d2, 'u1')];
    const back = await Promise.all([s.c.b.connect(s.d1), s.c.b.connect(s.d2)]);
    const backEnds = back.map((socket) => endOf(socket));
    assert.equal(await via(s.d3, s.c.a).json('/logout-others', { method: 'POST' }), { ended: 2 });
    for (const end of await Promise.all(backEnds)) assert.is(end.reason, 'destroyed');
    for (const id of again) assert.is(await s.c.b.sync.get(id), undefined);
    assert.equal(ids(await s.c.b.sync.sessionsOf('u1')), [s.id3]);
  } finally {
    await s.c.close();
  }
});

nodes('a user switch made on one node moves the session in the index the other node reads', async () => {
  const s = await scene();
  try {
    await s.d1.fetch('/write', post({ user: { id: 'u2' } }));
    assert.equal(ids(await s.c.b.sync.sessionsOf('u1')), [s.id2, s.id3].sort());
    assert.equal(ids(await s.c.b.sync.sessionsOf('u2')), [s.id1, s.otherId].sort());
    assert.equal(await request(s.sockets[2], 'test:write', { user: null }), { version: 2 });
    assert.equal(ids(await s.c.a.sync.sessionsOf('u1')), [s.id2]);
    assert.is((await s.c.a.sync.get(s.id3))?.user, undefined);
  } finally {
    await s.c.close();
    await redis?.stop();
  }
});

nodes.run();
