import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSessionSync } from '../../../src/server/index.js';
import { startApp } from '../../support/http.js';

const secret = 'a test secret that is long enough!!';
type Loose = Record<string, any>;

/** An app on `sync.expressSession()` (express-session's face), with the test's routes. */
async function faceApp(routes: Parameters<typeof startApp>[1]) {
  const sync = createSessionSync({ secret });
  return startApp(sync, routes, sync.expressSession());
}

// ---

const face = suite('expressSession(): req.session is the data, with express-session’s members beside it');

face('writes to req.session itself are tracked, committed and read back; the members are not data', async () => {
  const t = await faceApp((app) => {
    app.post('/login', (req, res) => {
      const session = req.session as unknown as Loose;
      session.passport = { user: { id: 'u1' } };
      session.views = (session.views ?? 0) + 1;
      res.json({
        keys: Object.keys(session),
        json: JSON.parse(JSON.stringify(session)),
        id: session.id,
        sessionID: (req as unknown as Loose).sessionID,
        members: ['regenerate', 'destroy', 'reload', 'save', 'touch', 'resetMaxAge'].map((m) => typeof session[m]),
        cookie: { originalMaxAge: session.cookie.originalMaxAge, httpOnly: session.cookie.httpOnly },
      });
    });
    app.get('/read', (req, res) => res.json(req.session));
  });
  try {
    const ann = t.visitor();
    const body = await ann.json('/login', { method: 'POST' });
    assert.equal(body.keys, ['passport', 'views'], 'only the data is enumerable');
    assert.equal(body.json, { passport: { user: { id: 'u1' } }, views: 1 });
    assert.equal(body.members, ['function', 'function', 'function', 'function', 'function', 'function']);
    assert.type(body.id, 'string');
    assert.is(body.id, ann.id(), 'req.session.id is the session id');
    assert.is(body.sessionID, body.id, 'req.sessionID too');
    assert.equal(body.cookie, { originalMaxAge: 30 * 86_400_000, httpOnly: true });
    assert.equal(await ann.json('/read'), { passport: { user: { id: 'u1' } }, views: 1 });
    assert.equal((await t.sync.get(ann.id()!))?.data, { passport: { user: { id: 'u1' } }, views: 1 });
  } finally {
    await t.close();
  }
});

face('express-session always has an id: reading it issues the cookie, still without a record', async () => {
  const t = await faceApp((app) => {
    app.get('/id', (req, res) => res.json({ id: (req.session as unknown as Loose).id }));
  });
  try {
    const ann = t.visitor();
    const { id } = await ann.json('/id');
    assert.is(id, ann.id());
    assert.is(await t.sync.get(id), undefined, 'no record');
  } finally {
    await t.close();
  }
});

face('regenerate(cb): a new, empty session is req.session when the callback runs; the old id is dead', async () => {
  const t = await faceApp((app) => {
    app.post('/start', (req, res) => {
      (req.session as unknown as Loose).secret = 'planted';
      (req.session as unknown as Loose).cart = ['apple'];
      res.end();
    });
    app.post('/login', (req, res, next) => {
      const before = req.session as unknown as Loose;
      before.regenerate((err?: unknown) => {
        if (err) return next(err);
        const after = req.session as unknown as Loose;
        after.passport = { user: 'ann' };
        after.save((saveErr?: unknown) => {
          if (saveErr) return next(saveErr);
          res.json({ sameObject: after === before, left: { ...before }, now: { ...after } });
        });
      });
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/start', { method: 'POST' });
    const old = ann.id()!;
    const body = await ann.json('/login', { method: 'POST' });
    assert.is(body.sameObject, false, 'req.session is a new object, as with express-session');
    assert.equal(body.left, { secret: 'planted', cart: ['apple'] }, 'the old object keeps what it held');
    assert.equal(body.now, { passport: { user: 'ann' } }, 'the new session starts empty');
    assert.is.not(ann.id(), old, 'a new id');
    assert.is(await t.sync.get(old), undefined, 'the old id is dead');
    assert.equal((await t.sync.get(ann.id()!))?.data, { passport: { user: 'ann' } });
  } finally {
    await t.close();
  }
});

face('destroy(cb) ends the session and removes req.session; reload(cb) reads the store again', async () => {
  const t = await faceApp((app) => {
    app.post('/start', (req, res) => {
      (req.session as unknown as Loose).n = 1;
      res.end();
    });
    app.post('/reload', (req, res, next) => {
      const session = req.session as unknown as Loose;
      session.n = 99; // dropped by reload
      session.reload((err?: unknown) => (err ? next(err) : res.json({ n: session.n })));
    });
    app.post('/logout', (req, res, next) => {
      (req.session as unknown as Loose).destroy((err?: unknown) =>
        err ? next(err) : res.json({ gone: req.session === undefined }),
      );
    });
  });
  try {
    const ann = t.visitor();
    await ann.fetch('/start', { method: 'POST' });
    const id = ann.id()!;
    assert.equal(await ann.json('/reload', { method: 'POST' }), { n: 1 });
    assert.equal(await ann.json('/logout', { method: 'POST' }), { gone: true });
    assert.is(await t.sync.get(id), undefined);
    assert.is(ann.id(), undefined, 'the cookie is cleared');
  } finally {
    await t.close();
  }
});

face('members cannot be overwritten; req.session.views++ is a plain, last-writer-wins property', async () => {
  const t = await faceApp((app) => {
    app.post('/try', (req, res) => {
      'use strict';
      const session = req.session as unknown as Loose;
      let threw = false;
      try {
        session.id = 'mine';
      } catch (err) {
        threw = err instanceof TypeError;
      }
      session.views = (session.views ?? 0) + 1;
      res.json({ threw, id: session.id === 'mine' });
    });
  });
  try {
    const ann = t.visitor();
    assert.equal(await ann.json('/try', { method: 'POST' }), { threw: true, id: false });
  } finally {
    await t.close();
  }
});

face.run();

// ---

const callbacks = suite('express()’s req.session takes express-session’s node-style callbacks too');

callbacks(
  'regenerate(cb), save(cb), reload(cb), destroy(cb) call back; an error goes to the callback, not next()',
  async () => {
    const t = await startApp(createSessionSync({ secret }), (app) => {
      app.post('/flow', (req, res, next) => {
        req.session.val.step = 1;
        req.session.save((err?: unknown) => {
          if (err) return next(err);
          req.session.regenerate((err2?: unknown) => {
            if (err2) return next(err2);
            req.session.reload((err3?: unknown) => {
              if (err3) return next(err3);
              res.json({ step: req.session.val.step, id: req.session.id });
            });
          });
        });
      });
      app.post('/end', (req, res) => {
        req.session.destroy((err?: unknown) => res.json({ ok: !err }));
      });
      app.post('/bad', (req, res) => {
        req.session.val.when = new Date() as never;
        req.session.save((err?: unknown) => res.json({ name: (err as Error)?.name }));
      });
    });
    try {
      const ann = t.visitor();
      const body = await ann.json('/flow', { method: 'POST' });
      assert.is(body.step, 1, 'regenerate keeps the visible data by default');
      assert.is(body.id, ann.id());
      assert.equal(await ann.json('/end', { method: 'POST' }), { ok: true });
      assert.equal(await ann.json('/bad', { method: 'POST' }), { name: 'TypeError' });
      assert.equal(t.errors, [], 'nothing went to the error handler');
    } finally {
      await t.close();
    }
  },
);

callbacks.run();
