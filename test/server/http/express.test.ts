import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSessionSync, MemoryStore, type SessionStore } from '../../../src/server/index.js';
import type { SessionChange } from '../../../src/server/engine/core.js';
import { startApp } from '../../support/http.js';

const secret = 'a test secret that is long enough!!';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A store double: a real MemoryStore whose apply answers `delay` ms late (an async store). */
function slowStore(delay: number): SessionStore {
  const inner = new MemoryStore();
  return {
    get: (id) => inner.get(id),
    apply: async (id, ops, options) => {
      await sleep(delay);
      return inner.apply(id, ops, options);
    },
    since: (id, v) => inner.since(id, v),
    destroy: (id, reason, options) => inner.destroy(id, reason, options),
    touch: (id, ttl) => inner.touch(id, ttl),
    sessionsOf: (user) => inner.sessionsOf(user),
    subscribe: (listener) => inner.subscribe(listener),
    close: () => inner.close(),
  };
}

// ---

const isolation = suite('each visitor has their own session');

isolation('two cookie jars never see each other’s data', async () => {
  const t = await startApp(createSessionSync({ secret }), (app) => {
    app.get('/set/:name', (req, res) => {
      req.session.val.name = req.params.name;
      res.json(req.session.val);
    });
    app.get('/read', (req, res) => res.json(req.session.val));
  });
  try {
    const ann = t.visitor();
    const bob = t.visitor();
    assert.equal(await ann.json('/set/ann'), { name: 'ann' });
    assert.equal(await bob.json('/read'), {}, 'bob sees nothing of ann');
    assert.equal(await bob.json('/set/bob'), { name: 'bob' });
    assert.equal(await ann.json('/read'), { name: 'ann' });
    assert.equal(await bob.json('/read'), { name: 'bob' });
    assert.ok(ann.id() && bob.id() && ann.id() !== bob.id(), 'two ids');
    assert.equal((await t.sync.get(ann.id()!))?.data, { name: 'ann' });
    assert.equal((await t.sync.get(bob.id()!))?.data, { name: 'bob' });
  } finally {
    await t.close();
  }
});

isolation('a visitor without a cookie reads the defaults, not the last writer’s data', async () => {
  const t = await startApp(
    createSessionSync({ secret }),
    (app) => {
      app.get('/set', (req, res) => {
        req.session.val.cart = ['apple'];
        res.end();
      });
      app.get('/read', (req, res) => res.json(req.session.val));
    },
    undefined,
  );
  try {
    await t.visitor().fetch('/set');
    assert.equal(await t.visitor().json('/read'), {});
  } finally {
    await t.close();
  }
});

isolation('express(defaults) fills a new session without writing it, and a write keeps them', async () => {
  const sync = createSessionSync({ secret });
  const t = await startApp(
    sync,
    (app) => {
      app.get('/read', (req, res) => res.json(req.session.val));
      app.get('/add', (req, res) => {
        (req.session.val.cart as string[]).push('pear');
        res.json(req.session.val);
      });
    },
    sync.express({ cart: [], theme: 'light' }),
  );
  try {
    const ann = t.visitor();
    assert.equal(await ann.json('/read'), { cart: [], theme: 'light' });
    assert.is(ann.cookies.size, 0, 'reading defaults issues no cookie');
    assert.equal(await ann.json('/add'), { cart: ['pear'], theme: 'light' });
    assert.equal((await sync.get(ann.id()!))?.data, { cart: ['pear'] }, 'only the change is stored');
    assert.equal(
      await t.visitor().json('/read'),
      { cart: [], theme: 'light' },
      'the defaults object itself was not changed',
    );
  } finally {
    await t.close();
  }
});

isolation.run();

// ---

const parallel = suite('concurrent requests of one visitor never lose each other’s writes');

parallel('50 requests that read, wait 0–30 ms, then write 50 different keys all land', async () => {
  const t = await startApp(createSessionSync({ secret }), (app) => {
    app.get('/start', (req, res) => {
      req.session.val.started = true;
      res.end();
    });
    app.get('/w/:k', async (req, res) => {
      const before = Object.keys(req.session.val).length; // a read before the wait
      await sleep(Math.random() * 30);
      req.session.val[req.params.k] = before;
      res.end();
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    const id = ann.id()!;
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    const answers = await Promise.all(keys.map((k) => ann.fetch(`/w/${k}`)));
    assert.ok(answers.every((r) => r.status === 200));
    assert.ok(
      answers.every((r) => r.headers.getSetCookie().length === 0),
      'the id never changes',
    );
    const stored = await t.sync.get(id);
    for (const k of keys) assert.type(stored?.data[k], 'number', `${k} is stored`);
    assert.is(stored?.version, 51, 'one version per change');
  } finally {
    await t.close();
  }
});

parallel('writes to the same path are ordered by version and the last one wins', async () => {
  const sync = createSessionSync({ secret });
  const changes: SessionChange[] = [];
  sync.on('change', (_id, change) => changes.push(change));
  const t = await startApp(sync, (app) => {
    app.get('/start', (req, res) => {
      req.session.val.last = -1;
      res.end();
    });
    app.get('/w/:i', async (req, res) => {
      await sleep(Math.random() * 30);
      req.session.val.last = Number(req.params.i);
      res.end();
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    await Promise.all(Array.from({ length: 30 }, (_, i) => ann.fetch(`/w/${i}`)));
    const stored = await sync.get(ann.id()!);
    const newest = changes.reduce((a, b) => (b.version > a.version ? b : a));
    const op = newest.ops[0]!;
    assert.is(op.op, 'set');
    assert.is(stored?.version, newest.version);
    assert.is(stored?.data.last, op.op === 'set' ? op.value : undefined, 'the newest version’s value is what stays');
    const versions = changes.map((c) => c.version);
    assert.equal(
      versions,
      [...versions].sort((a, b) => a - b),
      'versions are published in order',
    );
  } finally {
    await t.close();
  }
});

parallel.run();

// ---

const redirect = suite('a redirect right after a write never races it');

for (const [name, store] of [
  ['MemoryStore', () => new MemoryStore()],
  ['a store that answers 30 ms late', () => slowStore(30)],
] as const) {
  redirect(`the next request sees the write (${name})`, async () => {
    const t = await startApp(createSessionSync({ secret, store: store() }), (app) => {
      app.post('/login', (req, res) => {
        req.session.val.user = { name: 'ann' };
        res.redirect(303, '/me');
      });
      app.get('/me', (req, res) => res.json(req.session.val.user ?? null));
    });
    try {
      const ann = t.visitor();
      for (let i = 0; i < 5; i++) {
        const other = t.visitor();
        const res = await other.fetch('/login', { method: 'POST', follow: true });
        assert.equal(await res.json(), { name: 'ann' }, `round ${i}`);
      }
      // Without following: the 303 itself must only go out once the store has the change.
      const res = await ann.fetch('/login', { method: 'POST' });
      assert.is(res.status, 303);
      assert.equal((await t.sync.get(ann.id()!))?.data, { user: { name: 'ann' } });
    } finally {
      await t.close();
    }
  });
}

redirect('a write made after an await, just before res.json, is stored before the answer', async () => {
  const t = await startApp(createSessionSync({ secret, store: slowStore(30) }), (app) => {
    app.get('/w', async (req, res) => {
      await sleep(5);
      req.session.val.n = 1;
      res.json({ ok: true });
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/w');
    assert.equal((await t.sync.get(ann.id()!))?.data, { n: 1 });
  } finally {
    await t.close();
  }
});

redirect.run();

// ---

const manual = suite('autoSync: false commits only on synchronize()');

manual('unsynchronized edits are dropped at the end of the request; synchronized ones stay', async () => {
  const t = await startApp(createSessionSync({ secret, autoSync: false }), (app) => {
    app.get('/lost', (req, res) => {
      req.session.val.lost = true;
      res.json(req.session.val); // the handler sees its own edit
    });
    app.get('/kept', async (req, res) => {
      req.session.val.kept = true;
      await req.session.synchronize();
      req.session.val.after = true; // never synchronized
      res.end();
    });
    app.get('/read', (req, res) => res.json(req.session.val));
  });
  try {
    const ann = t.visitor();
    assert.equal(await ann.json('/lost'), { lost: true });
    assert.equal(await ann.json('/read'), {});
    await ann.fetch('/kept');
    assert.equal(await ann.json('/read'), { kept: true });
    assert.equal((await t.sync.get(ann.id()!))?.data, { kept: true });
  } finally {
    await t.close();
  }
});

manual('the seed form (null, false) also turns auto sync off', async () => {
  const sync = createSessionSync(null, false);
  const t = await startApp(sync, (app) => {
    app.get('/lost', (req, res) => {
      req.session.val.lost = true;
      res.end();
    });
    app.get('/read', (req, res) => res.json(req.session.val));
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/lost');
    assert.equal(await ann.json('/read'), {});
  } finally {
    await t.close();
  }
});

manual.run();

// ---

const streaming = suite('writes around a streamed or finished response');

streaming('a new visitor’s write before res.write() still gets its cookie and is stored', async () => {
  const t = await startApp(createSessionSync({ secret }), (app) => {
    app.get('/stream', (req, res) => {
      req.session.val.streamed = true;
      res.write('part one, ');
      setTimeout(() => res.end('part two'), 5);
    });
    app.get('/read', (req, res) => res.json(req.session.val));
  });
  try {
    const ann = t.visitor();
    const { body } = await ann.text('/stream');
    assert.is(body, 'part one, part two');
    assert.ok(ann.id(), 'the streamed response carried the cookie');
    assert.equal(await ann.json('/read'), { streamed: true });
  } finally {
    await t.close();
  }
});

streaming('a write after the response ended is committed (returning visitor) and never crashes', async () => {
  const sync = createSessionSync({ secret });
  const t = await startApp(sync, (app) => {
    app.get('/start', (req, res) => {
      req.session.val.n = 0;
      res.end();
    });
    app.get('/late', (req, res) => {
      res.end('bye');
      setTimeout(() => {
        req.session.val.late = true;
      }, 5);
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/start');
    await ann.fetch('/late');
    await sleep(40);
    assert.equal((await sync.get(ann.id()!))?.data, { n: 0, late: true });
  } finally {
    await t.close();
  }
});

streaming(
  'a failed commit after the response ended goes to on("error"), or is printed once — never a crash',
  async () => {
    const sync = createSessionSync({ secret });
    const heard: unknown[] = [];
    const t = await startApp(sync, (app) => {
      app.get('/late-new', (req, res) => {
        res.end('bye'); // a new visitor: no cookie can follow any more
        setTimeout(() => {
          req.session.val.late = true;
        }, 5);
      });
      app.get('/start', (req, res) => {
        req.session.val.n = 0;
        res.end();
      });
      app.get('/late-bad', (req, res) => {
        res.end('bye');
        setTimeout(() => {
          req.session.val.when = new Date() as never;
        }, 5);
      });
    });
    const warn = console.warn;
    const printed: string[] = [];
    console.warn = (...args: unknown[]) => void printed.push(args.join(' '));
    try {
      await t.visitor().fetch('/late-new');
      await sleep(40);
      assert.ok(
        printed.some((p) => p.startsWith('session-sync:')),
        'printed with the prefix',
      );
      sync.on('error', (err) => heard.push(err));
      const ann = t.visitor();
      await ann.fetch('/start');
      await ann.fetch('/late-bad');
      await sleep(40);
      assert.is(heard.length, 1);
      assert.instance(heard[0], TypeError);
      assert.equal((await sync.get(ann.id()!))?.data, { n: 0 });
    } finally {
      console.warn = warn;
      await t.close();
    }
  },
);

streaming.run();
