// A session-sync node on a Redis Cluster: node bench/servers/cluster.mjs (env CLUSTER_NODES =
// JSON array of { host, port }). POST /write?i=N writes N into the session; its sockets on
// every node hear it as a session:patch. GET /init starts a session.
import { createServer } from 'node:http';
import express from 'express';
import { Server } from 'socket.io';
import { createSessionSync, RedisStore } from '../../dist/server.js';
import { SECRET } from '../lib/util.mjs';

const app = express();
const http = createServer(app);
const io = new Server(http);
const store = new RedisStore({ cluster: JSON.parse(process.env.CLUSTER_NODES ?? '[]') });
const sync = createSessionSync({ secret: SECRET, store });
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
await sync.ready();

http.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: http.address().port })));
process.on('SIGTERM', async () => {
  io.close();
  await sync.close();
  await store.close();
  process.exit(0);
});
