/**
 * Logout sticks, on MemoryStore and on RedisStore with two nodes: a request that read the
 * session, awaited something slow and then wrote, finishing after `destroy()`,
 * `destroyUser()` or `logoutOthers()`, fails with `ended` (HTTP 410) and stores nothing; the
 * old cookie reads no data and `sessionsOf` does not list it. Out-of-band writes to a dead id
 * (`update()`, `updateUser()`) never bring it back either.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { post, recordsOf, startScene, stopTestRedis, type Kind, type Scene } from '../../support/lifecycle.js';
import type { Jar } from '../../support/http.js';

const KINDS: Kind[] = ['memory', 'redis'];
const where = (kind: Kind): string => (kind === 'memory' ? 'MemoryStore' : 'RedisStore, two nodes');

async function signIn(s: Scene, user: string): Promise<{ jar: Jar; id: string }> {
  const jar = s.visitor();
  const res = await jar.fetch(`${s.a.url}/login`, post({ user }));
  assert.is(res.status, 200);
  await jar.fetch(`${s.b.url}/write`, post({ cart: ['book'] }));
  return { jar, id: jar.id()! };
}

/** Starts a read → await → write on node B and resolves once it has read the session. */
async function slowWrite(s: Scene, jar: Jar, gate: string, route = 'slow-write'): Promise<() => Promise<Response>> {
  const reached = s.gates.arrived(gate);
  const response = jar.clone().fetch(`${s.b.url}/${route}/${gate}`, post({ cart: ['book', 'stolen'] }));
  await reached;
  return async () => {
    s.gates.open(gate);
    return response;
  };
}

/** The old cookie, the store and the user index after the end: nothing of the session. */
async function assertGone(s: Scene, old: Jar, id: string, user: string): Promise<void> {
  assert.equal(
    await recordsOf(s, id),
    s.nodes.map(() => undefined),
    'no record on any node',
  );
  for (const node of s.nodes) {
    const read = await old.clone().json(`${node.url}/read`);
    assert.equal([read.version, read.data], [0, {}], `the old cookie reads no data on node ${node.name}`);
    const listed = (await node.sync.sessionsOf(user)).map((x) => x.id);
    assert.not.ok(listed.includes(id), `sessionsOf does not list it on node ${node.name}`);
  }
  // A write with the old cookie in a fresh request is a new visitor's: a new id.
  const again = old.clone();
  const fresh = await again.json(`${s.b.url}/write`, post({ after: 1 }));
  assert.is.not(fresh.id, id, 'a later write with the old cookie starts a new session');
  assert.is(again.id(), fresh.id, 'with a new cookie');
  assert.equal(
    await recordsOf(s, id),
    s.nodes.map(() => undefined),
    'still no record under the old id',
  );
}

async function assertEnded(res: Response): Promise<void> {
  const body = await res.json();
  assert.is(res.status, 410, `the late write is refused: ${JSON.stringify(body)}`);
  assert.is(body.code, 'ended');
}

// ---

for (const kind of KINDS) {
  const race = suite(`${where(kind)}: a read → await → write finishing after the end is refused with ended`);

  race('racing destroy() from another tab', async () => {
    const s = await startScene(kind, { options: { user: 'user.id' } });
    try {
      const { jar, id } = await signIn(s, 'ann');
      const old = jar.clone();
      const finish = await slowWrite(s, jar, 'w');
      assert.is((await jar.fetch(`${s.a.url}/destroy`, post())).status, 200);
      await assertEnded(await finish());
      await assertGone(s, old, id, 'ann');
    } finally {
      await s.close();
    }
  });

  race('racing destroy(), committed by the end-of-tick auto-commit (no synchronize())', async () => {
    const s = await startScene(kind, {
      options: { user: 'user.id' },
      routes(app, { gates }) {
        app.post('/auto-write/:gate', async (req, res) => {
          void req.session.val.cart; // read
          await gates.wait(String(req.params.gate));
          req.session.val.cart = ['book', 'stolen'];
          res.json({ ok: true }); // held until the commit; its failure goes to next(err)
        });
      },
    });
    try {
      const { jar, id } = await signIn(s, 'ann');
      const old = jar.clone();
      const finish = await slowWrite(s, jar, 'auto', 'auto-write');
      await s.a.sync.destroy(id);
      await assertEnded(await finish());
      await assertGone(s, old, id, 'ann');
    } finally {
      await s.close();
    }
  });

  race('racing destroyUser() from another device', async () => {
    const s = await startScene(kind, { options: { user: 'user.id' } });
    try {
      const { jar, id } = await signIn(s, 'bob');
      const phone = await signIn(s, 'bob');
      const old = jar.clone();
      const finish = await slowWrite(s, jar, 'w');
      assert.is(await s.a.sync.destroyUser('bob'), 2);
      await assertEnded(await finish());
      await assertGone(s, old, id, 'bob');
      await assertGone(s, phone.jar, phone.id, 'bob');
    } finally {
      await s.close();
    }
  });

  race('racing logoutOthers() from the user’s other device', async () => {
    const s = await startScene(kind, { options: { user: 'user.id' } });
    try {
      const laptop = await signIn(s, 'cat');
      const phone = await signIn(s, 'cat');
      const old = laptop.jar.clone();
      const finish = await slowWrite(s, laptop.jar, 'w');
      const out = await phone.jar.json(`${s.a.url}/logout-others`, post());
      assert.equal(out, { ended: 1 });
      await assertEnded(await finish());
      await assertGone(s, old, laptop.id, 'cat');
      for (const node of s.nodes) {
        assert.equal(
          (await node.sync.sessionsOf('cat')).map((x) => x.id),
          [phone.id],
          'the phone is still signed in, and alone',
        );
      }
    } finally {
      await s.close();
    }
  });

  race('out of band: update() and updateUser() never write to a dead id', async () => {
    const s = await startScene(kind, { options: { user: 'user.id' } });
    try {
      const { jar, id } = await signIn(s, 'dan');
      await s.a.sync.destroy(id);
      for (const node of s.nodes) {
        for (const change of [
          [{ op: 'set', path: ['credits'], value: 10 }],
          (d: Record<string, unknown>) => void (d.credits = 10),
        ] as const) {
          const err = await node.sync.update(id, change as never).then(
            () => undefined,
            (e: unknown) => e as { code?: string },
          );
          assert.is(err?.code, 'ended', `update() on node ${node.name} is refused`);
        }
        assert.is(await node.sync.updateUser('dan', [{ op: 'set', path: ['credits'], value: 10 }]), 0);
      }
      await assertGone(s, jar, id, 'dan');
    } finally {
      await s.close();
    }
  });

  race.run();
}

const done = suite('cleanup');
done('the test Redis stops', async () => stopTestRedis());
done.run();
