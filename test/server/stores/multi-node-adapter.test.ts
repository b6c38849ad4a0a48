/**
 * Beside `@socket.io/redis-adapter`: every node hears every change from the store's feed and
 * emits to its LOCAL sockets only, so the adapter (which would forward a room emit to every
 * node) must not deliver anything twice.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PROTOCOL_VERSION } from '../../../src/shared/index.js';
import { patches, post, record, request, sleep, startNodes, until } from '../../support/nodes.js';
import { startRedis } from '../../support/redis.js';

// ---

const once = suite('with @socket.io/redis-adapter on every node, each patch reaches each socket once');

once('HTTP and socket writes on three nodes: every socket of the session gets versions 2..8 exactly once', async () => {
  const redis = await startRedis();
  const { nodes, visitor, connect, close } = await startNodes({
    redisUrl: redis.url,
    count: 3,
    adapter: true,
    options: { clientWritable: ['m'] },
  });
  try {
    const [a, b, c] = nodes;
    const ann = visitor();
    const bob = visitor();
    await ann.fetch(`${a!.url}/write`, post({ n: 0 }));
    await bob.fetch(`${a!.url}/write`, post({ n: 0 }));
    // Two sockets of ann on A, one on B, one on C; bob on B.
    const annSockets = await Promise.all([connect(a!, ann), connect(a!, ann), connect(b!, ann), connect(c!, ann)]);
    const bobSocket = await connect(b!, bob);
    const frames = annSockets.map(record);
    const bobFrames = record(bobSocket);

    // The adapter really is in the path: a plain broadcast from A reaches the sockets on B and C.
    a!.io.emit('test:hi', 'from A');
    await until(() => frames.every((f) => f.some((x) => x.event === 'test:hi')), 'the adapter broadcast everywhere');
    assert.ok(bobFrames.some((x) => x.event === 'test:hi'));

    // Six HTTP writes round-robin over the nodes, then one browser mutation through C.
    for (let i = 1; i <= 6; i++) {
      assert.equal(await ann.json(`${nodes[i % 3]!.url}/write`, post({ n: i })), { version: i + 1 });
    }
    const ack = await request(annSockets[3]!, 'session:mutate', {
      mutation: 'm-1',
      base: 7,
      ops: [{ op: 'set', path: ['m'], value: 'from the browser' }],
    });
    assert.equal(ack, { ok: true, version: 8 });
    await until(() => frames.every((f) => patches(f).some((p) => p.version === 8)), 'version 8 on every socket');
    // Time for a second copy to arrive, if the adapter were forwarding ours.
    await sleep(150);
    for (const [i, f] of frames.entries()) {
      assert.equal(
        patches(f).map((p) => p.version),
        [2, 3, 4, 5, 6, 7, 8],
        `socket ${i} (on ${['A', 'A', 'B', 'C'][i]}) got each version once`,
      );
    }
    assert.equal(patches(frames[0]!).at(-1), {
      version: 8,
      base: 7,
      ops: [{ op: 'set', path: ['m'], value: 'from the browser' }],
      mutation: 'm-1',
    });
    assert.equal(patches(bobFrames), [], 'no patch of ann reached bob');
    // What the sockets were sent is what every node holds.
    const hello = await request(annSockets[2]!, 'session:hello', { protocol: PROTOCOL_VERSION });
    assert.equal(hello.version, 8);
    assert.equal(hello.data, { n: 6, m: 'from the browser' });

    // An end, too, arrives once: ended, then the disconnect.
    await ann.fetch(`${b!.url}/destroy`, { method: 'POST' });
    await until(() => frames.every((f) => f.some((x) => x.event === 'disconnect')), 'every socket of ann disconnected');
    await sleep(100);
    for (const f of frames) {
      assert.equal(
        f.filter((x) => x.event === 'session:ended' || x.event === 'disconnect').map((x) => [x.event, x.payload]),
        [
          ['session:ended', { reason: 'destroyed' }],
          ['disconnect', 'io server disconnect'],
        ],
      );
    }
    assert.ok(bobSocket.connected);
  } finally {
    await close();
    await redis.stop();
  }
});

once.run();
