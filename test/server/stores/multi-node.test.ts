/**
 * Many nodes on one Redis behave as one app: each node is its own createSessionSync() with
 * its own RedisStore, Express app, HTTP server and Socket.IO server (test/support/nodes.ts);
 * they share only the secret and the Redis. Real redis-server, real HTTP, real sockets.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PROTOCOL_VERSION } from '../../../src/shared/index.js';
import { patches, post, record, request, sleep, startNodes, until, type Nodes } from '../../support/nodes.js';
import { startRedis, type TestRedis } from '../../support/redis.js';

// One Redis and one set of three nodes for the file, started by the first test that needs
// them (uvu loads test files as CommonJS, so no top-level await); the last suite stops them.
let redis: Promise<TestRedis> | undefined;
const sharedRedis = (): Promise<TestRedis> => (redis ??= startRedis());
let cluster: Promise<Nodes> | undefined;
const shared = (): Promise<Nodes> => (cluster ??= sharedRedis().then((r) => startNodes({ redisUrl: r.url, count: 3 })));

// ---

const oneSession = suite('a session written on one node is the same session on every other node');

oneSession('a write on A is read on B and C, and a write on B is read on C', async () => {
  const { nodes, visitor } = await shared();
  const [a, b, c] = nodes;
  const ann = visitor();
  assert.equal(await ann.json(`${a!.url}/write`, post({ a: 1 })), { version: 1 });
  assert.ok(ann.cookies.has('sid'), 'node A issued the cookie');
  assert.equal(await ann.json(`${b!.url}/read`), { version: 1, data: { a: 1 } });
  assert.equal(await ann.json(`${c!.url}/read`), { version: 1, data: { a: 1 } });
  assert.equal(await ann.json(`${b!.url}/write`, post({ b: 2 })), { version: 2 });
  assert.equal(await ann.json(`${c!.url}/read`), { version: 2, data: { a: 1, b: 2 } });
  assert.equal(await ann.json(`${a!.url}/read`), { version: 2, data: { a: 1, b: 2 } });
});

oneSession('the JSON route answers the same version, tag and ETag on every node', async () => {
  const { nodes, visitor } = await shared();
  const ann = visitor();
  await ann.fetch(`${nodes[0]!.url}/write`, post({ theme: 'dark', _secret: 'server only' }));
  const answers = await Promise.all(
    nodes.map(async (node) => {
      const res = await ann.fetch(`${node.url}/get/session`);
      // expiresIn counts ms from each answer, on each node's clock: compared apart.
      const { expiresIn, ...body } = await res.json();
      return { etag: res.headers.get('etag'), body, expiresIn: expiresIn as number };
    }),
  );
  assert.ok(answers[0]!.body.tag, 'a tag');
  assert.type(answers[0]!.body.epoch, 'number');
  assert.equal(answers[0]!.body.data, { theme: 'dark' });
  for (const { etag, body, expiresIn } of answers) {
    assert.equal({ etag, body }, { etag: answers[0]!.etag, body: answers[0]!.body });
    assert.ok(Math.abs(expiresIn - answers[0]!.expiresIn) < 2000, 'the same idle deadline');
  }
  // A conditional GET on another node is a 304 too: nodes agree on the ETag.
  const res = await ann.fetch(`${nodes[2]!.url}/get/session`, { headers: { 'if-none-match': answers[0]!.etag! } });
  assert.is(res.status, 304);
});

oneSession('visitors stay apart across nodes', async () => {
  const { nodes, visitor } = await shared();
  const ann = visitor();
  const bob = visitor();
  await ann.fetch(`${nodes[0]!.url}/write`, post({ who: 'ann' }));
  await bob.fetch(`${nodes[1]!.url}/write`, post({ who: 'bob' }));
  assert.equal((await ann.json(`${nodes[1]!.url}/read`)).data, { who: 'ann' });
  assert.equal((await bob.json(`${nodes[0]!.url}/read`)).data, { who: 'bob' });
});

oneSession.run();

// ---

const parallel = suite('parallel writes of one visitor spread over three nodes lose nothing');

parallel('40 writes of distinct keys, round-robin over the nodes, end at version 40 with every key', async () => {
  const { nodes, visitor, connect } = await shared();
  const ann = visitor();
  // The cookie first, without a record (as the browser SDK gets it), so versions start at 1.
  const issued = await ann.json(`${nodes[0]!.url}/get/session`, { headers: { 'x-session-sync': '1' } });
  assert.is(issued.version, 0);
  assert.ok(ann.cookies.has('sid'));
  // A socket on each node sees every version once, in order.
  const sockets = await Promise.all(nodes.map((node) => connect(node, ann)));
  const frames = sockets.map(record);
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      ann.json<{ version: number }>(`${nodes[i % 3]!.url}/write`, post({ [`k${i}`]: i })),
    ),
  );
  // req.session.version is the live version the node sees, so concurrent answers may share one.
  for (const answer of answers) assert.ok(answer.version >= 1 && answer.version <= 40, `version ${answer.version}`);
  const expected = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]));
  for (const node of nodes)
    assert.equal(await ann.json(`${node.url}/read`), { version: 40, data: expected }, node.name);
  for (const [i, list] of frames.entries()) {
    await until(() => patches(list).at(-1)?.version === 40, `patch 40 on node ${nodes[i]!.name}`);
    assert.equal(
      patches(list).map((p) => [p.base, p.version]),
      Array.from({ length: 40 }, (_, v) => [v, v + 1]),
      `contiguous patches on node ${nodes[i]!.name}`,
    );
    // One write per version: each patch sets exactly one of the 40 keys, and each key once.
    const keys = patches(list).flatMap((p) => p.ops.map((op: { path: string[] }) => op.path.join('.')));
    assert.equal(keys.sort(), Object.keys(expected).sort(), `one key per patch on node ${nodes[i]!.name}`);
  }
  // And socket.session on every node is current, with no reload.
  for (const socket of sockets) assert.equal(await request(socket, 'test:read'), { version: 40, data: expected });
  for (const socket of sockets) socket.disconnect();
});

parallel.run();

// ---

const live = suite('an HTTP write on one node reaches the sockets of that session on the others');

live('a write on B reaches sockets on A and C as a session:patch, and no other session', async () => {
  const { nodes, visitor, connect } = await shared();
  const [a, b, c] = nodes;
  const ann = visitor();
  const bob = visitor();
  await ann.fetch(`${a!.url}/write`, post({ n: 0 }));
  await bob.fetch(`${a!.url}/write`, post({ n: 0 }));
  const [onA, onC, bobOnA] = await Promise.all([connect(a!, ann), connect(c!, ann), connect(a!, bob)]);
  const framesA = record(onA);
  const framesC = record(onC);
  const framesBob = record(bobOnA);
  assert.equal(await ann.json(`${b!.url}/write`, post({ n: 1 })), { version: 2 });
  await until(() => patches(framesA).length === 1 && patches(framesC).length === 1, 'the patch on A and C');
  const expected = { version: 2, base: 1, ops: [{ op: 'set', path: ['n'], value: 1 }] };
  assert.equal(patches(framesA), [expected]);
  assert.equal(patches(framesC), [expected]);
  assert.equal(await request(onA, 'test:read'), { version: 2, data: { n: 1 } }, 'socket.session on A is current');
  await sleep(50);
  assert.equal(patches(framesBob), [], 'bob heard nothing');
  for (const s of [onA, onC, bobOnA]) s.disconnect();
});

live('a socket on B that says hello with an old version gets the patches written on A', async () => {
  const { nodes, visitor, connect } = await shared();
  const [a, b] = nodes;
  const ann = visitor();
  await ann.fetch(`${a!.url}/write`, post({ step: 1 }));
  const socket = await connect(b!, ann);
  const hello = await request(socket, 'session:hello', { protocol: PROTOCOL_VERSION });
  assert.equal(hello.data, { step: 1 });
  await ann.fetch(`${a!.url}/write`, post({ step: 2 }));
  await ann.fetch(`${a!.url}/write`, post({ step: 3 }));
  const again = await request(socket, 'session:hello', { protocol: PROTOCOL_VERSION, version: 1, tag: hello.tag });
  assert.is(again.ok, true);
  assert.is(again.version, 3);
  assert.equal(
    again.patches.map((p: { version: number }) => p.version),
    [2, 3],
  );
  socket.disconnect();
});

live.run();

// ---

const destroy = suite('destroy on one node ends the sockets of that session on every node');

destroy('sockets on B and C get session:ended { reason: destroyed }, then disconnect; others stay', async () => {
  const { nodes, visitor, connect } = await shared();
  const [a, b, c] = nodes;
  const ann = visitor();
  const bob = visitor();
  await ann.fetch(`${a!.url}/write`, post({ n: 1 }));
  await bob.fetch(`${b!.url}/write`, post({ n: 1 }));
  const [onB, onC, bobOnB] = await Promise.all([connect(b!, ann), connect(c!, ann), connect(b!, bob)]);
  const framesB = record(onB);
  const framesC = record(onC);
  const framesBob = record(bobOnB);
  const sid = ann.cookies.get('sid')!;
  assert.equal(await ann.json(`${a!.url}/destroy`, { method: 'POST' }), { ok: true });
  for (const [name, frames] of [
    ['B', framesB],
    ['C', framesC],
  ] as const) {
    await until(() => frames.some((f) => f.event === 'disconnect'), `the disconnect on ${name}`);
    assert.equal(
      frames.map((f) => [f.event, f.payload]),
      [
        ['session:ended', { reason: 'destroyed' }],
        ['disconnect', 'io server disconnect'],
      ],
      `ended, then disconnected, on ${name}`,
    );
  }
  assert.ok(bobOnB.connected, 'bob is still connected');
  assert.equal(framesBob, []);
  assert.equal(await request(bobOnB, 'test:read'), { version: 1, data: { n: 1 } });
  assert.not.ok(ann.cookies.has('sid'), 'the cookie was cleared');
  // The record is gone on every node (the old cookie, resent, reads nothing).
  for (const node of nodes) {
    const res = await fetch(`${node.url}/read`, { headers: { cookie: `sid=${sid}` } });
    assert.equal(await res.json(), { version: 0, data: {} }, node.name);
  }
  bobOnB.disconnect();
});

destroy("regenerate on A ends the old id's sockets on B with reason regenerated, after the response", async () => {
  const { nodes, visitor, connect } = await shared();
  const [a, b] = nodes;
  const ann = visitor();
  await ann.fetch(`${a!.url}/write`, post({ kept: 'yes' }));
  const oldSid = ann.cookies.get('sid');
  const onB = await connect(b!, ann);
  const frames = record(onB);
  const res = await ann.fetch(`${a!.url}/regenerate`, { method: 'POST' });
  assert.is(res.status, 200);
  await res.arrayBuffer();
  assert.is.not(ann.cookies.get('sid'), oldSid, 'a new id');
  await until(() => frames.some((f) => f.event === 'disconnect'), 'the disconnect on B');
  assert.equal(
    frames.map((f) => [f.event, f.payload]),
    [
      ['session:ended', { reason: 'regenerated' }],
      ['disconnect', 'io server disconnect'],
    ],
  );
  // The new id carries the data on every node, and a socket with the new cookie joins it.
  assert.equal((await ann.json(`${b!.url}/read`)).data, { kept: 'yes' });
  const again = await connect(b!, ann);
  assert.equal((await request(again, 'test:read')).data, { kept: 'yes' });
  again.disconnect();
});

destroy.run();

// ---

const values = suite('JSON values survive HTTP on A → patch on B → HTTP read on B');

const TRICKY = {
  empty: [],
  emptyObject: {},
  nested: [[], {}, [[]], { deeper: [] }],
  float: 0.12345678901234567,
  tiny: 5e-324,
  big: 2 ** 53 - 1,
  negative: -(2 ** 53 - 1),
  exp: 1.7976931348623157e308,
  unicode: 'héllo wörld — 日本語 🌍👩‍👩‍👧 \u2028\u2029 "quotes" \\ \u0000',
  keyed: { 'ключ 🔑': true, '': null },
};

values('[] stays an array, numbers keep every digit, unicode is intact, on every hop', async () => {
  const { nodes, visitor, connect } = await shared();
  const [a, b] = nodes;
  const ann = visitor();
  await ann.fetch(`${a!.url}/write`, post({ start: true }));
  const socket = await connect(b!, ann);
  const frames = record(socket);
  assert.equal(await ann.json(`${a!.url}/write`, post(TRICKY)), { version: 2 });
  await until(() => patches(frames).length === 1, 'the patch on B');
  const patch = patches(frames)[0]!;
  const sent = Object.fromEntries(patch.ops.map((op: { path: string[]; value: unknown }) => [op.path[0], op.value]));
  assert.equal(sent, TRICKY, 'the patch on B');
  assert.ok(
    Array.isArray(sent.empty) && Array.isArray(sent.nested) && Array.isArray(sent.nested[0]),
    '[] in the patch',
  );
  assert.is(sent.float, 0.12345678901234567);
  assert.is(sent.big, 2 ** 53 - 1);
  const read = await ann.json(`${b!.url}/read`);
  assert.equal(read, { version: 2, data: { start: true, ...TRICKY } }, 'the HTTP read on B');
  assert.ok(Array.isArray(read.data.empty), '[] in the read');
  assert.is(read.data.float, 0.12345678901234567);
  assert.is(read.data.negative, -(2 ** 53 - 1));
  assert.is(read.data.unicode, TRICKY.unicode);
  const snapshot = await request(socket, 'session:hello', { protocol: PROTOCOL_VERSION });
  assert.equal(snapshot.data, { start: true, ...TRICKY }, 'the hello snapshot on B');
  assert.equal(
    await request(socket, 'test:read'),
    { version: 2, data: { start: true, ...TRICKY } },
    'socket.session on B',
  );
  socket.disconnect();
});

values.run();

// ---

const expiry = suite('expiry ends the sockets on the nodes that hold them');

expiry("an idle session's sockets on B and C get session:ended { reason: expired }", async () => {
  const r = await sharedRedis();
  const { nodes, visitor, connect, close } = await startNodes({ redisUrl: r.url, count: 3, options: { ttl: 400 } });
  try {
    const [a, b, c] = nodes;
    const ann = visitor();
    const bob = visitor();
    await ann.fetch(`${a!.url}/write`, post({ n: 1 }));
    const [onB, onC] = await Promise.all([connect(b!, ann), connect(c!, ann)]);
    const framesB = record(onB);
    const framesC = record(onC);
    // Bob stays active (a write every 100 ms), so his session outlives the ttl.
    await bob.fetch(`${a!.url}/write`, post({ n: 0 }));
    const bobSocket = await connect(b!, bob);
    let n = 0;
    const started = Date.now();
    while (!framesB.some((f) => f.event === 'disconnect') || !framesC.some((f) => f.event === 'disconnect')) {
      if (Date.now() - started > 3000) throw new Error('no expiry within 3 s');
      await bob.fetch(`${c!.url}/write`, post({ n: ++n }));
      await sleep(100);
    }
    assert.ok(Date.now() - started >= 300, 'not before the ttl');
    for (const frames of [framesB, framesC]) {
      assert.equal(
        frames.map((f) => [f.event, f.payload]),
        [
          ['session:ended', { reason: 'expired' }],
          ['disconnect', 'io server disconnect'],
        ],
      );
    }
    assert.ok(bobSocket.connected, 'the active session lives on');
    assert.equal(await ann.json(`${a!.url}/read`), { version: 0, data: {} }, 'the record is gone');
  } finally {
    await close();
  }
});

expiry('done', async () => {
  await (await shared()).close();
  await (await sharedRedis()).stop();
});

expiry.run();
