// Fan-out server: node bench/servers/fanout.mjs <session-sync|raw>
// GET /init gives a visitor a session (session-sync) or a room id (raw). POST /run?rate=&ms=
// changes every session `rate` times a second for `ms` and answers the server's CPU time;
// POST /bump changes the newest session once. raw = a bare io.to(room).emit of the same payload.
import { createServer } from 'node:http';
import express from 'express';
import { Server } from 'socket.io';
import { SECRET } from '../lib/util.mjs';

const mode = process.argv[2];
const app = express();
const http = createServer(app);
const io = new Server(http);
const ids = [];
let tick = 0;
let change;

if (mode === 'raw') {
  const versions = new Map();
  io.on('connection', (socket) => socket.join(/rid=(\d+)/.exec(socket.request.headers.cookie ?? '')?.[1] ?? 'none'));
  app.get('/init', (req, res) => {
    const id = String(ids.length);
    ids.push(id);
    res.setHeader('Set-Cookie', `rid=${id}; Path=/`);
    res.send('ok');
  });
  change = (id) => {
    const version = (versions.get(id) ?? 0) + 1;
    versions.set(id, version);
    io.to(id).emit('session:patch', {
      version,
      base: version - 1,
      ops: [{ op: 'set', path: ['tick'], value: ++tick }],
    });
  };
} else {
  const { createSessionSync } = await import('../../dist/server.js');
  const sync = createSessionSync({ secret: SECRET });
  app.use(sync.express());
  sync.attach(io);
  app.get('/init', (req, res) => {
    req.session.val.tick = 0;
    res.on('finish', () => ids.push(req.session.id));
    res.send('ok');
  });
  change = (id) => sync.update(id, [{ op: 'set', path: ['tick'], value: ++tick }]);
}

app.post('/run', async (req, res) => {
  const rate = Number(req.query.rate);
  const ms = Number(req.query.ms);
  const cpu = process.cpuUsage();
  let changes = 0;
  const end = Date.now() + ms;
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      for (const id of ids) {
        change(id);
        changes++;
      }
      if (Date.now() >= end) {
        clearInterval(timer);
        resolve();
      }
    }, 1000 / rate);
  });
  await new Promise((r) => setTimeout(r, 300)); // let the last packets out
  const used = process.cpuUsage(cpu);
  res.json({ cpuMicros: used.user + used.system, changes });
});
app.post('/bump', async (req, res) => {
  await change(ids.at(-1));
  res.send('ok');
});

http.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: http.address().port })));
process.on('SIGTERM', () => {
  io.close();
  process.exit(0);
});
