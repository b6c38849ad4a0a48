// Running apps built on the packed package, started as their users start them (`node app`):
// the seed's CommonJS shape on Express 4, and the README's Quick start, verbatim, as an ES
// module on Express 5. Each serves a request that writes and reads the session while a
// socket.io-client of the same visitor sees the write live.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Jar } from '../support/http.js';
import {
  connectSocket,
  linkPackage,
  nextEvent,
  repo,
  requirePackages,
  lazyApp,
  startApp,
  workspace,
  writeApp,
} from '../support/consumers.js';

requirePackages('express4', 'express', 'socket.io', 'socket.io-client');

/** `server.listen(...)` of an app, made to take a free port and say which. */
const LISTEN = `server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));`;

// ---

const express4 = suite('a CommonJS app on Express 4, in the seed package’s shape');

const EXPRESS4_APP = `'use strict';
const express = require('express');
const http = require('http');
const { Server } = require('socket.io');
const session = require('session-sync')('/get/session', true);

const app = express();
const server = http.createServer(app);
const io = new Server(server);
app.use(session.express({ hits: 0 }));
io.use(session.socketIO());

app.post('/hit', (req, res) => {
  req.session.val.hits += 1;
  if (!req.session.val.id) req.session.val.id = 'visitor-' + Math.random().toString(36).slice(2);
  req.session.synchronize({ model: 'http', target: 'tcp' });
  res.json({ hits: req.session.val.hits, express: require('express/package.json').version });
});
io.on('connect', (socket) => {
  socket.on('whoami', (ack) => ack({ id: socket.session.val.id, hits: socket.session.val.hits }));
});
${LISTEN}
`;

const app4 = lazyApp(() => {
  const dir = writeApp(workspace().plain, 'cjs-express4', { 'package.json': '{}', 'app.js': EXPRESS4_APP });
  linkPackage(dir, 'express', 'express4');
  return startApp(dir, 'app.js');
});
express4.after(app4.stop);

express4('require("session-sync")(route, autoSync) serves a write, a read and a live socket', async () => {
  const { url } = await app4.get();
  const jar = new Jar(url);
  const first = await jar.json('/hit', { method: 'POST' });
  assert.is(first.hits, 1);
  assert.match(first.express, /^4\./, 'the app runs on Express 4');
  assert.ok(jar.id(), 'the write issued the session cookie');

  const socket = await connectSocket(url, jar.header);
  try {
    const who = await socket.emitWithAck('whoami');
    assert.match(who.id, /^visitor-/);
    assert.is(who.hits, 1);

    const patch = nextEvent(socket, 'session:patch');
    const second = await jar.json('/hit', { method: 'POST' });
    assert.is(second.hits, 2);
    const seen = await patch;
    assert.equal(seen.ops, [{ op: 'set', path: ['hits'], value: 2 }]);
    assert.is((await socket.emitWithAck('whoami')).hits, 2, 'socket.session.val is current');

    const route = await jar.json('/get/session');
    assert.equal(route.data, { hits: 2, id: who.id });
  } finally {
    socket.close();
  }
});

express4('another visitor has a session of their own', async () => {
  const other = new Jar((await app4.get()).url);
  assert.is((await other.json('/hit', { method: 'POST' })).hits, 1);
});

express4.run();

// ---

const quickStart = suite('the README Quick start runs as written, on Express 5 as an ES module');

/** The first server block of the README's Quick start, with only its port changed. */
function quickStartSource(): string {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code?.includes('// server.js'), 'the Quick start begins with server.js');
  assert.ok(code!.includes('server.listen(3000);'), 'the Quick start listens on 3000');
  return code!.replace('server.listen(3000);', LISTEN);
}

const app5 = lazyApp(() => {
  const dir = writeApp(workspace().plain, 'esm-quick-start', {
    'package.json': '{ "type": "module" }',
    'server.js': quickStartSource(),
  });
  return startApp(dir, 'server.js');
});
quickStart.after(app5.stop);

quickStart('POST /visit writes, GET /get/session reads, the socket sees the write and writes back', async () => {
  const { url } = await app5.get();
  const jar = new Jar(url);
  const before = await jar.json('/get/session');
  assert.equal(before.data, { visits: 0 }, 'a visitor without a session reads the defaults');

  assert.is((await jar.fetch('/visit', { method: 'POST' })).status, 204);
  assert.equal((await jar.json('/get/session')).data, { visits: 1 });

  const socket = await connectSocket(url, jar.header);
  try {
    const visit = nextEvent(socket, 'session:patch');
    await jar.fetch('/visit', { method: 'POST' });
    assert.equal((await visit).ops, [{ op: 'set', path: ['visits'], value: 2 }]);

    const renamed = nextEvent(socket, 'session:patch');
    socket.emit('rename', 'Ann');
    assert.equal((await renamed).ops, [{ op: 'set', path: ['name'], value: 'Ann' }]);
    assert.equal((await jar.json('/get/session')).data, { visits: 2, name: 'Ann' });
  } finally {
    socket.close();
  }
});

quickStart('the app runs on Express 5 and warned once about the missing secret', async () => {
  const app = await app5.get();
  const { version } = JSON.parse(readFileSync(join(repo, 'node_modules', 'express', 'package.json'), 'utf8'));
  assert.match(version, /^5\./);
  assert.is(app.output().match(/session-sync: .*secret/g)?.length, 1, app.output());
});

quickStart.run();
