import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSessionSync } from '../../../src/server/index.js';
import type { JsonObject } from '../../../src/shared/index.js';
import { startApp } from '../../support/http.js';

const secret = 'a test secret that is long enough!!';

// What a handler's write threw, by name and message: every one must be a clear error.
type Outcome = { threw: false } | { threw: true; name: string; message: string };
const attempt = (write: () => void): Outcome => {
  try {
    write();
    return { threw: false };
  } catch (err) {
    return { threw: true, name: (err as Error).name, message: (err as Error).message };
  }
};

const polluted = (): unknown[] => {
  const probe = {} as Record<string, unknown>;
  return [probe.isAdmin, probe.x, probe.y, ([] as unknown as Record<string, unknown>).z];
};

// ---

const server = suite('req.session.val never reaches a real prototype');

server.after.each(() => {
  // A failing run must not leave the process polluted for the next tests.
  for (const key of ['isAdmin', 'x', 'y']) delete (Object.prototype as Record<string, unknown>)[key];
  delete (Array.prototype as unknown as Record<string, unknown>).z;
});

server(
  'settings[section][key] = value with section "__proto__", constructor.prototype, Object.assign of a parsed __proto__',
  async () => {
    const sync = createSessionSync({ secret });
    const outcomes: Record<string, Outcome> = {};
    const t = await startApp(sync, (app) => {
      app.post('/attack', async (req, res) => {
        const val = req.session.val as JsonObject & Record<string, any>;
        val.settings = { theme: 'dark' };
        val.a = { b: 1 };
        val.list = [1, 2];
        val.x = {};
        await req.session.synchronize();
        const section = '__proto__';
        outcomes.throughProto = attempt(() => (val.settings[section].isAdmin = true));
        outcomes.readProto = attempt(() => assert.is(val.settings[section], undefined));
        outcomes.ctor = attempt(() => (val.a.constructor.prototype.x = 1));
        outcomes.arrayConstructor = attempt(() => (val.list.constructor.prototype.z = 1));
        outcomes.prototype = attempt(() => (val.a.prototype.x = 1));
        outcomes.assign = attempt(() => Object.assign(val.x, JSON.parse('{"__proto__":{"y":1}}')));
        try {
          await req.session.synchronize();
          res.json({ committed: true });
        } catch (err) {
          res.status(400).json({ committed: false, code: (err as { code?: string }).code });
        }
      });
    });
    try {
      const ann = t.visitor();
      const res = await ann.fetch('/attack', { method: 'POST' });
      assert.equal(polluted(), [undefined, undefined, undefined, undefined], 'no prototype of this process changed');
      for (const name of ['throughProto', 'ctor', 'arrayConstructor', 'prototype']) {
        const outcome = outcomes[name]!;
        assert.ok(outcome.threw, `${name} threw`);
        if (outcome.threw) assert.is(outcome.name, 'TypeError', name);
      }
      assert.equal(outcomes.readProto, { threw: false }, 'reading __proto__ yields undefined');
      // A __proto__ key carried by a parsed object is a key like any other: refused at commit.
      assert.is(res.status, 400);
      assert.equal(await res.json(), { committed: false, code: 'invalid' });
      assert.equal(polluted(), [undefined, undefined, undefined, undefined]);
    } finally {
      await t.close();
    }
  },
);

server('update(id, fn) drafts are guarded the same way', async () => {
  const sync = createSessionSync({ secret });
  let id: string | undefined;
  const t = await startApp(sync, (app) => {
    app.post('/start', (req, res) => {
      req.session.val.settings = { theme: 'dark' };
      id = undefined;
      res.on('finish', () => (id = req.session.id));
      res.end();
    });
  });
  try {
    await t.visitor().fetch('/start', { method: 'POST' });
    let error: unknown;
    try {
      await sync.update(id!, (draft) => {
        (draft as Record<string, any>).settings['__proto__'].isAdmin = true;
      });
    } catch (err) {
      error = err;
    }
    assert.instance(error, TypeError);
    assert.equal(polluted(), [undefined, undefined, undefined, undefined]);
    assert.equal((await sync.get(id!))?.data, { settings: { theme: 'dark' } }, 'nothing written');
  } finally {
    await t.close();
  }
});

server.run();
