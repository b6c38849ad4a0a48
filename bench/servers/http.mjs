// One HTTP contender: node bench/servers/http.mjs <bare|empty-middleware|express-session|session-sync|connect-redis|session-sync-redis>
// (empty-middleware: bare plus one `app.use((req, res, next) => next())`, what Express charges for
// any middleware at all; bench/profile.mjs --contenders=bare,empty-middleware,session-sync)
// Routes: /init (creates the session), /rw (reads and writes one key), /untouched, /write-key?k=
// (read, await, write a distinct key), /incr (read, await, write one counter), /dump; and
// /__stats (probe.mjs), outside the session middleware.
import { randomBytes } from 'node:crypto';
import express from 'express';
import { SECRET } from '../lib/util.mjs';
import { probe } from './probe.mjs';

const mode = process.argv[2];
const app = express();
app.set('etag', false);
const count = probe(app);
const pause = () => new Promise((r) => setTimeout(r, Math.random() * 5));
let close = async () => {};
let data; // (req) => the session object to read and write

if (mode === 'bare' || mode === 'empty-middleware') {
  if (mode === 'empty-middleware') app.use((req, res, next) => next());
  const one = {};
  data = () => one;
  // Bare Express reads no cookie, but gets one of session-sync's shape (`sid=<43>.<43>`), so
  // every contender parses requests of the same size.
  app.get('/init', (req, res, next) => {
    const part = () => randomBytes(32).toString('base64url');
    res.setHeader('Set-Cookie', `sid=${part()}.${part()}; Path=/; HttpOnly`);
    next();
  });
} else if (mode === 'express-session' || mode === 'connect-redis') {
  const { default: session } = await import('express-session');
  let store;
  if (mode === 'connect-redis') {
    const { default: Redis } = await import('ioredis');
    const { default: RedisStore } = await import('connect-redis');
    const client = new Redis(process.env.REDIS_URL);
    store = new RedisStore({ client });
    close = async () => client.quit();
  } else {
    store = new session.MemoryStore();
  }
  app.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store }));
  data = (req) => req.session;
} else {
  const { createSessionSync, RedisStore } = await import('../../dist/server.js');
  const options = { secret: SECRET, limits: { size: 1024 * 1024 } };
  if (mode === 'session-sync-redis') options.store = new RedisStore({ url: process.env.REDIS_URL });
  const sync = createSessionSync(options);
  app.use(sync.express());
  data = (req) => req.session.val;
  close = async () => {
    await sync.close();
    await options.store?.close();
  };
}

app.get('/init', (req, res) => {
  data(req).n = 0;
  res.send('ok');
});
app.get('/rw', (req, res) => {
  const s = data(req);
  s.n = (s.n || 0) + 1;
  res.send('ok');
});
app.get('/untouched', (req, res) => res.send('ok'));
app.get('/write-key', async (req, res) => {
  const s = data(req);
  void s.n; // a handler that reads the session first, as real ones do
  await pause();
  data(req)[String(req.query.k)] = 1;
  res.send('ok');
});
app.get('/incr', async (req, res) => {
  const count = data(req).counter || 0;
  await pause();
  data(req).counter = count + 1;
  res.send('ok');
});
app.get('/dump', (req, res) => res.json(data(req)));

const server = app.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
count(server);
process.on('SIGTERM', async () => {
  server.close();
  await close();
  process.exit(0);
});
