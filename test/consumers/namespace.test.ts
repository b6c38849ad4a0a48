// `sync.attach(io)` gives `socket.session` to every namespace: the main one, one created
// before attach, one created after it, and the children of a dynamic namespace.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Jar } from '../support/http.js';
import { connectSocket, lazyApp, startApp, workspace, writeApp } from '../support/consumers.js';

const APP = `import express from 'express';
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createSessionSync } from 'session-sync';

const app = express();
const server = createServer(app);
const io = new Server(server);
const sync = createSessionSync({ secret: 'a secret long enough for the namespace app' });
const whoami = (socket) => socket.on('whoami', (ack) => ack(socket.session ? socket.session.val : 'no socket.session'));

io.of('/early').on('connection', whoami);
app.use(sync.express());
sync.attach(io);
io.on('connection', whoami);
io.of('/chat').on('connection', whoami);
io.of(/^\\/room-\\d+$/).on('connection', whoami);

app.post('/name', (req, res) => {
  req.session.val.name = 'Ann';
  res.sendStatus(204);
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;

// Waits on attach(io) covering every namespace.
const namespaces = suite('after sync.attach(io), sockets of every namespace have socket.session');

const app = lazyApp(() =>
  startApp(
    writeApp(workspace().plain, 'namespaces', { 'package.json': '{ "type": "module" }', 'app.js': APP }),
    'app.js',
  ),
);
namespaces.after(app.stop);

for (const nsp of ['/', '/chat', '/early', '/room-7']) {
  namespaces(`${nsp}: socket.session.val is the visitor's session`, async () => {
    const { url } = await app.get();
    const jar = new Jar(url);
    assert.is((await jar.fetch('/name', { method: 'POST' })).status, 204);
    const socket = await connectSocket(url, jar.header, nsp);
    try {
      assert.equal(await socket.timeout(5000).emitWithAck('whoami'), { name: 'Ann' });
    } finally {
      socket.close();
    }
  });
}

namespaces.run();
