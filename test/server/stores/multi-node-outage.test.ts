/**
 * Redis going away under two running nodes: requests that touch a session fail with a clean
 * 503 `store_unavailable`, everything else keeps working, nothing crashes, and once Redis is
 * back, writes work again and every socket converges on the stored state — including
 * sockets whose node missed changes published while its feed was not subscribed.
 */
import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PROTOCOL_VERSION } from '../../../src/shared/index.js';
import { patches, post, record, request, sleep, startNodes, until, type Frame, type Jar } from '../../support/nodes.js';
import { startRedis } from '../../support/redis.js';

const problems: unknown[] = [];
const onProblem = (err: unknown): void => void problems.push(err);

async function status(jar: Jar, url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await jar.fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // plain text
  }
  return { status: res.status, body };
}

/** The last version a recorded socket was told about, and whether its patches chain. */
function chain(frames: Frame[]): { version: number; contiguous: boolean } {
  let version = -1;
  let contiguous = true;
  for (const p of patches(frames)) {
    if (version !== -1 && p.base !== version) contiguous = false;
    version = p.version;
  }
  return { version, contiguous };
}

// ---

const outage = suite('a Redis restart under running nodes: clean failures, then convergence');

outage.before(() => {
  process.on('unhandledRejection', onProblem);
  process.on('uncaughtException', onProblem);
});

outage.after(() => {
  process.off('unhandledRejection', onProblem);
  process.off('uncaughtException', onProblem);
});

outage(
  '503 store_unavailable while Redis is down, everything else works; afterwards writes and patches resume',
  async () => {
    // AOF with fsync always: the restarted Redis has every acknowledged write.
    const redis = await startRedis({ appendonly: true });
    const { nodes, visitor, connect, close } = await startNodes({
      redisUrl: redis.url,
      count: 2,
      options: { clientWritable: ['m'] },
      store: { timeout: 500 },
    });
    try {
      const [a, b] = nodes;
      const ann = visitor();
      const carl = visitor();
      await ann.fetch(`${a!.url}/write`, post({ n: 1 }));
      await carl.fetch(`${a!.url}/write`, post({ c: 1 }));
      const onA = await connect(a!, ann);
      const onB = await connect(b!, ann);
      const framesA = record(onA);
      const framesB = record(onB);
      const hello = await request(onB, 'session:hello', { protocol: PROTOCOL_VERSION });
      assert.is(hello.version, 1);

      await redis.stop();
      const down = await status(ann, `${a!.url}/write`, post({ lost: true }));
      assert.is(down.status, 503);
      assert.is(down.body.code, 'store_unavailable');
      assert.equal((await status(ann, `${b!.url}/write`, post({ lost: true }))).body.code, 'store_unavailable');
      // A session no node holds cannot even be read.
      for (const node of nodes) {
        const read = await status(carl, `${node.url}/read`);
        assert.equal([read.status, read.body.code], [503, 'store_unavailable'], `carl's read on ${node.name}`);
      }
      // A node that holds ann's session live (her socket is open there) answers reads from
      // memory; only what needs Redis fails.
      assert.equal(await status(ann, `${a!.url}/read`), { status: 200, body: { version: 1, data: { n: 1 } } });
      // What does not touch a session works.
      assert.equal(await status(visitor(), `${a!.url}/ping`), { status: 200, body: 'pong' });
      assert.equal(await status(visitor(), `${b!.url}/read`), { status: 200, body: { version: 0, data: {} } });
      // Sockets: a browser write is refused with the code; a new socket of an unheld session is refused.
      const refused = await request(onB, 'session:mutate', {
        mutation: 'x',
        base: 1,
        ops: [{ op: 'set', path: ['m'], value: 1 }],
      });
      assert.is(refused.ok, false);
      assert.is(refused.code, 'store_unavailable');
      const carlSocket = await connect(b!, carl, { wait: false });
      const connectError = await new Promise<any>((resolve) => carlSocket.once('connect_error', resolve));
      assert.is(connectError.data?.code, 'store_unavailable');
      // Held sockets stay connected through the outage, and no expiry is reported for them.
      await sleep(300);
      assert.ok(onA.connected && onB.connected);
      assert.equal(framesA, []);
      assert.equal(framesB, []);

      await redis.restart();
      // Back within the reconnect backoff (capped at 1 s).
      const deadline = Date.now() + 5000;
      for (const node of nodes) {
        while ((await status(carl, `${node.url}/read`)).status !== 200) {
          if (Date.now() > deadline) throw new Error(`node ${node.name} did not recover within 5 s`);
          await sleep(50);
        }
      }
      assert.equal((await status(carl, `${b!.url}/read`)).body, { version: 1, data: { c: 1 } }, 'data kept');
      // Nothing refused during the outage was stored.
      assert.equal(await ann.json(`${b!.url}/read`), { version: 1, data: { n: 1 } });

      // Writes work again, and the sockets on both nodes converge with contiguous numbering,
      // whether or not their node's feed was subscribed again when the write was published.
      assert.equal(await ann.json(`${b!.url}/write`, post({ n: 2 })), { version: 2 });
      await until(
        () => chain(framesA).version === 2 && chain(framesB).version === 2,
        'version 2 on both sockets',
        5000,
      );
      assert.equal(await ann.json(`${a!.url}/write`, post({ n: 3 })), { version: 3 });
      await until(
        () => chain(framesA).version === 3 && chain(framesB).version === 3,
        'version 3 on both sockets',
        5000,
      );
      for (const frames of [framesA, framesB]) {
        assert.is(patches(frames)[0]!.base, 1, 'the first patch after the outage follows version 1');
        assert.ok(chain(frames).contiguous, 'contiguous');
      }
      // A hello with the version held before the outage gets the missed patches.
      const again = await request(onB, 'session:hello', { protocol: PROTOCOL_VERSION, version: 1, tag: hello.tag });
      assert.is(again.version, 3);
      assert.equal(
        again.patches.map((p: { version: number }) => p.version),
        [2, 3],
      );
      assert.equal(await request(onA, 'test:read'), { version: 3, data: { n: 3 } });
      assert.equal(problems, [], 'no unhandled rejection or exception');
    } finally {
      await close();
      await redis.stop();
    }
  },
);

outage.run();

// ---

const lost = suite('changes published while a node is not subscribed still reach its sockets');

lost('after the pub/sub links drop, a change published before they resubscribe is caught up', async () => {
  const redis = await startRedis();
  const { nodes, visitor, connect, close } = await startNodes({ redisUrl: redis.url, count: 2 });
  const admin = new Redis(redis.url);
  try {
    const [a, b] = nodes;
    const ann = visitor();
    await ann.fetch(`${a!.url}/write`, post({ n: 1 }));
    const onA = await connect(a!, ann);
    const onB = await connect(b!, ann);
    const framesA = record(onA);
    const framesB = record(onB);
    // Every subscriber connection (each node's feed) drops; command connections stay up.
    const killed = Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
    assert.ok(killed >= 2, `killed ${killed} subscribers`);
    // Published to nobody: ioredis waits at least 100 ms before it reconnects.
    assert.equal(await ann.json(`${b!.url}/write`, post({ n: 2 })), { version: 2 });
    await until(() => chain(framesA).version === 2 && chain(framesB).version === 2, 'version 2 on both sockets', 5000);
    for (const frames of [framesA, framesB]) {
      assert.equal(patches(frames)[0], { version: 2, base: 1, ops: [{ op: 'set', path: ['n'], value: 2 }] });
    }
    assert.equal(await request(onA, 'test:read'), { version: 2, data: { n: 2 } }, 'socket.session on A caught up');
    // And the feed works again afterwards, without duplicates.
    assert.equal(await ann.json(`${a!.url}/write`, post({ n: 3 })), { version: 3 });
    await until(() => chain(framesB).version === 3, 'version 3 on B');
    await sleep(100);
    for (const frames of [framesA, framesB]) {
      assert.equal(
        patches(frames).map((p) => p.version),
        [2, 3],
      );
    }
  } finally {
    admin.disconnect();
    await close();
    await redis.stop();
  }
});

lost('a destroy announced while the pub/sub links are down still ends the sockets, with its reason', async () => {
  const redis = await startRedis();
  const { nodes, visitor, connect, close } = await startNodes({ redisUrl: redis.url, count: 2 });
  const admin = new Redis(redis.url);
  try {
    const [a, b] = nodes;
    const ann = visitor();
    await ann.fetch(`${a!.url}/write`, post({ n: 1 }));
    const onA = await connect(a!, ann);
    const onB = await connect(b!, ann);
    const framesA = record(onA);
    const framesB = record(onB);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    assert.equal(await ann.json(`${a!.url}/destroy`, { method: 'POST' }), { ok: true });
    for (const frames of [framesA, framesB]) {
      await until(() => frames.some((f) => f.event === 'disconnect'), 'the disconnect', 5000);
      assert.equal(
        frames.map((f) => [f.event, f.payload]),
        [
          ['session:ended', { reason: 'destroyed' }],
          ['disconnect', 'io server disconnect'],
        ],
      );
    }
  } finally {
    admin.disconnect();
    await close();
    await redis.stop();
  }
});

lost('a regenerate announced while the pub/sub links are down ends the old sockets as regenerated', async () => {
  const redis = await startRedis();
  const { nodes, visitor, connect, close } = await startNodes({ redisUrl: redis.url, count: 2 });
  const admin = new Redis(redis.url);
  try {
    const [a, b] = nodes;
    const ann = visitor();
    await ann.fetch(`${a!.url}/write`, post({ n: 1 }));
    const onB = await connect(b!, ann);
    const frames = record(onB);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    const res = await ann.fetch(`${a!.url}/regenerate`, { method: 'POST' });
    assert.is(res.status, 200);
    await until(() => frames.some((f) => f.event === 'disconnect'), 'the disconnect', 5000);
    assert.equal(
      frames.map((f) => [f.event, f.payload]),
      [
        ['session:ended', { reason: 'regenerated' }],
        ['disconnect', 'io server disconnect'],
      ],
    );
  } finally {
    admin.disconnect();
    await close();
    await redis.stop();
  }
});

lost.run();
