/**
 * `increment()` writes an `inc` op: concurrent increments from requests, sockets and nodes
 * all land, where `val.n++` after an await loses them (last writer wins).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSessionSync } from '../../../src/server/index.js';
import { startApp } from '../../support/http.js';
import { post, startNodes, type Nodes } from '../../support/nodes.js';
import { startRedis, type TestRedis } from '../../support/redis.js';

const secret = 'a test secret that is long enough!!';

let redis: TestRedis | undefined;

async function concurrentIncrements(t: Nodes): Promise<void> {
  const ann = t.visitor();
  await ann.fetch(`${t.nodes[0]!.url}/write`, post({ n: 0 }));
  const sockets = await Promise.all(t.nodes.map((node) => t.connect(node, ann)));
  const http = Array.from({ length: 50 }, (_, i) =>
    ann.json(`${t.nodes[i % t.nodes.length]!.url}/increment`, post({ path: 'n', by: 1 })),
  );
  const viaSockets = Array.from(
    { length: 10 },
    (_, i) => new Promise((resolve) => sockets[i % sockets.length]!.emit('test:increment', 'n', 1, resolve)),
  );
  const answers = await Promise.all([...http, ...viaSockets]);
  assert.ok(
    answers.every((a) => !(a as { error?: string }).error),
    JSON.stringify(answers),
  );
  const read = await ann.json(`${t.nodes[0]!.url}/read`);
  assert.is(read.data.n, 60, 'every increment landed');
  assert.is(read.version, 61);
}

// ---

const counting = suite('50 concurrent HTTP increments and 10 socket ones end at +60');

counting('on MemoryStore', async () => {
  const t = await startNodes({ count: 1 });
  try {
    await concurrentIncrements(t);
  } finally {
    await t.close();
  }
});

counting('on RedisStore, spread over two nodes', async () => {
  redis ??= await startRedis();
  const t = await startNodes({ redisUrl: redis.url });
  try {
    await concurrentIncrements(t);
  } finally {
    await t.close();
  }
});

counting.after(async () => {
  await redis?.stop();
});

counting.run();

// ---

const draft = suite('increment() orders with the other writes of its tick and shows its result at once');

draft('set then inc, inc then set; the value read changes at once; a non-number is invalid', async () => {
  const t = await startApp(createSessionSync({ secret }), (app) => {
    app.post('/mixed', async (req, res) => {
      const val = req.session.val as Record<string, any>;
      val.a = 5;
      const first = req.session.increment('a', 2); // set then inc: 7
      const seen = val.a;
      void req.session.increment(['stats', 'likes']); // a missing value counts as 0, parents made
      val.b = 1;
      void req.session.increment('b', 10);
      val.b = 100; // inc then set: the set wins
      await first;
      await req.session.synchronize();
      res.json({ seen, val: JSON.parse(JSON.stringify(val)) });
    });
    app.post('/bad', (req, res) => {
      req.session.val.word = 'text';
      try {
        void req.session.increment('word');
        res.json({ threw: false });
      } catch (err) {
        res.json({ threw: true, code: (err as { code?: string }).code });
      }
    });
  });
  try {
    const ann = t.visitor();
    const body = await ann.json('/mixed', { method: 'POST' });
    assert.is(body.seen, 7);
    assert.equal(body.val, { a: 7, stats: { likes: 1 }, b: 100 });
    assert.equal((await t.sync.get(ann.id()!))?.data, { a: 7, stats: { likes: 1 }, b: 100 });
    assert.equal(await ann.json('/bad', { method: 'POST' }), { threw: true, code: 'invalid' });
  } finally {
    await t.close();
  }
});

draft('update() and updateUser() take inc ops', async () => {
  const sync = createSessionSync({ secret, user: 'user' });
  const t = await startApp(sync, (app) => {
    app.post('/start', (req, res) => {
      req.session.val.user = 'u1';
      req.session.val.credits = 1;
      res.end();
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/start', { method: 'POST' });
    await sync.update(ann.id()!, [{ op: 'inc', path: ['credits'], by: 2 }]);
    assert.is(await sync.updateUser('u1', [{ op: 'inc', path: ['credits'], by: 10 }]), 1);
    assert.is((await sync.get(ann.id()!))?.data.credits, 13);
  } finally {
    await t.close();
  }
});

draft.run();
