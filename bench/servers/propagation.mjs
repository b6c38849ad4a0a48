// Propagation server: node bench/servers/propagation.mjs <session-sync|recipe>
// POST /write?i=N writes N into the session; the visitor's sockets hear about it:
// session-sync by its own session:patch, the Socket.IO recipe (express-session +
// io.engine.use(sessionMiddleware) + io.to(sessionId).emit) by an explicit emit.
import { createServer } from 'node:http';
import express from 'express';
import { Server } from 'socket.io';
import { SECRET } from '../lib/util.mjs';

const mode = process.argv[2];
const app = express();
const http = createServer(app);
const io = new Server(http);
let close = async () => {};

if (mode === 'recipe') {
  const { default: session } = await import('express-session');
  const middleware = session({ secret: SECRET, resave: false, saveUninitialized: false });
  app.use(middleware);
  io.engine.use(middleware);
  io.on('connection', (socket) => socket.join(socket.request.session.id));
  app.get('/init', (req, res) => {
    req.session.i = 0;
    res.send('ok');
  });
  app.post('/write', (req, res) => {
    const i = Number(req.query.i);
    req.session.i = i;
    req.session.save(() => {
      io.to(req.session.id).emit('session', { i });
      res.send('ok');
    });
  });
} else {
  const { createSessionSync, RedisStore } = await import('../../dist/server.js');
  const store = process.env.REDIS_URL ? new RedisStore({ url: process.env.REDIS_URL }) : undefined;
  const sync = createSessionSync({ secret: SECRET, ...(store ? { store } : {}) });
  app.use(sync.express());
  sync.attach(io);
  app.get('/init', (req, res) => {
    req.session.val.i = 0;
    res.send('ok');
  });
  app.post('/write', (req, res) => {
    req.session.val.i = Number(req.query.i);
    res.send('ok');
  });
  close = async () => {
    await sync.close();
    await store?.close();
  };
}

http.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: http.address().port })));
process.on('SIGTERM', async () => {
  io.close();
  await close();
  process.exit(0);
});
