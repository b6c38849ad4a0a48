// The middleware ecosystem written against express-session, on sync.expressSession(): one
// Passport 0.7 + passport-local + connect-flash app (with express-session's own README example,
// `req.session.views`), run twice, changing only its `app.use(session…)` line. The run on
// express-session is the control: it proves the app and the assertions right, so a failure of
// the second run is session-sync's.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Jar } from '../support/http.js';
import {
  connectSocket,
  nextEvent,
  requirePackages,
  lazyApp,
  startApp,
  workspace,
  writeApp,
} from '../support/consumers.js';

requirePackages('passport', 'passport-local', 'connect-flash', 'express-session', 'express');

/** The app; `SESSION` is its one session line. */
const APP = (session: string): string => `'use strict';
const http = require('http');
const express = require('express');
const passport = require('passport');
const LocalStrategy = require('passport-local');
const flash = require('connect-flash');
const { Server } = require('socket.io');
const expressSession = require('express-session');
const { createSessionSync } = require('session-sync');

const users = { ann: { id: 'u1', username: 'ann', password: 'correct horse' } };
passport.use(
  new LocalStrategy((username, password, done) => {
    const user = users[username];
    if (!user || user.password !== password) return done(null, false, { message: 'Incorrect username or password.' });
    return done(null, user);
  }),
);
passport.serializeUser((user, done) => process.nextTick(() => done(null, { id: user.id, username: user.username })));
passport.deserializeUser((user, done) => process.nextTick(() => done(null, user)));

const sync = createSessionSync({ secret: 'a secret long enough for the passport app' });
const app = express();
const server = http.createServer(app);
const io = new Server(server);
sync.attach(io);
void expressSession;

app.use(express.urlencoded({ extended: false }));
${session}
app.use(flash());
app.use(passport.authenticate('session'));

// express-session's README: count the views of each page.
app.use((req, res, next) => {
  if (!req.session.views) req.session.views = {};
  const pathname = new URL(req.url, 'http://localhost').pathname;
  req.session.views[pathname] = (req.session.views[pathname] || 0) + 1;
  next();
});
app.get('/foo', (req, res) => res.send('you viewed this page ' + req.session.views['/foo'] + ' times'));

app.get('/login', (req, res) => res.json({ errors: req.flash('error') }));
app.post(
  '/login',
  passport.authenticate('local', { successRedirect: '/me', failureRedirect: '/login', failureFlash: true }),
);
app.post('/cart', (req, res) => {
  req.session.cart = [...(req.session.cart || []), req.body.item];
  res.json(req.session.cart);
});
app.get('/me', (req, res) =>
  res.json({
    user: req.user || null,
    passport: req.session.passport || null,
    cart: req.session.cart || null,
    views: req.session.views,
    id: req.sessionID,
  }),
);
app.post('/logout', (req, res, next) => req.logout((err) => (err ? next(err) : res.redirect('/me'))));
app.use((err, req, res, next) => res.status(500).json({ error: String(err && err.stack || err) }));

server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;

const EXPRESS_SESSION = `app.use(expressSession({ secret: 'a secret long enough for the passport app', resave: false, saveUninitialized: false }));`;
const SESSION_SYNC = `app.use(sync.expressSession());`;

const form = (fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

/** The same tests for both runs of the app. */
function passportSuite(title: string, sessionLine: string, live: boolean): void {
  const test = suite(title);
  const app = lazyApp(() => {
    const name = live ? 'passport-session-sync' : 'passport-express-session';
    return startApp(writeApp(workspace().plain, name, { 'package.json': '{}', 'app.js': APP(sessionLine) }), 'app.js');
  });
  test.after(app.stop);

  test("express-session's README example: req.session.views counts each page", async () => {
    const jar = new Jar((await app.get()).url);
    for (const n of [1, 2, 3]) {
      const { status, body } = await jar.text('/foo');
      assert.is(status, 200, body);
      assert.is(body, `you viewed this page ${n} times`);
    }
  });

  test('a wrong password flashes its error to the next request, once (connect-flash)', async () => {
    const jar = new Jar((await app.get()).url);
    const res = await jar.fetch('/login', form({ username: 'ann', password: 'wrong' }));
    assert.is(res.status, 302);
    assert.is(res.headers.get('location'), '/login');
    assert.equal((await jar.json('/login')).errors, ['Incorrect username or password.']);
    assert.equal((await jar.json('/login')).errors, []);
  });

  test('login regenerates the session, and req.user is there on later requests', async () => {
    const jar = new Jar((await app.get()).url);
    const before = await jar.json('/me');
    assert.is(before.user, null);
    const res = await jar.fetch('/login', form({ username: 'ann', password: 'correct horse' }));
    assert.is(res.status, 302, await res.text());
    assert.is(res.headers.get('location'), '/me');
    const me = await jar.json('/me');
    assert.equal(me.user, { id: 'u1', username: 'ann' });
    assert.equal(me.passport, { user: { id: 'u1', username: 'ann' } });
    assert.is.not(me.id, before.id, 'a new session id after login (no fixation)');
    assert.equal((await jar.json('/me')).user, { id: 'u1', username: 'ann' }, 'still signed in');
  });

  test('req.logout(cb) signs out, and no data of the signed-in user survives', async () => {
    const jar = new Jar((await app.get()).url);
    await jar.fetch('/login', form({ username: 'ann', password: 'correct horse' }));
    assert.equal(await jar.json('/cart', form({ item: 'book' })), ['book']);
    const signedIn = await jar.json('/me');
    assert.equal(signedIn.cart, ['book']);
    const stolen = jar.clone();

    const res = await jar.fetch('/logout', { method: 'POST' });
    assert.is(res.status, 302, await res.text());
    const after = await jar.json('/me');
    assert.is(after.user, null);
    assert.is(after.passport, null);
    assert.is(after.cart, null);
    assert.equal(after.views, { '/me': 1 }, 'a new, empty session counts from scratch');
    assert.is.not(after.id, signedIn.id);

    const replayed = await stolen.json('/me');
    assert.is(replayed.user, null, 'the signed-in session is gone, even for its old cookie');
    assert.is(replayed.cart, null);
  });

  if (live) {
    test('what req.session writes is pushed live to the visitor’s socket', async () => {
      const { url } = await app.get();
      const jar = new Jar(url);
      await jar.fetch('/login', form({ username: 'ann', password: 'correct horse' }));
      const socket = await connectSocket(url, jar.header);
      try {
        const patch = nextEvent<{ ops: { path: string[]; value: unknown }[] }>(socket, 'session:patch', (p) =>
          p.ops.some((op) => op.path[0] === 'cart'),
        );
        await jar.json('/cart', form({ item: 'pen' }));
        const op = (await patch).ops.find((o) => o.path[0] === 'cart')!;
        assert.equal(op.value, ['pen']);
      } finally {
        socket.close();
      }
    });
  }

  test.run();
}

// ---

passportSuite('Passport 0.7 + connect-flash on express-session (the app before the switch)', EXPRESS_SESSION, false);

// ---

// Waits on sync.expressSession().
passportSuite('the same Passport app after switching its one line to sync.expressSession()', SESSION_SYNC, true);
